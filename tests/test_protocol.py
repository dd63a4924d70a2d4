"""The comparison protocol (docs/protocol.md): run scores, convergence, paired intervals, verdicts."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analog_tl.results.protocol import (
    INCONCLUSIVE,
    NOT_REPRODUCED,
    REPRODUCED,
    UNDECIDED,
    Claim,
    Difference,
    binomial_se_points,
    convergence,
    critical_noise_verdict,
    metric_verdict,
    overall_verdict,
    paired_difference,
    run_scores,
    select_epoch,
    unpaired_difference,
)


def _epochs(val_error, test_error, val_loss=None, train_loss=None) -> pd.DataFrame:
    n = len(val_error)
    table = pd.DataFrame({"epoch": range(n), "val_error": val_error, "test_error": test_error,
                          "train_loss": train_loss if train_loss is not None else [math.nan] + [1.0] * (n - 1)})
    if val_loss is not None:
        table["val_loss"] = val_loss
    return table


def test_selected_epoch_breaks_ties_by_validation_loss_not_by_the_earliest_epoch():
    epochs = _epochs([0.5, 0.1, 0.2, 0.1, 0.1], [0.5, 0.30, 0.9, 0.10, 0.20], val_loss=[0.9, 0.4, 0.5, 0.3, 0.35])
    assert select_epoch(epochs) == (3, 3, 0.10)


def test_selected_epoch_without_validation_loss_averages_the_tied_epochs():
    """Legacy records: the mean test error over the tied epochs, favouring no arm (not the earliest tie)."""
    epochs = _epochs([0.5, 0.1, 0.2, 0.1, 0.1], [0.5, 0.30, 0.9, 0.10, 0.20])
    epoch, n_tied, error = select_epoch(epochs)
    assert (epoch, n_tied) == (1, 3) and error == pytest.approx(0.20)
    single = _epochs([0.5, 0.1, 0.2], [0.5, 0.3, 0.9])
    assert select_epoch(single) == (1, 1, 0.3)


def test_epoch_zero_is_never_selected_once_training_ran():
    epochs = _epochs([0.0, 0.1, 0.2], [0.9, 0.3, 0.2], val_loss=[0.1, 0.4, 0.5])
    assert select_epoch(epochs)[0] == 1


def test_convergence_is_the_relative_fall_of_the_training_loss_over_the_last_fifth():
    """100 epochs: window 81-100, span 5: the means of epochs 76-80 and 96-100; converged below a 2 % fall."""
    epochs = np.arange(1, 101)
    steep = convergence(pd.Series(1.0 - 0.001 * (epochs - 1), index=epochs))
    assert steep["train_loss_fall"] == pytest.approx((0.923 - 0.903) / 0.923)  # 2.2 %
    assert steep["train_loss_end"] == pytest.approx(0.903) and steep["converged"] is False
    flat = convergence(pd.Series(1.0 - 0.0005 * (epochs - 1), index=epochs))
    assert flat["train_loss_fall"] == pytest.approx((0.9615 - 0.9515) / 0.9615) and flat["converged"] is True
    near_zero = convergence(pd.Series(0.008 * 0.99 ** (epochs - 1), index=epochs))
    assert near_zero["train_loss_fall"] > 0.02 and near_zero["converged"] is True  # below the 0.01-nat floor


def test_convergence_scales_with_the_budget_and_needs_enough_epochs():
    epochs = np.arange(1, 21)  # 20 epochs: window 17-20, span 1: epoch 16 against epoch 20
    loss = pd.Series(np.linspace(2.0, 1.0, 20), index=epochs)
    assert convergence(loss)["train_loss_fall"] == pytest.approx((loss[16] - loss[20]) / loss[16])
    assert convergence(pd.Series([1.0], index=[1]))["converged"] is False


def test_run_scores_gives_the_three_metrics_per_run():
    rows = []
    for run, offset in (("a", 0.0), ("b", 0.1)):
        for epoch in range(13):
            rows.append({"run": run, "epoch": epoch, "val_error": 0.5 - 0.01 * epoch, "val_loss": 1.0,
                         "test_error": 0.4 - 0.01 * epoch + offset, "train_loss": math.nan if epoch == 0 else 1.0})
    scores = run_scores(pd.DataFrame(rows)).set_index("run")
    assert scores.loc["a", "test_error_selected"] == pytest.approx(0.28)  # epoch 12, the lowest validation error
    assert scores.loc["a", "test_error_last"] == pytest.approx(0.28)
    assert scores.loc["a", "test_error_last10"] == pytest.approx(np.mean([0.4 - 0.01 * e for e in range(3, 13)]))
    assert scores.loc["b", "test_error_last"] == pytest.approx(0.38)
    assert bool(scores.loc["a", "val_loss_recorded"]) and bool(scores.loc["a", "converged"])


def test_paired_difference_matches_the_paired_t_test():
    a = pd.Series([0.10, 0.12, 0.15, 0.11], index=[0, 1, 2, 3])
    b = pd.Series([0.08, 0.11, 0.10, 0.10], index=[0, 1, 2, 3])
    diff = paired_difference(a, b, 200, 200)
    d = 100 * (a - b)
    assert diff.mean == pytest.approx(d.mean()) and diff.n_seeds == 4
    assert diff.p_value == pytest.approx(stats.ttest_rel(100 * a, 100 * b).pvalue)
    t = stats.t.ppf(0.975, 3)
    assert (diff.t_low, diff.t_high) == pytest.approx((d.mean() - t * d.std() / 2, d.mean() + t * d.std() / 2))
    se_b = 100 * math.sqrt(a.mean() * (1 - a.mean()) / 200 + b.mean() * (1 - b.mean()) / 200)
    assert diff.binomial_se == pytest.approx(se_b)
    total = math.sqrt((d.std() / 2) ** 2 + se_b**2)
    df = total**4 / ((d.std() / 2) ** 4 / 3)
    assert diff.total_se == pytest.approx(total) and diff.df == pytest.approx(df)
    assert diff.high - diff.mean == pytest.approx(stats.t.ppf(0.975, df) * total)
    assert diff.low < diff.t_low  # the test set's SE widens the interval


def test_paired_difference_pairs_by_seed_not_by_position():
    a = pd.Series([0.10, 0.20, 0.30], index=[0, 1, 2])
    b = pd.Series([0.30, 0.10, 0.20], index=[2, 0, 1])  # the same errors per seed, listed in another order
    same = paired_difference(a, b, 100, 100)
    assert same.mean == 0.0 and same.seed_se == 0.0 and same.t_low == same.t_high == 0.0
    only_two = paired_difference(a, b.drop(index=1), 100, 100)
    assert only_two.n_seeds == 2


def test_a_single_seed_gives_no_interval():
    diff = paired_difference(pd.Series([0.1]), pd.Series([0.2]), 100, 100)
    assert diff.n_seeds == 1 and math.isnan(diff.low) and metric_verdict(diff, Claim("sign", -1)) == UNDECIDED


def test_unpaired_difference_is_welchs_interval():
    a, b = pd.Series([5.0, 7.0, 9.0]), pd.Series([1.0, 2.0, 6.0])
    diff = unpaired_difference(a, b, binomial_se=0.0)
    welch = stats.ttest_ind(a, b, equal_var=False)
    assert diff.mean == pytest.approx(4.0) and diff.p_value == pytest.approx(welch.pvalue)
    assert diff.low == pytest.approx(diff.t_low) and diff.high == pytest.approx(diff.t_high)


def test_binomial_se_in_points():
    assert binomial_se_points(0.1, 100) == pytest.approx(3.0)
    assert math.isnan(binomial_se_points(0.1, 0))


def _diff(low: float, high: float) -> Difference:
    mean = (low + high) / 2
    return Difference(3, mean, 1.0, low, high, 0.05, 1.0, 1.0, 10.0, low, high)


@pytest.mark.parametrize(
    ("low", "high", "claim", "expected"),
    [
        (-5.0, -1.0, Claim("sign", -1), REPRODUCED),
        (1.0, 5.0, Claim("sign", -1), NOT_REPRODUCED),
        (-5.0, 1.0, Claim("sign", -1), UNDECIDED),
        (1.0, 5.0, Claim("sign", +1), REPRODUCED),
        (0.5, 3.5, Claim("about", 2.0), REPRODUCED),  # mean 2
        (0.5, 9.5, Claim("about", 2.0), UNDECIDED),  # mean 5 outside [1, 4], interval meets it
        (6.0, 18.0, Claim("about", 2.0), NOT_REPRODUCED),  # interval above 4
        (-1.0, 5.0, Claim("about", 2.0), UNDECIDED),  # includes 0
        (-3.0, 4.0, Claim("no_effect"), REPRODUCED),
        (-3.0, 6.0, Claim("no_effect"), UNDECIDED),
        (2.0, 12.0, Claim("no_effect"), NOT_REPRODUCED),  # significant and mean 7 >= 5
        (0.5, 8.0, Claim("no_effect"), UNDECIDED),  # significant but mean 4.25 < 5
    ],
)
def test_metric_verdicts(low, high, claim, expected):
    assert metric_verdict(_diff(low, high), claim) == expected


def test_claims_check_their_values():
    with pytest.raises(ValueError, match="kind 'better'"):
        Claim("better")
    with pytest.raises(ValueError, match="non-zero value"):
        Claim("sign", 0.0)


@pytest.mark.parametrize(
    ("low", "high", "m", "expected"),
    [
        (0.1, 0.125, 0.15, REPRODUCED),
        (0.2, math.inf, 0.10, NOT_REPRODUCED),  # no rise up to 0.2 = 2 m
        (0.2, math.inf, 0.15, UNDECIDED),  # no rise, but the grid ends below 0.3
        (0.0, 0.025, 0.15, NOT_REPRODUCED),  # rises below m / 2
        (0.4, 0.6, 0.15, NOT_REPRODUCED),
        (0.0, 0.3, 0.15, UNDECIDED),  # a grid too coarse to say
        (0.05, 0.1, 0.15, UNDECIDED),  # (0.05, 0.1] reaches below 0.075
    ],
)
def test_critical_noise_verdicts(low, high, m, expected):
    assert critical_noise_verdict(low, high, m) == expected


def test_overall_verdict_needs_every_metric_to_agree():
    assert overall_verdict({"selected": REPRODUCED, "last": REPRODUCED, "last10": REPRODUCED}) == (REPRODUCED, "")
    verdict, reason = overall_verdict({"selected": REPRODUCED, "last": UNDECIDED, "last10": REPRODUCED})
    assert verdict == INCONCLUSIVE and reason == (
        "the metrics disagree (selected: reproduced, last: undecided, last10: reproduced)")
    verdict, reason = overall_verdict({"selected": UNDECIDED, "last": UNDECIDED, "last10": UNDECIDED})
    assert verdict == INCONCLUSIVE and reason.startswith("no metric decides")
    assert overall_verdict({"selected": NOT_REPRODUCED, "last": NOT_REPRODUCED, "last10": NOT_REPRODUCED})[0] == (
        NOT_REPRODUCED)

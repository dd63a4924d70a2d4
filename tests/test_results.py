"""Learning-rate selection, the critical-noise (elbow) estimator and the summary table, on made-up tables."""

import numpy as np
import pandas as pd
import pytest

from analog_tl.results.elbow import critical_noise, fit_hinge
from analog_tl.results.selection import select_learning_rates, summarise_sweeps
from analog_tl.results.summary import summary_table


def sweep_runs() -> pd.DataFrame:
    """Two seeds x two learning rates at one sweep point; test and validation disagree on purpose."""
    return pd.DataFrame(
        {
            "task": ["t"] * 4,
            "n_classes": [2] * 4,
            "sweep": ["sps"] * 4,
            "sweep_value": [10.0] * 4,
            "seed": [0, 0, 1, 1],
            "lr": [0.01, 0.05, 0.01, 0.05],
            "best_val_error": [0.30, 0.20, 0.25, 0.25],
            "test_error_at_best_val": [0.10, 0.40, 0.30, 0.20],
        }
    )


def test_learning_rate_is_selected_on_validation_error_only():
    table = select_learning_rates(sweep_runs())
    chosen = table[table.selected].set_index("seed")
    assert chosen.loc[0, "lr"] == 0.05  # lower validation error, although its test error is 4x worse
    assert chosen.loc[1, "lr"] == 0.01  # validation tie -> the smaller learning rate, whatever the test error
    assert len(table) == 4 and table.selected.sum() == 2  # every candidate kept


def test_sweep_summary_aggregates_the_selected_models_over_seeds():
    summary = summarise_sweeps(select_learning_rates(sweep_runs()))
    row = summary.iloc[0]
    assert row.n_seeds == 2 and row.lrs == "0.05 0.01"
    assert row.test_error_mean == pytest.approx(0.35)
    assert row.test_error_std == pytest.approx(np.std([0.40, 0.30], ddof=1))
    assert (row.test_error_min, row.test_error_max) == (0.30, 0.40)


def test_selection_needs_the_validation_column():
    with pytest.raises(ValueError, match="best_val_error"):
        select_learning_rates(sweep_runs().drop(columns="best_val_error"))


def hinge(x, elbow, plateau=0.1, slope=0.8):
    return plateau + slope * np.maximum(0.0, x - elbow)


@pytest.mark.parametrize("elbow", [0.05, 0.12, 0.237])
def test_hinge_fit_recovers_a_known_elbow(elbow):
    x = np.linspace(0.0, 0.4, 11)
    fit = fit_hinge(x, hinge(x, elbow))
    assert fit.elbow == pytest.approx(elbow, abs=0.002)
    assert fit.plateau == pytest.approx(0.1, abs=1e-3) and fit.slope == pytest.approx(0.8, rel=0.02)
    assert not fit.at_grid_end


def test_hinge_fit_with_noise_stays_near_the_elbow():
    rng = np.random.default_rng(0)
    x = np.repeat(np.linspace(0.0, 0.4, 9), 5)
    fit = fit_hinge(x, hinge(x, 0.15) + rng.normal(0, 0.01, x.size))
    assert fit.elbow == pytest.approx(0.15, abs=0.02)


def test_flat_curve_has_its_elbow_at_the_grid_end():
    x = np.linspace(0.0, 0.4, 5)
    fit = fit_hinge(x, np.full(5, 0.2))
    assert fit.at_grid_end and fit.elbow == pytest.approx(0.4) and fit.slope == 0.0


def test_hinge_fit_rejects_too_few_levels():
    with pytest.raises(ValueError, match="at least 3 distinct"):
        fit_hinge(np.array([0.0, 0.1, 0.1]), np.array([0.1, 0.2, 0.3]))


def runs_with_elbows(elbows: dict[int, float]) -> pd.DataFrame:
    """Analog TL runs whose seed ``s`` follows a hinge with elbow ``elbows[s]``, plus the other modes."""
    x = np.linspace(0.0, 0.4, 9)
    rows = [
        {"task": "2class", "n_classes": 2, "mode": "analog_tl", "seed": s, "transfer_noise": t,
         "test_error_at_best_val": hinge(t, e)}
        for s, e in elbows.items() for t in x
    ]
    for mode, error in (("digital_tl", 0.05), ("digital_scratch", 0.3), ("analog_scratch", 0.35)):
        rows += [{"task": "2class", "n_classes": 2, "mode": mode, "seed": s, "transfer_noise": np.nan,
                  "test_error_at_best_val": error + 0.01 * s} for s in elbows]
    return pd.DataFrame(rows)


def test_critical_noise_reports_the_spread_of_per_seed_elbows():
    table = critical_noise(runs_with_elbows({0: 0.10, 1: 0.15, 2: 0.20})).iloc[0]
    assert table.n_seeds == 3
    assert table.seed_elbow_mean == pytest.approx(0.15, abs=0.003)
    assert table.seed_elbow_std == pytest.approx(0.05, abs=0.003)
    assert (table.seed_elbow_min, table.seed_elbow_max) == (pytest.approx(0.10, abs=0.003), pytest.approx(0.20, abs=0.003))
    assert 0.09 < table.elbow < 0.21


def test_critical_noise_with_two_levels_is_nan_not_a_guess():
    runs = runs_with_elbows({0: 0.1})
    runs = runs[runs.transfer_noise.isna() | runs.transfer_noise.isin([0.0, 0.4])]
    assert np.isnan(critical_noise(runs).iloc[0].elbow)


def test_summary_puts_differences_and_critical_noise_next_to_the_paper():
    runs = runs_with_elbows({0: 0.10, 1: 0.20})
    table = summary_table(runs, critical_noise(runs)).set_index("quantity")
    # analog TL at tau 0 = plateau 0.1 on both seeds; digital TL 0.05 / 0.06 -> +5 and +4 points, paired by seed
    row = table.loc["analog_tl - digital_tl test error"]
    assert row.value == pytest.approx(4.5) and row["std"] == pytest.approx(np.std([5, 4], ddof=1)) and row.n_seeds == 2
    assert "digital TL ahead" in row.paper
    assert table.loc["analog_tl - analog_scratch test error", "value"] == pytest.approx(10 - 35.5)
    assert table.loc["test error, analog TL (c-TTv2)", "value"] == pytest.approx(10.0)
    crit = table.loc["critical transfer noise"]
    assert crit.paper == "about 0.15" and crit["std"] == pytest.approx(np.std([0.1, 0.2], ddof=1), abs=0.005)

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


def test_a_validation_error_tie_goes_to_the_lower_validation_loss_then_the_smaller_lr():
    runs = sweep_runs().assign(best_val_loss=[0.5, 0.4, 0.6, 0.3])  # seed 1 ties on error; lr 0.05 has the lower loss
    chosen = select_learning_rates(runs).query("selected").set_index("seed")
    assert chosen.loc[1, "lr"] == 0.05 and chosen.loc[0, "lr"] == 0.05
    tied = sweep_runs().assign(best_val_loss=[0.5, 0.4, 0.3, 0.3])  # tied on both: the smaller learning rate
    assert select_learning_rates(tied).query("selected").set_index("seed").loc[1, "lr"] == 0.01


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


FINE = np.round(np.linspace(0.0, 0.4, 41), 10)
COARSE = np.round(np.linspace(0.0, 0.4, 5), 10)


def analog_runs(curves: dict[int, np.ndarray], tau: np.ndarray, n_test: float | None = 1e6,
                task: str = "5class", n_classes: int = 5) -> pd.DataFrame:
    """Analog TL runs: seed ``s`` has test errors ``curves[s]`` (fractions) at ``tau``; plus rows to ignore."""
    rows = [{"task": task, "n_classes": n_classes, "mode": "analog_tl", "seed": s, "transfer_noise": t,
             "test_error_at_best_val": e} for s, curve in curves.items() for t, e in zip(tau, curve)]
    rows += [{"task": task, "n_classes": n_classes, "mode": mode, "seed": s, "transfer_noise": np.nan,
              "test_error_at_best_val": 0.9} for mode in ("digital_tl", "analog_scratch") for s in curves]
    runs = pd.DataFrame(rows)
    return runs if n_test is None else runs.assign(n_test=n_test)


def one_task(runs: pd.DataFrame) -> pd.Series:
    table = critical_noise(runs)
    assert len(table) == 1
    return table.iloc[0]


@pytest.mark.parametrize("elbow", [0.05, 0.12, 0.237, 0.3])
def test_hinge_fit_recovers_a_known_elbow_on_a_fine_grid(elbow):
    fit = fit_hinge(FINE, hinge(FINE, elbow))
    assert fit.reportable and not fit.at_grid_end and fit.n_beyond >= 10
    assert fit.elbow == pytest.approx(elbow, abs=0.01)
    assert fit.plateau == pytest.approx(0.1, abs=1e-3) and fit.slope == pytest.approx(0.8, rel=0.02)


@pytest.mark.parametrize("elbow", [0.05, 0.12, 0.237, 0.3])
def test_critical_noise_interval_and_fit_contain_a_known_elbow(elbow):
    row = one_task(analog_runs({0: hinge(FINE, elbow)}, FINE))
    assert row.elbow_fit == pytest.approx(elbow, abs=0.01)
    assert row.elbow_low <= elbow < row.elbow_high and row.elbow_high - row.elbow_low == pytest.approx(0.01)
    assert row.flag == "" and not (row.rises_only_at_last_level or row.no_rise_within_grid or row.near_chance)
    assert row.slope == pytest.approx(0.8, rel=0.02) and row.tau_0_error == pytest.approx(0.1)


def test_hinge_fit_with_noise_stays_near_the_elbow():
    rng = np.random.default_rng(0)
    x = np.repeat(np.linspace(0.0, 0.4, 9), 5)
    fit = fit_hinge(x, hinge(x, 0.15) + rng.normal(0, 0.01, x.size))
    assert fit.elbow == pytest.approx(0.15, abs=0.02)


def test_a_rise_only_at_the_last_level_gives_an_interval_and_no_fitted_point():
    error = np.array([0.1, 0.1, 0.1, 0.1, 0.5])  # the example that used to give elbow 0.3998, slope ~2000
    fit = fit_hinge(COARSE, error)
    assert fit.at_grid_end and not fit.reportable and np.isnan(fit.elbow) and fit.slope < 10
    row = one_task(analog_runs({0: error}, COARSE, n_test=1000))
    assert (row.elbow_low, row.elbow_high) == (pytest.approx(0.3), pytest.approx(0.4))
    assert np.isnan(row.elbow_fit) and np.isnan(row.slope)
    assert row.rises_only_at_last_level and not row.no_rise_within_grid
    assert row.flag == "rise only at the last noise level"


def test_a_flat_curve_has_no_rise_within_the_grid():
    fit = fit_hinge(COARSE, np.full(5, 0.2))
    assert fit.at_grid_end and np.isnan(fit.elbow) and fit.slope == 0.0
    row = one_task(analog_runs({0: np.full(5, 0.2), 1: np.full(5, 0.21)}, COARSE, n_test=1000))
    assert row.elbow_low == pytest.approx(0.4) and row.elbow_high == np.inf
    assert row.no_rise_within_grid and not row.rises_only_at_last_level and np.isnan(row.elbow_fit)
    assert "no rise within the grid" in row.flag and row.n_seeds_fit == 0
    assert row.seed_elbow_high_min == row.seed_elbow_high_max == np.inf


@pytest.mark.parametrize(("tau_0_error", "n_test", "near"), [(0.5, 1000, True), (0.6, 1000, True),
                                                              (0.45, 100, True), (0.45, 10000, False),
                                                              (0.1, 1000, False)])
def test_near_chance_uses_the_standard_error_of_the_tau_0_error(tau_0_error, n_test, near):
    # 2 classes: chance 0.5; se(0.45, 100 images) = 0.0497 -> 0.45 is within 2 se, with 10,000 images (0.005) it is not
    runs = analog_runs({0: np.full(5, tau_0_error)}, COARSE, n_test=n_test, task="2class", n_classes=2)
    row = one_task(runs)
    assert row.chance_error == 0.5 and bool(row.near_chance) is near
    assert ("near chance" in row.flag) is near


def test_a_task_at_chance_gets_no_critical_noise():
    runs = analog_runs({s: np.full(5, 0.5) for s in range(3)}, COARSE, n_test=500, task="2class", n_classes=2)
    row = one_task(runs)
    assert np.isnan(row.elbow_fit) and row.elbow_high == np.inf
    assert row.flag == "no rise within the grid; near chance"


@pytest.mark.parametrize(("error_1", "risen"), [(0.25, False), (0.29, True)])
def test_a_rise_must_exceed_two_combined_binomial_standard_errors(error_1, risen):
    # n_test 400: se(0.2) = 0.020, se(0.25) = 0.0217 -> 2 * sqrt(sum of squares) = 0.059 > 0.05: not risen
    # (a one-sided 2 se(tau) = 0.043, or Z = 1, would call it risen); se(0.29) = 0.0227 -> 0.0605 < 0.09: risen
    tau = np.array([0.0, 0.1, 0.2])
    row = one_task(analog_runs({0: np.array([0.2, error_1, error_1])}, tau, n_test=400))
    assert row.z == 2.0 and row.tau_0_se == pytest.approx(0.02)
    if risen:
        assert (row.elbow_low, row.elbow_high) == (0.0, 0.1) and not row.no_rise_within_grid
    else:
        assert (row.elbow_low, row.elbow_high) == (0.2, np.inf) and row.no_rise_within_grid


@pytest.mark.parametrize(("n_seeds", "n_test"), [(1, 400), (4, 100)])
def test_the_binomial_standard_error_pools_the_test_images_of_all_seeds(n_seeds, n_test):
    # 4 identical seeds of 100 test images are 400 pooled predictions: 0.2 -> 0.29 is a rise in both cases
    tau = np.array([0.0, 0.1, 0.2])
    row = one_task(analog_runs({s: np.array([0.2, 0.29, 0.29]) for s in range(n_seeds)}, tau, n_test=n_test))
    assert row.tau_0_se == pytest.approx(0.02) and (row.elbow_low, row.elbow_high) == (0.0, 0.1)
    # each seed alone (100 images: se 0.04 and 0.045) does not show it
    assert row.seed_elbow_high_min == (0.1 if n_test == 400 else np.inf)


@pytest.mark.parametrize("n_test", [400, None])
def test_the_seed_spread_enters_the_standard_error(n_test):
    # two seeds at tau 0.1: 0.2 and 0.4 -> seed se 0.1 dominates the binomial 0.016: a 0.1 rise is not significant
    tau = np.array([0.0, 0.1, 0.2])
    row = one_task(analog_runs({0: np.array([0.2, 0.2, 0.2]), 1: np.array([0.2, 0.4, 0.4])}, tau, n_test=n_test))
    assert row.no_rise_within_grid and row.elbow_high == np.inf
    # ...while each seed's own test (binomial SE only) sees seed 1 rise at 0.1 (with n_test) or any rise (without)
    assert row.seed_elbow_high_min == pytest.approx(0.1) and row.seed_elbow_high_max == np.inf


def test_without_any_standard_error_the_table_says_so():
    row = one_task(analog_runs({0: hinge(FINE, 0.2)}, FINE, n_test=None))
    assert row.se_missing and "no standard error" in row.flag
    assert row.elbow_fit == pytest.approx(0.2, abs=0.01)


def test_noisy_seeds_give_an_interval_around_the_true_elbow_and_a_seed_spread():
    rng = np.random.default_rng(1)
    tau = np.round(np.linspace(0.0, 0.4, 9), 10)
    curves = {s: hinge(tau, 0.17, slope=2.0) + rng.normal(0, 0.005, tau.size) for s in range(5)}
    row = one_task(analog_runs(curves, tau, n_test=2000))
    assert row.n_seeds == 5 and row.noise_levels == 9
    assert row.elbow_low < 0.17 <= row.elbow_high and (row.elbow_low, row.elbow_high) == (0.15, 0.2)
    assert row.elbow_fit == pytest.approx(0.17, abs=0.02)
    assert row.n_seeds_fit == 5 and 0 < row.seed_elbow_fit_std < 0.02
    assert row.seed_elbow_fit_min <= row.seed_elbow_fit_mean <= row.seed_elbow_fit_max
    assert row.seed_elbow_fit_min == pytest.approx(0.17, abs=0.03)
    assert row.seed_elbow_fit_max == pytest.approx(0.17, abs=0.03)
    assert 0.15 < row.seed_elbow_high_min <= row.seed_elbow_high_max <= 0.25


def test_critical_noise_reports_the_spread_of_per_seed_elbows():
    row = one_task(analog_runs({0: hinge(FINE, 0.10), 1: hinge(FINE, 0.15), 2: hinge(FINE, 0.20)}, FINE))
    assert row.n_seeds == 3 and row.n_seeds_fit == 3
    assert row.seed_elbow_fit_mean == pytest.approx(0.15, abs=0.003)
    assert row.seed_elbow_fit_std == pytest.approx(0.05, abs=0.003)
    assert row.seed_elbow_fit_min == pytest.approx(0.10, abs=0.003)
    assert row.seed_elbow_fit_max == pytest.approx(0.20, abs=0.003)
    assert (row.seed_elbow_high_min, row.seed_elbow_high_max) == (pytest.approx(0.11), pytest.approx(0.21))
    assert row.elbow_low < row.elbow_high and 0.09 < row.elbow_fit < 0.21


def test_two_levels_give_an_interval_but_no_fitted_point():
    row = one_task(analog_runs({0: np.array([0.1, 0.4])}, np.array([0.0, 0.4]), n_test=1000))
    assert (row.elbow_low, row.elbow_high) == (0.0, 0.4) and np.isnan(row.elbow_fit) and row.noise_levels == 2


def test_hinge_fit_rejects_too_few_levels():
    with pytest.raises(ValueError, match="at least 3 distinct"):
        fit_hinge(np.array([0.0, 0.1, 0.1]), np.array([0.1, 0.2, 0.3]))


def test_critical_noise_table_has_its_documented_columns():
    table = critical_noise(pd.concat([analog_runs({0: hinge(FINE, 0.1)}, FINE),
                                      analog_runs({0: np.full(41, 0.5)}, FINE, task="2class", n_classes=2)]))
    assert list(table.task) == ["5class", "2class"]
    assert list(table.columns) == CRITICAL_COLUMNS


CRITICAL_COLUMNS = [
    "task", "n_classes", "metric", "noise_levels", "n_seeds", "z", "tau_0_error", "tau_0_se", "chance_error",
    "elbow_low", "elbow_high", "elbow_fit", "plateau", "slope", "sse", "rises_only_at_last_level",
    "no_rise_within_grid", "near_chance", "se_missing", "flag", "n_seeds_fit", "seed_elbow_fit_mean",
    "seed_elbow_fit_std", "seed_elbow_fit_min", "seed_elbow_fit_max", "seed_elbow_high_min", "seed_elbow_high_max",
]


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
    return pd.DataFrame(rows).assign(n_test=100_000)


def test_summary_puts_differences_and_critical_noise_next_to_the_paper():
    runs = runs_with_elbows({0: 0.10, 1: 0.20})
    critical = critical_noise(runs)
    table = summary_table(runs, critical).set_index("quantity")
    # analog TL at tau 0 = plateau 0.1 on both seeds; digital TL 0.05 / 0.06 -> +5 and +4 points, paired by seed
    row = table.loc["analog_tl - digital_tl test error"]
    assert row.value == pytest.approx(4.5) and row["std"] == pytest.approx(np.std([5, 4], ddof=1)) and row.n_seeds == 2
    assert "digital TL ahead" in row.paper
    assert table.loc["analog_tl - analog_scratch test error", "value"] == pytest.approx(10 - 35.5)
    assert table.loc["test error, analog TL (c-TTv2)", "value"] == pytest.approx(10.0)
    crit = table.loc["critical transfer noise"]
    assert crit.paper == "about 0.15" and crit["std"] == pytest.approx(np.std([0.1, 0.2], ddof=1), abs=0.005)
    assert crit.value == pytest.approx(critical.elbow_fit.iloc[0]) and 0.1 <= crit.value <= 0.2
    low, high = critical.elbow_low.iloc[0], critical.elbow_high.iloc[0]
    assert f"({low:.3g}, {high:.3g}]" in crit.note and "2 of 2 seeds" in crit.note


def test_summary_leaves_the_critical_noise_empty_when_there_is_no_rise():
    runs = runs_with_elbows({0: 1.0, 1: 1.0})  # elbows beyond the grid: flat curves
    crit = summary_table(runs, critical_noise(runs)).set_index("quantity").loc["critical transfer noise"]
    assert np.isnan(crit.value) and "above 0.4" in crit.note and "no rise within the grid" in crit.note


@pytest.mark.parametrize("tasks", [["2class"], ["2class", "5class"]])
def test_fig2_keeps_its_wrapped_caption_below_the_panels(tasks):
    """However many lines the settings caption wraps to, no panel (ticks, labels) reaches into it."""
    from analog_tl.results.figures import plot_fig2

    rows = [{"task": task, "mode": mode, "transfer_noise": 0.0 if mode == "analog_tl" else np.nan, "fast_lr": 0.1,
             "epoch": epoch, "test_error": 0.5 - 0.1 * epoch, "n_classes": int(task[0]), "seed": 0}
            for task in tasks for mode in ("digital_tl", "analog_tl") for epoch in range(3)]
    fig = plot_fig2(pd.DataFrame(rows), 0.0, caption="setting=value, " * 120)
    renderer = fig.canvas.get_renderer()
    caption_top = fig.texts[-1].get_window_extent(renderer).y1
    for ax in fig.axes:
        assert ax.get_tightbbox(renderer).y0 > caption_top, tasks


@pytest.mark.parametrize(("worst", "top", "chance_lines"), [(0.08, 15.0, 0), (0.45, 60.0, 1), (0.9, 100.0, 2)])
def test_the_sweep_error_axis_fits_the_data_and_names_a_chance_level_above_it(worst, top, chance_lines):
    """Errors of a few percent get an axis that shows their differences; no band and no chance level is cut."""
    from analog_tl.results.figures import plot_sweeps

    rows = [{"task": task, "n_classes": n, "sweep": "dtod", "sps_reading": None, "sweep_value": value,
             "test_error_mean": worst * 0.8, "test_error_min": worst * 0.6, "test_error_max": worst}
            for task, n in (("2class", 2), ("5class", 5)) for value in (0.0, 100.0)]
    fig = plot_sweeps(pd.DataFrame(rows), ["dtod"], "title", "caption")
    ax = fig.axes[0]
    assert ax.get_ylim() == (0.0, top)
    labels = ax.get_legend_handles_labels()[1]
    assert sum(label.endswith(", chance") for label in labels) == chance_lines
    above = [label for label in labels if "above the axis" in label]
    assert [label.split("chance ")[1].split(" %")[0] for label in above] == [c for c in ("50", "80") if float(c) > top]


def test_noise_levels_relative_to_each_layers_weight_std():
    from analog_tl.results.tables import relative_noise_table

    noise = pd.DataFrame({
        "task": ["t"] * 6, "seed": [0, 0, 1, 1, 0, 0], "layer": ["a", "b", "a", "b", "a", "b"],
        "tau": [0.1, 0.1, 0.1, 0.1, 0.0, 0.0], "weight_std": [0.05, 0.2, 0.05, 0.2, 0.05, 0.2],
    })
    table = relative_noise_table(noise).set_index(["tau", "layer"])
    assert len(table) == 4  # one row per level and layer, seeds pooled
    assert table.loc[(0.1, "a"), "tau_over_weight_std"] == pytest.approx(2.0)
    assert table.loc[(0.1, "b"), "tau_over_weight_std"] == pytest.approx(0.5)
    assert table.loc[(0.0, "b"), "tau_over_weight_std"] == 0.0


def test_a_sweep_point_without_every_learning_rate_is_named():
    from analog_tl.results.selection import check_candidates_complete

    check_candidates_complete(sweep_runs(), [0.01, 0.05])
    with pytest.raises(ValueError, match=r"\(task t, sweep sps, sweep_value 10.0, seed 1\) has no run at .*\[0.05\]"):
        check_candidates_complete(sweep_runs().drop(index=3), [0.01, 0.05])

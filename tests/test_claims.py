"""The paper's claims scored under the protocol, on tables whose verdicts are known by construction."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analog_tl.results.claims import claims_table, paper_claims, verdicts_table
from analog_tl.results.protocol import METRIC_COLUMNS
from analog_tl.results.tables import with_protocol_scores

ROOT = Path(__file__).resolve().parents[1]
SEEDS = range(5)
JITTER = np.array([0.004, -0.003, 0.001, -0.002, 0.0])  # per seed, shared by every arm (paired)
N_TEST = 20_000  # binomial SE of a difference about 0.3 points: the seeds decide


def _run(task, n, mode, seed, error, noise=np.nan, **metric_overrides):
    row = {"task": task, "n_classes": n, "mode": mode, "seed": seed, "transfer_noise": noise, "n_test": N_TEST,
           "run": f"{task}/{mode}/{noise}/{seed}"}
    row.update({column: error + JITTER[seed] for column in METRIC_COLUMNS.values()})
    row.update({METRIC_COLUMNS[m]: v + JITTER[seed] for m, v in metric_overrides.items()})
    return row


def _runs(last_analog_tl_2class: float = 0.10) -> pd.DataFrame:
    rows = []
    for task, n in (("2class", 2), ("5class", 5)):
        for seed in SEEDS:
            tl = {"last": last_analog_tl_2class} if n == 2 else {}
            rows.append(_run(task, n, "analog_tl", seed, 0.10, 0.0, **tl))
            rows.append(_run(task, n, "analog_tl", seed, 0.10 if n == 2 else 0.30, 0.3))  # 5 classes rise at 0.3
            rows.append(_run(task, n, "analog_scratch", seed, 0.20))
            rows.append(_run(task, n, "digital_scratch", seed, 0.10))
            rows.append(_run(task, n, "digital_tl", seed, 0.08 if n == 2 else 0.02))
    return pd.DataFrame(rows)


def _sweep(task: str, errors: dict[float, float]) -> pd.DataFrame:
    rows = []
    for value, error in errors.items():
        for seed in SEEDS:
            for lr, offset in ((0.01, 0.0), (0.05, 0.5)):  # the second learning rate is never selected
                rows.append({**_run(task, 5, "analog_tl", seed, error + offset), "sweep_value": value, "lr": lr,
                             "selected": lr == 0.01})
    return pd.DataFrame(rows)


def _verdicts(runs, sweeps=None) -> pd.DataFrame:
    return verdicts_table(claims_table(runs, sweeps)).set_index(["claim", "task"])


def test_every_claim_gets_the_verdict_its_numbers_imply():
    verdicts = _verdicts(_runs())
    assert verdicts.loc[("tl_vs_analog_scratch", "2class"), "verdict"] == "reproduced"  # -10 points on every seed
    assert verdicts.loc[("tl_vs_digital_scratch", "2class"), "verdict"] == "inconclusive"  # exactly level
    assert verdicts.loc[("digital_tl_ahead", "2class"), "verdict"] == "reproduced"  # 2 points
    assert verdicts.loc[("digital_tl_ahead", "5class"), "verdict"] == "not reproduced"  # 8 points, far from 2
    assert verdicts.loc[("gap_grows", "5class"), "verdict"] == "reproduced"  # 8 against 2
    critical = verdicts.loc[("critical_noise", "5class")]
    assert critical["verdict"] == "inconclusive"  # rises in (0, 0.3]: too coarse to place near 0.1
    assert critical["reason"].startswith("no metric decides")
    assert verdicts.loc[("digital_tl_ahead", "2class"), "selected_difference"] == pytest.approx(2.0)


def test_metrics_that_disagree_make_the_claim_inconclusive_and_say_why():
    verdicts = _verdicts(_runs(last_analog_tl_2class=0.25))  # the last epoch is worse than analog scratch
    row = verdicts.loc[("tl_vs_analog_scratch", "2class")]
    assert row["verdict"] == "inconclusive"
    assert row["reason"] == "the metrics disagree (selected: reproduced, last: not reproduced, last10: reproduced)"


def test_sweep_claims_compare_the_selected_runs_at_the_largest_and_smallest_value():
    sweeps = {
        "pulse_noise": _sweep("5class", {0.0: 0.30, 30.0: 0.30, 100.0: 0.31}),  # +1 point: no effect
        "dtod": _sweep("5class", {0.0: 0.30, 30.0: 0.30, 100.0: 0.45}),  # +15 points
        "spv": _sweep("5class", {0.0: 0.30, 10.0: 0.305, 20.0: 0.40}),
    }
    verdicts = _verdicts(_runs(), sweeps)
    assert verdicts.loc[("pulse_noise", "5class"), "verdict"] == "reproduced"
    assert verdicts.loc[("dtod", "5class"), "verdict"] == "not reproduced"
    assert verdicts.loc[("spv_until_10", "5class"), "verdict"] == "reproduced"
    assert verdicts.loc[("spv_grows", "5class"), "verdict"] == "reproduced"
    assert verdicts.loc[("dtod", "5class"), "selected_difference"] == pytest.approx(15.0)
    assert ("pulse_noise", "2class") not in verdicts.index  # no 2-class sweep: the claim is not scored
    assert ("sps_range_skew", "5class") not in verdicts.index


def test_every_claim_of_the_paper_is_listed_once_per_task():
    keys = [(c.key, c.n_classes) for c in paper_claims()]
    assert len(keys) == len(set(keys))
    for key in ("tl_vs_analog_scratch", "tl_vs_digital_scratch", "digital_tl_ahead", "critical_noise",
                "sps_range_skew", "sps_reference_shift", "pulse_noise", "dtod"):
        assert (key, 2) in keys and (key, 5) in keys
    assert {("spv", 2), ("spv_until_10", 5), ("spv_grows", 5), ("gap_grows", 5)} <= set(keys)


def test_committed_runs_get_scores_from_their_epochs_table():
    """The 48 committed real-CIFAR runs predate the protocol: their scores come from epochs.csv."""
    folder = ROOT / "docs" / "results" / "real-small"
    runs = with_protocol_scores(pd.read_csv(folder / "runs.csv"), pd.read_csv(folder / "epochs.csv"))
    assert len(runs) == 48 and runs[list(METRIC_COLUMNS.values())].notna().all().all()
    single = runs[runs["n_tied_epochs"] == 1]  # no tie: the protocol's epoch is the old one
    assert (single["test_error_selected"] == single["test_error_at_best_val"]).all()
    assert (single["selected_epoch"] == single["best_val_epoch"]).all()
    assert (runs["test_error_last"] == runs["final_test_error"]).all()
    with pytest.raises(ValueError, match="no epochs table"):
        with_protocol_scores(pd.read_csv(folder / "runs.csv"), None)


def test_only_the_rows_without_scores_are_scored_from_the_epochs():
    folder = ROOT / "docs" / "results" / "real-small"
    runs, epochs = pd.read_csv(folder / "runs.csv"), pd.read_csv(folder / "epochs.csv")
    full = with_protocol_scores(runs, epochs)
    partly = full.copy()
    partly.loc[partly.index[::2], list(METRIC_COLUMNS.values())] = np.nan  # a merge of older and newer parts
    partly.loc[partly.index[1], "test_error_last"] = 0.99  # a newer row's own value is kept
    again = with_protocol_scores(partly, epochs)
    expected = full.copy()
    expected.loc[expected.index[1], "test_error_last"] = 0.99
    pd.testing.assert_frame_equal(again[list(METRIC_COLUMNS.values())], expected[list(METRIC_COLUMNS.values())])


def test_two_runs_of_one_seed_in_an_arm_are_refused():
    runs = _runs()
    twice = pd.concat([runs, runs[(runs["mode"] == "digital_tl") & (runs["seed"] == 0)]])
    with pytest.raises(ValueError, match=r"two runs of seed\(s\) \[0\] in one arm"):
        claims_table(twice)


def test_score_claims_chooses_the_learning_rate_of_a_part_and_refuses_an_incomplete_one(tmp_path):
    import subprocess
    import sys

    demo = ROOT / "docs" / "results" / "default" / "sweeps" / "dtod_runs.csv"
    part = tmp_path / "sweeps"
    part.mkdir()
    table = pd.read_csv(demo).drop(columns="selected")
    table.assign(test_error_selected=table["test_error_at_best_val"], test_error_last=table["final_test_error"],
                 test_error_last10=table["final_test_error"]).to_csv(part / "dtod_runs.csv", index=False)
    real = ROOT / "docs" / "results" / "real-small"
    args = [sys.executable, str(ROOT / "scripts" / "score_claims.py"), "--runs", str(real / "runs.csv"), "--epochs",
            str(real / "epochs.csv"), "--sweeps", str(part), "--out", str(tmp_path / "out")]
    done = subprocess.run([*args, "--lrs", "0.01", "0.05"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "dtod" in set(pd.read_csv(tmp_path / "out" / "verdicts.csv")["claim"])
    refused = subprocess.run([*args, "--lrs", "0.01", "0.05", "0.1"], capture_output=True, text=True)
    assert refused.returncode == 2 and "has no run at learning rate(s) [0.1]" in refused.stderr


def test_score_claims_stacks_the_parts_of_a_sweep_and_refuses_parts_that_disagree(tmp_path):
    """An axis run in two parts (one run in both) scores as the whole table; a run whose numbers differ is refused."""
    import subprocess
    import sys

    table = pd.read_csv(ROOT / "docs" / "results" / "default" / "sweeps" / "dtod_runs.csv").drop(columns="selected")
    table = table.assign(test_error_selected=table["test_error_at_best_val"], test_error_last=table["final_test_error"],
                         test_error_last10=table["final_test_error"])
    whole, first, second = (tmp_path / name for name in ("whole", "first", "second"))
    for folder, rows in ((whole, table), (first, table.iloc[: len(table) // 2 + 1]), (second, table.iloc[len(table) // 2:])):
        folder.mkdir()
        rows.to_csv(folder / "dtod_runs.csv", index=False)
    real = ROOT / "docs" / "results" / "real-small"

    def score(out: str, *folders: Path) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(ROOT / "scripts" / "score_claims.py"), "--runs", str(real / "runs.csv"),
                               "--epochs", str(real / "epochs.csv"), "--sweeps", *map(str, folders), "--lrs", "0.01",
                               "0.05", "--out", str(tmp_path / out)], capture_output=True, text=True)

    assert score("one", whole).returncode == 0 and score("two", first, second).returncode == 0
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "one" / "claims.csv"), pd.read_csv(tmp_path / "two" / "claims.csv"))
    changed = table.iloc[len(table) // 2:].copy()
    changed.iloc[0, changed.columns.get_loc("test_error_last")] += 0.01
    changed.to_csv(second / "dtod_runs.csv", index=False)
    refused = score("bad", first, second)
    assert refused.returncode == 2 and "differs between parts" in refused.stderr and "test_error_last" in refused.stderr

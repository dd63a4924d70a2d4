"""The simulator cross-check: paired differences of the same runs made on two simulators."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from analog_tl.results.crosscheck import simulator_agreement
from analog_tl.results.tables import with_protocol_scores

REPO = Path(__file__).resolve().parents[1]
REAL = REPO / "docs" / "results" / "real-small"


def _fast_runs() -> pd.DataFrame:
    return with_protocol_scores(pd.read_csv(REAL / "runs.csv"), pd.read_csv(REAL / "epochs.csv"))


def _other(runs: pd.DataFrame, shift: float = 0.0) -> pd.DataFrame:
    """The 5-class analog TL runs at tau 0, seeds 0 and 1, relabelled as aihwkit's, errors shifted by ``shift``."""
    rows = runs[(runs["task"] == "5class") & (runs["mode"] == "analog_tl") & (runs["transfer_noise"] == 0)
                & runs["seed"].isin([0, 1])].copy()
    rows["simulator"] = "aihwkit"
    for column in ("test_error_selected", "test_error_last", "test_error_last10"):
        rows[column] = rows[column] + shift
    return rows


def test_identical_runs_agree_on_every_metric_and_only_shared_seeds_count():
    fast = _fast_runs()
    table = simulator_agreement(fast, _other(fast))
    assert list(table["metric"]) == ["selected", "last", "last10"] and (table["n_seeds"] == 2).all()
    assert (table["mean"] == 0).all() and table["agree"].all()
    assert (table["reference_simulator"] == "fast").all() and (table["other_simulator"] == "aihwkit").all()
    spread = 100 * fast[(fast["task"] == "5class") & (fast["mode"] == "analog_tl") & (fast["transfer_noise"] == 0)
                        & fast["seed"].isin([0, 1])]["test_error_last"].std()
    assert table.set_index("metric").loc["last", "reference_seed_std"] == pytest.approx(spread)


def test_a_shifted_simulator_disagrees():
    fast = _fast_runs()
    table = simulator_agreement(fast, _other(fast, shift=0.20))
    assert table["mean"].tolist() == pytest.approx([20.0] * 3) and not table["agree"].any()


def test_tables_without_a_shared_arm_are_refused():
    fast = _fast_runs()
    other = _other(fast).assign(fast_lr=1.0)
    with pytest.raises(ValueError, match="share no"):
        simulator_agreement(fast, other)


def test_the_script_writes_the_table_and_the_curves(tmp_path):
    fast = pd.read_csv(REAL / "runs.csv")
    epochs = pd.read_csv(REAL / "epochs.csv")
    part = tmp_path / "aihwkit"
    part.mkdir()
    keep = fast[(fast["task"] == "5class") & (fast["mode"] == "analog_tl") & (fast["transfer_noise"] == 0)
                & fast["seed"].isin([0, 1])]
    keep.assign(simulator="aihwkit").to_csv(part / "runs.csv", index=False)
    epochs[epochs["run"].isin(keep["run"])].assign(simulator="aihwkit").to_csv(part / "epochs.csv", index=False)
    pd.read_csv(REAL / "transfer_noise.csv").to_csv(part / "transfer_noise.csv", index=False)
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "compare_simulators.py"), "--reference", str(REAL),
                           "--other", str(part), "--out", str(tmp_path / "out")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(tmp_path / "out" / "simulator_agreement.csv")
    assert table["agree"].all() and len(table) == 3
    assert (tmp_path / "out" / "simulator_curves.png").stat().st_size > 10_000

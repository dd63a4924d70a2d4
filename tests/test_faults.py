"""Kill the workflow with SIGKILL at several points, restart with --rerun-incomplete, compare with an uninterrupted run.

The kills come from the fault-injection test double in ``tests/faults/`` (a
``sitecustomize`` put on ``PYTHONPATH`` for these runs only): it SIGKILLs the
whole Snakemake process group inside an epoch, between epochs and half-way
through writing a resumable state, as a wall-time limit or a node failure would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from workflow_helpers import REPO, SNAKEMAKE, TINY, final_without_time, metrics_without_time

pytestmark = pytest.mark.slow

FAULTS = REPO / "tests" / "faults"
CONFIG = {
    **TINY,
    "data": {**TINY["data"], "synthetic": {**TINY["data"]["synthetic"], "source_train_per_class": 40}},
    "tasks": {"2class": TINY["tasks"]["2class"]},
    "pretrain": {**TINY["pretrain"], "epochs": 3},
    "finetune": {**TINY["finetune"], "epochs": 3, "log_every_steps": 1},
    "analog": {**TINY["analog"], "transfer_noise": [0.0], "fast_lrs": [0.1], "frozen_digital_ablation": False},
}
TARGETS = ["results/tables/runs.csv", "results/tables/epochs.csv"]
DIGITAL_RUNS = ["pretrain", "runs/2class/digital_tl/seed~0", "runs/2class/digital_scratch/seed~0"]
ANALOG_RUNS = ["runs/2class/analog_tl/noise~0.0/fast_lr~0.1/seed~0", "runs/2class/analog_scratch/fast_lr~0.1/seed~0"]


def run_workflow(
    workdir: Path, *args: str, fault: str | None = None, script: str | None = None, targets: list[str] = TARGETS
):
    """Snakemake in its own process group (so that a fault can kill all of it), with the fault double on PYTHONPATH."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(FAULTS), os.environ.get("PYTHONPATH", "")])}
    if fault:
        env.update(ANALOG_TL_FAULT=fault, ANALOG_TL_FAULT_SCRIPT=script or "")
    return subprocess.run(
        [*SNAKEMAKE, "--directory", str(workdir), "--cores", "2", *targets, *args],
        env=env, capture_output=True, text=True, timeout=900, start_new_session=True,
    )


def assert_no_partial_results(results: Path) -> None:
    """Every file under its final name is complete: it parses (CSV, JSON, NPZ) or loads (PyTorch)."""
    for path in results.rglob("*"):
        if not path.is_file() or "resume" in path.relative_to(results).parts:
            continue
        assert ".tmp-" not in path.name, f"temporary file under results: {path}"
        if path.suffix == ".csv":
            assert len(pd.read_csv(path)) > 0, path
        elif path.suffix == ".json":
            json.loads(path.read_text())
        elif path.suffix == ".pt":
            torch.load(path, map_location="cpu", weights_only=False)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("uninterrupted")
    (workdir / "config").mkdir()
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(CONFIG))
    result = run_workflow(workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir / "results"


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory) -> tuple[Path, str]:
    """The same workflow killed three times, a resumable state truncated, and finished with --rerun-incomplete."""
    workdir = tmp_path_factory.mktemp("interrupted")
    (workdir / "config").mkdir()
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(CONFIG))
    results, outputs = workdir / "results", []

    # Each faulty run targets only the job to kill (plus what it needs), so the kill point does not depend
    # on how the scheduler interleaves jobs; the last run, without a fault, finishes everything.
    digital, analog = (f"results/{run}/final.json" for run in ("runs/2class/digital_tl/seed~0", ANALOG_RUNS[0]))
    attempts = [
        ("step:15", "pretrain", ["results/pretrain/final.json"]),  # inside epoch 2 of pre-training
        ("after_state:1", "finetune_digital", [digital]),  # between epochs 1 and 2
        ("state_write:2", "finetune_analog", [analog]),  # half-way through writing the state of epoch 2
        (None, None, TARGETS),
    ]
    for attempt, (fault, script, targets) in enumerate(attempts):
        if attempt:
            unlock = run_workflow(workdir, "--unlock")  # a killed Snakemake leaves its lock behind
            assert unlock.returncode == 0, unlock.stderr[-2000:]
        result = run_workflow(workdir, "--rerun-incomplete", fault=fault, script=script, targets=targets)
        outputs.append(result.stderr)
        assert result.returncode == (-9 if fault else 0), result.stderr[-3000:]
        assert_no_partial_results(results)
        if script == "pretrain":
            assert (results / "resume" / "pretrain" / "epoch-0001.pt").exists()
            assert not (results / "pretrain" / "final.json").exists()
        if script == "finetune_digital":  # corrupt the state just saved: the restart must warn and not use it
            state = results / "resume" / "runs" / "2class" / "digital_tl" / "seed~0" / "epoch-0001.pt"
            state.write_bytes(state.read_bytes()[: state.stat().st_size // 2])
            outputs.append(f"TRUNCATED {state.relative_to(workdir)}")
    return results, "\n".join(outputs)


def test_every_kill_happened_where_intended_and_the_restarts_resumed(interrupted):
    _, log = interrupted
    assert log.count("FAULT INJECTED") == 3
    assert "pretrain: resumed after epoch 1 of 3" in log
    truncated = log.split("TRUNCATED ", 1)[1].split("\n", 1)[0]
    assert f"ignoring resumable state {truncated}" in log and "SHA-256 does not match" in log
    assert "2class/analog_tl/noise~0.0/fast_lr~0.1/seed~0: resumed after epoch 1 of 3" in log


def test_digital_and_analog_results_are_bit_identical_to_an_uninterrupted_run(interrupted, reference):
    """Analog runs too: the fast simulator's random streams are seeded and restored with the tiles."""
    results, _ = interrupted
    assert CONFIG["analog"]["simulator"] == "fast"
    for run in DIGITAL_RUNS + ANALOG_RUNS:
        pd.testing.assert_frame_equal(metrics_without_time(results / run), metrics_without_time(reference / run))
        assert final_without_time(results / run) == final_without_time(reference / run), run  # model SHA-256 included


def test_tables_match_the_uninterrupted_run(interrupted, reference):
    results, _ = interrupted
    key = ["task", "mode", "transfer_noise", "seed"]
    for table in ("runs", "epochs"):
        ours = pd.read_csv(results / "tables" / f"{table}.csv").drop(columns=["seconds", "train_seconds"], errors="ignore")
        theirs = pd.read_csv(reference / "tables" / f"{table}.csv").drop(columns=["seconds", "train_seconds"], errors="ignore")
        assert list(ours.columns) == list(theirs.columns) and len(ours) == len(theirs)
        assert ours[key].equals(theirs[key])
        pd.testing.assert_frame_equal(ours, theirs)  # analog rows too (fast simulator: bit-reproducible)


def test_analog_runs_finished_every_epoch_and_states_are_gone(interrupted):
    results, _ = interrupted
    for run in ANALOG_RUNS:
        metrics = pd.read_csv(results / run / "metrics.csv")
        assert metrics["epoch"].tolist() == [0, 1, 2, 3]
        assert metrics[["train_error", "val_error", "test_error"]].notna().all().all()
    assert not [p for p in (results / "resume").rglob("*") if p.is_file()]
    assert not list(results.rglob("*.tmp-*")) and not list(results.rglob(".*.tmp-*"))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-v"]))


def _device_parameters(model_path: Path) -> dict[str, torch.Tensor]:
    """Every tile's hidden parameters except the weights: the device-to-device population."""
    state = torch.load(model_path, map_location="cpu", weights_only=False)["state_dict"]
    found = {}
    for key, tile in state.items():
        if key.endswith("analog_tile_state"):
            names = tile["analog_tile_hidden_parameter_names"]
            for name, values in zip(names, tile["analog_tile_hidden_parameters"]):
                if not name.startswith(("hidden_weights", "buffered")):
                    found[f"{key}.{name}"] = values
    return found


def test_same_config_gives_bit_identical_data_noise_draws_and_devices(interrupted, reference):
    """Two runs of one config (one of them killed and resumed) agree bit for bit on all the project controls."""
    results, _ = interrupted
    for sidecar in ("data/pretrain.npz.json", "data/tasks/2class.npz.json"):
        assert json.loads((results / sidecar).read_text())["sha256"] == json.loads((reference / sidecar).read_text())["sha256"]
    init = "analog_init/2class/noise~0.0/seed~0"
    pd.testing.assert_frame_equal(
        pd.read_csv(results / init / "transfer_noise.csv"), pd.read_csv(reference / init / "transfer_noise.csv")
    )
    ours, theirs = _device_parameters(results / init / "analog_model.pt"), _device_parameters(reference / init / "analog_model.pt")
    assert ours.keys() == theirs.keys() and any("max_bound" in k for k in ours)
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)


def test_runs_record_versions_device_and_the_resolved_config(interrupted):
    results, _ = interrupted
    record = json.loads((results / f"{ANALOG_RUNS[0]}/run.json").read_text())
    assert {"python", "torch", "aihwkit", "timm", "snakemake"} <= set(record["versions"])
    assert record["device"]["torch_device"] == "cpu"
    assert all(record["workflow_config"]["finetune"][k] == v for k, v in CONFIG["finetune"].items())
    assert record["workflow_config"]["resume"]["every_epochs"] == 1  # schema defaults filled in: the resolved config
    assert record["inputs"]["init_model_sha256"] == json.loads(
        (results / "analog_init/2class/noise~0.0/seed~0/analog_model.json").read_text())["model_sha256"]

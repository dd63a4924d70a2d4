"""The GPU check (scripts/prepare_gpu_check.py, then scripts/gpu_check.py), run here on the CPU with tiny models."""

from __future__ import annotations

import csv
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
TINY = ["--device", "cpu", "--models", "tiny", "--batches", "2", "--max-steps", "2", "--jobs", "1", "2",
        "--concurrent-model", "tiny", "--concurrent-batch", "2", "--concurrent-seconds", "1", "--epoch-model", "tiny",
        "--epoch-images", "40", "--eval-images", "10", "10", "--tests-k", "random_streams or dac"]
COLUMNS = {
    "gpu_tests.csv": ["test", "outcome", "seconds", "message"],
    "steps.csv": ["model", "batch", "simulator", "measured_steps", "step_seconds", "first_step_seconds", "peak_gpu_mib",
                  "images_per_second", "x_digital", "status"],
    "concurrent.csv": ["jobs", "job", "steps", "images", "seconds", "images_per_second", "setup_seconds",
                       "peak_gpu_mib", "error"],
    "concurrent_summary.csv": ["jobs", "status", "window_seconds", "total_images_per_second",
                               "images_per_second_per_job", "total_vs_first_level", "setup_seconds",
                               "peak_gpu_mib_per_job"],
    "epoch.csv": ["model", "batch", "train_images", "train_images_measured", "extrapolated", "val_images",
                  "test_images", "predicted_seconds", "initial_evaluation_seconds", "epoch_seconds_measured",
                  "epoch_seconds", "hundred_epochs_hours", "test_error_after_one_epoch"],
}


def _check(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "scripts" / "gpu_check.py"), *args], capture_output=True,
                          text=True, timeout=600)


def _table(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _script(monkeypatch) -> ModuleType:
    """scripts/gpu_check.py as a module (registered while the test runs: its dataclasses need that)."""
    spec = importlib.util.spec_from_file_location("gpu_check", REPO / "scripts" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "gpu_check", module)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("inputs")
    prepare = subprocess.run([sys.executable, str(REPO / "scripts" / "prepare_gpu_check.py"), "--out", str(folder)],
                             capture_output=True, text=True, timeout=600)
    assert prepare.returncode == 0, prepare.stderr[-2000:]
    assert {p.name for p in folder.iterdir()} == {"population.json", "gpu_cases.pt"}
    assert sum(p.stat().st_size for p in folder.iterdir()) < 2**20  # travels with the working tree
    return folder


def test_the_check_runs_every_section_on_the_cpu_and_writes_its_tables(inputs, tmp_path) -> None:
    # The work is capped by TINY; a budget far off keeps a busy runner's slow start from cutting a section short.
    run = _check(*TINY, "--inputs", str(inputs), "--out", str(tmp_path), "--budget-s", "3000")
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert {p.name for p in tmp_path.iterdir()} == {"manifest.json", *COLUMNS}
    tables = {name: _table(tmp_path / name) for name in COLUMNS}
    for name, columns in COLUMNS.items():
        assert list(tables[name][0]) == columns, name
    assert {r["outcome"] for r in tables["gpu_tests.csv"]} == {"passed"} and len(tables["gpu_tests.csv"]) == 3
    assert [[r["model"], r["batch"], r["simulator"], r["status"]] for r in tables["steps.csv"]] == [
        ["tiny", "2", "digital", "ok"], ["tiny", "2", "fast", "ok"]]
    assert all(float(r["step_seconds"]) > 0 and r["measured_steps"] == "2" for r in tables["steps.csv"])
    assert [(r["jobs"], r["job"]) for r in tables["concurrent.csv"]] == [("1", "0"), ("2", "0"), ("2", "1")]
    assert all(int(r["steps"]) >= 1 and not r["error"] for r in tables["concurrent.csv"])
    assert [(r["jobs"], r["status"]) for r in tables["concurrent_summary.csv"]] == [("1", "ok"), ("2", "ok")]
    epoch = tables["epoch.csv"][0]
    assert (epoch["train_images"], epoch["train_images_measured"], epoch["extrapolated"]) == ("40", "40", "False")
    assert float(epoch["epoch_seconds"]) > 0 and float(epoch["hundred_epochs_hours"]) > 0
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert {name: s["status"] for name, s in manifest["sections"].items()} == dict.fromkeys(
        ("tests", "steps", "concurrent", "epoch"), "ok")
    assert manifest["versions"]["torch"] == torch.__version__ and manifest["versions"]["triton"]
    assert manifest["population"]["device"]["device"] == "SoftBoundsReferenceDevice"
    assert set(manifest["inputs"]) == {"population.json", "gpu_cases.pt"}
    assert manifest["files"] == sorted(["manifest.json", *COLUMNS])
    assert "| tiny | 2 | fast |" in run.stdout and "epoch (tiny, 40 images, measured)" in run.stdout


def test_a_spent_budget_skips_the_work_and_says_so(inputs, tmp_path) -> None:
    run = _check(*TINY, "--inputs", str(inputs), "--out", str(tmp_path), "--budget-s", "0.01", "--sections", "steps",
                 "concurrent", "epoch")
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert {r["status"] for r in _table(tmp_path / "steps.csv")} == {"skipped: budget spent"}
    assert {r["status"] for r in _table(tmp_path / "concurrent_summary.csv")} == {"skipped: budget spent"}
    assert not (tmp_path / "epoch.csv").exists()
    sections = json.loads((tmp_path / "manifest.json").read_text())["sections"]
    assert sections["epoch"]["status"] == "skipped: budget spent" and "tests" not in sections


def test_the_check_names_missing_inputs_before_any_work(tmp_path) -> None:
    run = _check("--device", "cpu", "--inputs", str(tmp_path), "--out", str(tmp_path / "out"))
    assert run.returncode == 1
    assert "missing inputs" in run.stderr and "prepare_gpu_check.py" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1 and not (tmp_path / "out").exists()


def test_the_epoch_is_sized_to_the_budget_and_extrapolated_linearly(monkeypatch) -> None:
    check = _script(monkeypatch)
    # 0.1 s per evaluated image, 0.8 s per batch-8 step: 0.2 s per training image after 2 x 75 s of evaluation
    assert check.images_that_fit(400.0, 0.1, 0.8, 750, 2250) == 1240  # 1250 fit: 31 batches of 8 per class
    assert check.images_that_fit(10_000.0, 0.1, 0.8, 750, 2250) == 2250  # all fit: exactly the wanted images
    assert check.images_that_fit(150.0, 0.1, 0.8, 750, 2250) == 0
    # measured on 400 images: initial 0.1 s x (400 + 750), epoch 400 x 0.1 s training + 0.1 s x 750
    initial, epoch = check.extrapolate(115.0, 115.0, 400, 750, 2250)
    assert initial == pytest.approx(0.1 * (2250 + 750)) and epoch == pytest.approx(0.1 * 2250 + 75.0)

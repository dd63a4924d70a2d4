"""What the end-to-end tests share: the tiny configs, running Snakemake, and reading what its jobs did.

A helper module, not a test module: the tests import it (``tests/`` is on
``sys.path`` under pytest's rootdir conftest); no test module imports another.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEFILE = REPO / "workflow" / "Snakefile"
SNAKEMAKE = [sys.executable, "-m", "snakemake", "--snakefile", str(SNAKEFILE)]
TINY = yaml.safe_load((REPO / "tests" / "data" / "tiny.yaml").read_text())  # the whole DAG in minutes
TRACEBACK = "Traceback (most recent call last)"
# A quick variant of the tiny config for job-level checks (pre-training in seconds).
QUICK = {
    **TINY,
    "data": {**TINY["data"], "synthetic": {**TINY["data"]["synthetic"], "source_train_per_class": 10}},
    "pretrain": {**TINY["pretrain"], "epochs": 1},
    "finetune": {**TINY["finetune"], "epochs": 1},
    "analog": {**TINY["analog"], "fast_lrs": [0.1], "frozen_digital_ablation": False},  # one candidate: fixed paths
    "compare": {},  # no comparison runs
}
DOUBLES = REPO / "tests" / "doubles"  # stand-in executables (apptainer, sbatch helpers): test doubles
IMAGE = "images/analog-tl_test.sif"  # the stand-in image file prepare_workdir writes
SLOT_LINE = re.compile(r"GPU slot: GPU (\S+) \(slot (\d+) of (\d+);")


def write_config(workdir: Path, config: dict) -> None:
    """``config`` as ``workdir/config/config.yaml``."""
    (workdir / "config").mkdir(parents=True, exist_ok=True)
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(config))


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run Snakemake in ``workdir`` (which holds config/config.yaml); AssertionError with its output if ``check``."""
    result = subprocess.run(
        [*SNAKEMAKE, "--directory", str(workdir), *args], capture_output=True, text=True, timeout=1800
    )
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {args} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return result


def planned_jobs(workdir: Path, *args: str) -> dict[str, int]:
    """Jobs a dry run (with Snakemake options ``args``) would execute, by rule (empty when nothing is to do)."""
    out = snakemake(workdir, "--dry-run", "--cores", "2", *args).stdout
    if "Nothing to be done" in out:
        return {}
    stats = out.split("Job stats:", 1)[1].split("total", 1)[0]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", stats, re.MULTILINE)}


def prepare_workdir(workdir: Path, config: dict) -> None:
    """``config/config.yaml`` and the stand-in image file that ``IMAGE`` names."""
    write_config(workdir, config)
    (workdir / "images").mkdir()
    (workdir / IMAGE).write_bytes(b"stand-in image file")


def double_env(log: Path, base: dict[str, str]) -> dict[str, str]:
    """``base`` with the apptainer double first on PATH, recording to ``log``, and no GPU assigned."""
    env = {**base, "PATH": f"{DOUBLES}{os.pathsep}{Path(SNAKEMAKE[0]).parent}{os.pathsep}{base['PATH']}",
           "APPTAINER_DOUBLE_LOG": str(log)}
    env.pop("CUDA_VISIBLE_DEVICES", None)
    return env


def recorded_calls(log: Path) -> list[dict]:
    """The apptainer double's records, one per job it started."""
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def script_of(call: dict) -> str:
    """The step script a job ran (Snakemake runs .snakemake/scripts/tmpXXXX.<script>.py)."""
    return next(part for part in " ".join(call["command"]).split() if part.endswith(".py")).split(".")[-2]


def slot_of(log: Path) -> tuple[str, int, int]:
    """(GPU, slot number, jobs per GPU) from a job's log."""
    gpu, slot, per_gpu = SLOT_LINE.search(log.read_text()).groups()
    return gpu, int(slot), int(per_gpu)


def metrics_without_time(run: Path) -> pd.DataFrame:
    """A run's metrics.csv without its wall-clock column (what must be bit-identical between runs)."""
    return pd.read_csv(run / "metrics.csv").drop(columns="seconds")


def final_without_time(run: Path) -> dict:
    """A run's final.json without its wall-clock field."""
    final = json.loads((run / "final.json").read_text())
    final.pop("train_seconds")
    return final

"""What a training run leaves behind: metrics per epoch, final metrics, model state, run record."""

from __future__ import annotations

import importlib.metadata
import math
import platform
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from analog_tl.errors import ChecksumError
from analog_tl.io import atomic_path, read_json, sha256_file, write_json
from analog_tl.provenance import project_record
from analog_tl.results.protocol import select_epoch
from analog_tl.training.loop import EpochMetrics
from analog_tl.vocabulary import FINAL_FILE, METRICS_FILE, MODEL_FILE, RECORD_FILE


@dataclass(frozen=True)
class RunPaths:
    """Output files of one training run (all in one folder: analog_tl.vocabulary.RUN_FILES)."""

    metrics: Path
    final: Path
    model: Path
    record: Path

    @classmethod
    def in_folder(cls, folder: str | Path) -> "RunPaths":
        """The standard file names inside ``folder``."""
        folder = Path(folder)
        return cls(folder / METRICS_FILE, folder / FINAL_FILE, folder / MODEL_FILE, folder / RECORD_FILE)


def software_versions() -> dict[str, str]:
    """Versions of the interpreter and the packages that shape the results.

    A package the job has loaded reports its ``__version__`` (torch's includes
    its build, e.g. ``2.14.1+cu130``); one it has not loaded reports its
    installed distribution's version (without such a suffix), read from the
    package metadata instead of importing it: importing torchvision and timm
    cost a training job that had not loaded them about 0.8 s.
    """
    versions = {"python": platform.python_version(), "platform": platform.platform()}
    for name in ("torch", "torchvision", "aihwkit", "timm", "snakemake", "numpy"):
        module = sys.modules.get(name)
        if module is not None:
            versions[name] = getattr(module, "__version__", "unknown")
            continue
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def save_model(state: dict[str, Any], path: Path) -> str:
    """Save a checkpoint dict atomically; return its SHA-256."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
        return sha256_file(tmp)


def recorded_sha256(record_path: str | Path) -> str:
    """The model checksum recorded (as ``model_sha256``) in a JSON record when the model was written."""
    return read_json(record_path)["model_sha256"]


def load_checked_model(path: str | Path, final_path: str | Path) -> dict[str, Any]:
    """Load a checkpoint after checking it against the ``model_sha256`` recorded in ``final_path`` (JSON).

    Raises:
        ChecksumError: naming the file when the checksum does not match.
    """
    expected = recorded_sha256(final_path)
    actual = sha256_file(path)
    if actual != expected:
        raise ChecksumError(
            f"{path}: SHA-256 {actual} does not match {expected} recorded in {final_path}; "
            "the model changed after it was written; delete it and rerun the workflow"
        )
    return torch.load(path, map_location="cpu", weights_only=False)


def summarise(history: list[EpochMetrics]) -> dict[str, Any]:
    """Final metrics: last epoch, and the epoch the protocol selects (lowest validation error, then loss)."""
    table = pd.DataFrame([m.as_dict() for m in history])
    best_epoch, _, _ = select_epoch(table)
    best = next(m for m in history if m.epoch == best_epoch)
    last = history[-1]
    return {
        "epochs": last.epoch,
        "final_train_loss": last.train_loss,
        "final_train_error": last.train_error,
        "final_val_error": last.val_error,
        "final_test_error": last.test_error,
        "best_val_epoch": best.epoch,
        "best_val_error": best.val_error,
        "best_val_loss": best.val_loss,
        "test_error_at_best_val": best.test_error,
        "train_seconds": sum(m.seconds for m in history),
    }


def write_run(
    paths: RunPaths,
    history: list[EpochMetrics],
    model_state: dict[str, Any],
    record: dict[str, Any],
) -> dict[str, Any]:
    """Write all outputs of a finished run; return its final metrics."""
    with atomic_path(paths.metrics) as tmp:
        pd.DataFrame([m.as_dict() for m in history]).to_csv(tmp, index=False)
    final = summarise(history)
    final["model_sha256"] = save_model(model_state, paths.model)
    write_json(paths.record, {**record, "versions": software_versions(), "project": project_record()})
    write_json(paths.final, final)
    if not all(math.isfinite(v) for k, v in final.items() if k.endswith("error")):
        raise RuntimeError(f"{paths.final}: non-finite error rate in final metrics")
    return final

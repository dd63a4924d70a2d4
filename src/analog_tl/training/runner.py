"""Run one training job: resume if possible, train, write the run folder, clean up the saved state."""

from __future__ import annotations

import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from analog_tl.data.prepared import PreparedData
from analog_tl.config import TrainConfig
from analog_tl.training.artifacts import RunPaths, write_run
from analog_tl.training.loop import OptimizerFactory, fit
from analog_tl.training.resume import ResumeConfig, ResumeStore, fingerprint, state_folder

CPU = torch.device("cpu")


@dataclass(frozen=True)
class RunContext:
    """Per-job settings that do not change a run's numbers: resumable state, and the workflow config to record."""

    resume: ResumeConfig = field(default_factory=lambda: ResumeConfig(enabled=False))
    workflow_config: dict[str, Any] = field(default_factory=dict)


def compute_device() -> dict[str, Any]:
    """The hardware a run used (recorded in ``run.json``)."""
    return {
        "torch_device": str(CPU),
        "torch_threads": torch.get_num_threads(),
        "cuda_visible_to_torch": torch.cuda.is_available(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "node": platform.node(),
    }


def train_and_write(
    model: nn.Module,
    make_optimizer: OptimizerFactory,
    data: PreparedData,
    train_cfg: TrainConfig,
    out_dir: str | Path,
    record: dict[str, Any],
    checkpoint: dict[str, Any],
    context: RunContext,
    label: str,
) -> dict[str, Any]:
    """Train (resuming from saved state if any), write the run folder, then drop the saved state.

    ``record`` identifies the run (configs, input checksums): a saved state is
    restored only if it was written under the same record. ``checkpoint`` holds
    what ``model.pt`` stores besides the weights (class names, model config).
    """
    store = None
    if context.resume.enabled:
        store = ResumeStore(
            state_folder(context.resume.folder, out_dir), fingerprint(record),
            context.resume.every_epochs, context.resume.keep,
        )
    history = fit(model, make_optimizer, data, train_cfg, CPU, label, store=store)
    full_record = {**record, "device": compute_device(), "workflow_config": context.workflow_config}
    final = write_run(RunPaths.in_folder(out_dir), history, {"state_dict": model.state_dict(), **checkpoint}, full_record)
    if store is not None:
        store.clear()
    return final

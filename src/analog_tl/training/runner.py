"""Run one training job: resume if possible, train, write the run folder, clean up the saved state."""

from __future__ import annotations

import logging
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from analog_tl.cpu_isa import cpu_record
from analog_tl.data.prepared import PreparedData
from analog_tl.config import ExecutionConfig, TrainConfig, to_dict
from analog_tl.training.artifacts import RunPaths, write_run
from analog_tl.training.device import devices_seen, float32_products, select_device
from analog_tl.training.loop import OptimizerFactory, fit
from analog_tl.training.resume import ResumeConfig, ResumeStore, fingerprint, state_folder
from analog_tl.vocabulary import FAST

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunContext:
    """Per-job settings that do not change what a run computes.

    ``device`` is the ``compute.device`` setting (auto, cpu, cuda); ``tf32``
    whether GPU float32 products may use TF32 (``compute.tf32``); ``resume``
    says where resumable state goes; ``execution`` how the run evaluates and
    logs; ``workflow_config`` is recorded in ``run.json``.
    """

    device: str = "cpu"
    tf32: bool = False
    resume: ResumeConfig = field(default_factory=lambda: ResumeConfig(enabled=False))
    execution: ExecutionConfig = field(default_factory=ExecutionConfig)
    workflow_config: dict[str, Any] = field(default_factory=dict)


def compute_record(device: torch.device, tf32: bool = False) -> dict[str, Any]:
    """The hardware a run used and what torch, Triton and aihwkit saw (recorded in ``run.json``).

    ``cpu_isa`` says which CPU code path each numerical library took (:func:`analog_tl.cpu_isa.cpu_record`).
    """
    return {
        "torch_device": str(device),
        "tf32": tf32 and device.type == "cuda",
        "torch_threads": torch.get_num_threads(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "node": platform.node(),
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),  # None outside SLURM
        **devices_seen(),
        "cpu_isa": cpu_record(),
    }


@dataclass(frozen=True)
class TrainingRun:
    """A model ready to train and what its run folder will record.

    Attributes:
        model: the model that trains (moved to the run's device, trained in place).
        make_optimizer: builds its optimiser once it is on the device
            (:data:`~analog_tl.training.loop.OptimizerFactory`).
        data: the prepared data it trains and is evaluated on.
        train_cfg: optimiser, budget and seed of the run.
        out_dir: the run folder written (:class:`~analog_tl.training.artifacts.RunPaths`).
        record: identifies the run (configs, input checksums); a saved state is restored only if it was
            written under the same record.
        checkpoint: what ``model.pt`` stores besides the weights (class names, model config).
        label: names the run in the log.
        trains: ``digital``, ``aihwkit`` or ``fast``: what the GPU must support.
    """

    model: nn.Module
    make_optimizer: OptimizerFactory
    data: PreparedData
    train_cfg: TrainConfig
    out_dir: str | Path
    record: dict[str, Any]
    checkpoint: dict[str, Any]
    label: str
    trains: str = "digital"


def train_and_write(run: TrainingRun, context: RunContext) -> dict[str, Any]:
    """Train on the selected device (resuming from saved state if any), write the run folder, drop the saved state.

    Returns the final metrics (``final.json``).

    Raises:
        DeviceError: before training, if ``context.device`` cannot be honoured.
    """
    device = select_device(context.device, run.trains)
    log.info("%s: training on %s (compute.device %s)", run.label, device, context.device)
    store = None
    if context.resume.enabled:
        store = ResumeStore(
            state_folder(context.resume.folder, run.out_dir), fingerprint(run.record),
            context.resume.every_epochs, context.resume.keep,
        )
    with float32_products(context.tf32):
        history = fit(
            run.model, run.make_optimizer, run.data, run.train_cfg, device, run.label, store=store,
            execution=context.execution,
        )
    record = run.record
    if run.trains == FAST:
        from analog_tl.simulator.backend import describe

        record = {**record, "simulator": {**record.get("simulator", {}), **describe(device)}}
    full_record = {
        **record,
        "device": compute_record(device, context.tf32),
        "execution": to_dict(context.execution),
        "workflow_config": context.workflow_config,
    }
    checkpoint = {"state_dict": run.model.state_dict(), **run.checkpoint}
    final = write_run(RunPaths.in_folder(run.out_dir), history, checkpoint, full_record)
    if store is not None:
        store.clear()
    return final

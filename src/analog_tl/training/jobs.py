"""What every training job is: its data, its model and training settings, its run folder, its run context."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from analog_tl.config import ModelConfig, TrainConfig
from analog_tl.training.runner import RunContext


@dataclass(frozen=True, kw_only=True)
class TrainingJob:
    """One training job of the workflow (pre-training or fine-tuning); the step jobs add their own fields.

    Attributes:
        data_path: the prepared data file (``.npz``, checksum-checked against its sidecar when loaded).
        model_cfg: the backbone.
        train_cfg: optimiser, budget and seed; ``train_cfg.seed`` seeds the fresh head, the batches and,
            with the fast simulator, the tiles' runtime noise.
        out_dir: the run folder the job writes (:class:`~analog_tl.training.artifacts.RunPaths`).
        context: settings that do not change what the run computes (device, resume, execution).
    """

    data_path: str | Path
    model_cfg: ModelConfig
    train_cfg: TrainConfig
    out_dir: str | Path
    context: RunContext = field(default_factory=RunContext)

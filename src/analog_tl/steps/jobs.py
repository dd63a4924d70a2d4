"""What each training step's job is: the fields a ``scripts/*.py`` step reads from Snakemake and hands to its step.

Each job extends :class:`~analog_tl.training.jobs.TrainingJob` (data, model,
training settings, run folder, run context); the pre-trained model and its
transfer noise are one :class:`Transfer`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analog_tl.analog.sweeps import SweepPoint
from analog_tl.config import AnalogConfig, ModelConfig
from analog_tl.training.jobs import TrainingJob
from analog_tl.vocabulary import ALL_LAYERS, AUTO


@dataclass(frozen=True, kw_only=True)
class Transfer:
    """The pre-trained model and how its weights are programmed onto the analog tiles (Eq. 1).

    Attributes:
        pretrained_dir: the pre-training run folder (its model is checksum-checked when loaded).
        tau: transfer-noise std in weight units: ``W = W_pre + tau N(0, 1)``, drawn once before fine-tuning.
        noise_seed: seed of the noise draw, combined with the run's seed
            (:func:`~analog_tl.steps.conversion.noise_generator`).
        head_noise: whether the fresh head is programmed with noise too (False: noise on pre-trained weights only).
    """

    pretrained_dir: str | Path
    tau: float
    noise_seed: int
    head_noise: bool = True


@dataclass(frozen=True, kw_only=True)
class DigitalJob(TrainingJob):
    """Digital transfer learning from the pre-trained model, or digital training from scratch.

    Attributes:
        task: the target task's name (run label and record).
        pretrained_dir: the pre-training run folder; None trains from scratch.
    """

    task: str
    pretrained_dir: str | Path | None = None


@dataclass(frozen=True, kw_only=True)
class AnalogJob(TrainingJob):
    """c-TTv2 fine-tuning of a converted pre-trained model, or analog training from scratch.

    Attributes:
        analog_cfg: the devices, Table I values and simulator of this run.
        task: the target task's name.
        init_path: the converted model (``analog_model.pt``, its record beside it); None trains from scratch.
        tau: the converted model's transfer noise (recorded only); None for scratch.
        mode: the run's mode name; None: ``analog_tl`` with ``init_path``, else ``analog_scratch``.
    """

    analog_cfg: AnalogConfig
    task: str
    init_path: str | Path | None = None
    tau: float | None = None
    mode: str | None = None


@dataclass(frozen=True, kw_only=True)
class SweepJob(TrainingJob):
    """One device-sweep point: analog TL on the nominal device with ``point``'s fields applied.

    Attributes:
        analog_cfg: the nominal analog settings the point modifies.
        task: the target task's name.
        transfer: the pre-trained model and its transfer noise.
        point: the sweep and its value.
    """

    analog_cfg: AnalogConfig
    task: str
    transfer: Transfer
    point: SweepPoint


@dataclass(frozen=True, kw_only=True)
class CompareJob(TrainingJob):
    """One comparison run: analog TL with one algorithm, grid point and device, some layers analog.

    Attributes:
        analog_cfg: the analog settings, its device the compared one.
        task: the target task's name.
        transfer: the pre-trained model and its transfer noise.
        algorithm: the arm's algorithm: a name of vocabulary ``ALGORITHMS`` or of ``compare.variants``.
        base_algorithm: the aihwkit ``build_config`` name it builds (``algorithm`` itself unless a variant).
        fixed_fields: a variant's compound fields, set under the grid point's.
        hyperparameters: the grid point's compound fields ({} for the default point).
        layers: which Linear layers are analog (``all``, ``backbone``, ``head``: vocabulary ``ANALOG_LAYER_SETS``).
        device_name: the device's name in ``compare.devices``.
        simulator_policy: ``auto`` (the fast simulator where it is exact) or ``aihwkit``.
    """

    analog_cfg: AnalogConfig
    task: str
    transfer: Transfer
    algorithm: str
    base_algorithm: str | None = None
    fixed_fields: dict[str, Any] = field(default_factory=dict)
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    layers: str = ALL_LAYERS
    device_name: str
    simulator_policy: str = AUTO


@dataclass(frozen=True, kw_only=True)
class ConversionJob:
    """Convert the head-swapped pre-trained model to analog, with transfer noise, once per (task, tau, seed).

    Attributes:
        data_path: the task's prepared data (checksum-checked; only its class names are read).
        model_cfg: the backbone of the pre-trained model.
        analog_cfg: the analog settings the model is converted to.
        transfer: the pre-trained model and its transfer noise.
        seed: the run seed: seeds the fresh head and, with ``transfer.noise_seed``, the noise draw.
        out_model: the analog model written (its JSON record goes beside it).
        out_noise: the realised noise per layer (CSV) written.
    """

    data_path: str | Path
    model_cfg: ModelConfig
    analog_cfg: AnalogConfig
    transfer: Transfer
    seed: int
    out_model: str | Path
    out_noise: str | Path

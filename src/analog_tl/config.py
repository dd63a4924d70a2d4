"""Typed views of the workflow configuration.

The YAML config is validated against ``workflow/schemas/config.schema.yaml``
(which also fills defaults) before any job runs. Each step receives only the
sections it depends on, through its rule's ``params``, and turns them into
the dataclasses below with :func:`from_dict`.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any, TypeVar

from analog_tl.errors import ConfigError
from analog_tl.vocabulary import AIHWKIT, SYNTHETIC

T = TypeVar("T")


@dataclass(frozen=True)
class SyntheticConfig:
    """Sizes of the embedded synthetic data (images per class)."""

    seed: int = 0
    source_train_per_class: int = 500
    source_test_per_class: int = 100
    target_train_per_class: int = 60
    target_test_per_class: int = 50
    pixel_noise: float = 12.0


@dataclass(frozen=True)
class DataConfig:
    """Where the images come from and how they are split.

    ``source`` is ``synthetic``, ``folder`` or ``torchvision``. For ``folder``,
    ``pretrain_path``/``finetune_path`` are image-folder roots or ``.tar.gz``
    archives of one; for ``torchvision`` they are the download roots.
    """

    source: str = SYNTHETIC
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)
    pretrain_path: str = ""
    finetune_path: str = ""
    download: bool = True
    validation_fraction: float = 0.1
    split_seed: int = 0
    max_train_per_class: int | None = None
    max_test_per_class: int | None = None


@dataclass(frozen=True)
class ModelConfig:
    """Backbone choice: ``swin`` with a preset (and overrides) or any ``timm`` model by name."""

    backbone: str = "swin"
    preset: str = "small"
    swin_overrides: dict[str, Any] = field(default_factory=dict)
    timm_name: str = ""
    timm_kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AugmentConfig:
    """Training-time augmentation: random crop after zero padding, horizontal flip."""

    crop_padding: int = 0
    horizontal_flip: bool = False


@dataclass(frozen=True)
class TrainConfig:
    """One training run: optimiser, budget and seeds."""

    epochs: int = 3
    batch_size: int = 8
    lr: float = 0.01
    optimizer: str = "sgd"  # sgd | adamw
    momentum: float = 0.0
    weight_decay: float = 0.0
    lr_schedule: str = "constant"  # constant | cosine (per step, after linear warm-up)
    warmup_epochs: float = 0.0
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    seed: int = 0
    freeze_digital: bool = False  # analog runs: train only the analog tiles (LayerNorms, biases, tables frozen)


@dataclass(frozen=True)
class ExecutionConfig:
    """How a run evaluates and reports, not what it trains: kept out of rule params and resume fingerprints.

    ``eval_batch_size`` is the number of images evaluated at once (memory);
    ``log_every_steps`` the interval of progress lines. With analog forward
    noise, the noise an evaluated image sees depends on its batch, so evaluated
    errors can differ within that noise, as with another thread count. Its fields are
    :data:`analog_tl.vocabulary.EXECUTION_KEYS`, the keys kept out of rule params.
    """

    eval_batch_size: int = 256
    log_every_steps: int = 50


@dataclass(frozen=True)
class DeviceConfig:
    """The analog device: an aihwkit device class with explicit fields.

    ``fields`` are set on the device after construction (e.g. ``w_max``,
    ``dw_min``); the +-1 weight range is explicit in the default config.
    """

    name: str = "SoftBoundsReferenceDevice"
    fields: dict[str, Any] = field(default_factory=lambda: {"w_max": 1.0, "w_min": -1.0})


@dataclass(frozen=True)
class AnalogConfig:
    """c-TTv2: Table I values, the device, the tile mapping, and which simulator trains the tiles."""

    device: DeviceConfig = field(default_factory=DeviceConfig)
    compound: dict[str, Any] = field(default_factory=dict)
    mapping: dict[str, Any] = field(default_factory=dict)
    forward: dict[str, Any] = field(default_factory=dict)
    backward: dict[str, Any] = field(default_factory=dict)
    update: dict[str, Any] = field(default_factory=dict)
    construction_seed: int = 1  # aihwkit treats 0 as "draw a clock-seeded device population"
    simulator: str = AIHWKIT  # aihwkit | fast (analog_tl.simulator: same step, compiled kernel, seeded)


def from_dict(cls: type[T], data: dict[str, Any] | None) -> T:
    """Build dataclass ``cls`` from a (validated) dict, recursing into nested dataclasses.

    Raises:
        ConfigError: on a key that ``cls`` does not have.
    """
    data = dict(data or {})
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"unknown key(s) for {cls.__name__}: {unknown}; allowed: {sorted(names)}")
    kwargs = {}
    for name, value in data.items():
        hint = hints[name]
        if isinstance(hint, types.UnionType):
            hint = next(a for a in typing.get_args(hint) if a is not type(None))
        kwargs[name] = from_dict(hint, value) if dataclasses.is_dataclass(hint) else value
    return cls(**kwargs)


def to_dict(obj: Any) -> dict[str, Any]:
    """Plain-dict form of a config dataclass (for saved run configs)."""
    return dataclasses.asdict(obj)

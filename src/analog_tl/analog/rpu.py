"""The c-TTv2 ``rpu_config`` of the paper's Table I, and its full resolved form.

:func:`build_rpu_config` starts from aihwkit's ``build_config("c-ttv2", device)``,
sets every Table I value explicitly (whatever aihwkit's defaults are), then
applies the config's overrides. :func:`resolve` turns the result into a plain
dict holding *every* simulated setting, Table I or not (``fast_lr``, tile
size limits, IO parameters, bias handling, ...), for each run's saved config.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any

from analog_tl.analog.devices import AnalogConfigError
from analog_tl.config import AnalogConfig

__all__ = ["AnalogConfigError", "TABLE_I_COMPOUND", "build_rpu_config", "resolve", "table_i_view"]

# Table I of the paper: c-TTv2 hyper-parameters set on the ChoppedTransferCompound.
# The optimiser learning rate (0.01) and batch size (8) are training settings.
TABLE_I_COMPOUND: dict[str, Any] = {
    "transfer_every": 1.0,
    "auto_granularity": 10000.0,
    "momentum": 0.0,
    "auto_scale": True,
    "in_chop_prob": 0.10,
    "units_in_mbatch": False,
    "forget_buffer": True,
    "auto_momentum": 0.99,
}


def build_rpu_config(config: AnalogConfig) -> Any:
    """The c-TTv2 ``UnitCellRPUConfig`` of Table I on ``config.device``, with ``config.compound`` and the other overrides.

    The same construction as every algorithm of the comparison
    (:func:`analog_tl.analog.algorithms.build_algorithm_config`), with the
    compound overrides (e.g. ``fast_lr``) as its grid point.
    """
    from analog_tl.analog.algorithms import build_algorithm_config

    return build_algorithm_config("c-ttv2", config, config.compound)[0]


def resolve(obj: Any) -> Any:
    """Plain (JSON-ready) form of an aihwkit config: every dataclass field, enums by name."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out: dict[str, Any] = {"__class__": type(obj).__name__}
        for f in dataclasses.fields(obj):
            out[f.name] = resolve(getattr(obj, f.name))
        return out
    if isinstance(obj, enum.Enum):
        return obj.name
    if isinstance(obj, (list, tuple)):
        return [resolve(v) for v in obj]
    if isinstance(obj, dict):
        return {str(k): resolve(v) for k, v in obj.items()}
    if isinstance(obj, (bool, int, float, str)) or obj is None:
        return obj
    if isinstance(obj, type):
        return obj.__name__
    return repr(obj)


def table_i_view(rpu_config: Any, lr: float, batch_size: int) -> dict[str, Any]:
    """The Table I rows as simulated (read back from the built config; None where the compound lacks the field)."""
    compound = rpu_config.device
    return {
        "learning_rate": lr,
        "batch_size": batch_size,
        **{key: getattr(compound, key, None) for key in TABLE_I_COMPOUND},
    }

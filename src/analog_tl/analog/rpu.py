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

from analog_tl.analog.algorithms import build_algorithm_config
from analog_tl.analog.table_i import TABLE_I_COMPOUND, table_i_view
from analog_tl.config import AnalogConfig
from analog_tl.errors import AnalogConfigError
from analog_tl.vocabulary import PAPER_ALGORITHM

__all__ = ["AnalogConfigError", "TABLE_I_COMPOUND", "build_rpu_config", "resolve", "table_i_view"]


def build_rpu_config(config: AnalogConfig) -> Any:
    """The c-TTv2 ``UnitCellRPUConfig`` of Table I on ``config.device``, with ``config.compound`` and the other overrides.

    The same construction as every algorithm of the comparison
    (:func:`analog_tl.analog.algorithms.build_algorithm_config`), with the
    compound overrides (e.g. ``fast_lr``) as its grid point.
    """
    return build_algorithm_config(PAPER_ALGORITHM, config, config.compound)[0]


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

"""Analog training algorithms for the comparison experiments, built through aihwkit's ``build_config``.

``ALGORITHMS`` names what each algorithm is in aihwkit 1.2.0 (``build_config``
builds the rpu_config; the compound is ``rpu_config.device``), keyed by the
names of :data:`analog_tl.vocabulary.ALGORITHMS` (every one, in their order). Table I of the
paper (:data:`~analog_tl.analog.table_i.TABLE_I_COMPOUND`) is set on every
algorithm whose compound has the field, except where the field defines the
algorithm: TTv2 is aihwkit's ``ChoppedTransferCompound`` with
``in_chop_prob = 0``, so Table I's chopper probability (0.1, which would make
it c-TTv2) is not applied to it. :func:`table_i_fields` lists what each
algorithm takes; ``run.json`` records what was applied and what does not exist.
The hyper-parameters the paper does not give (``fast_lr`` and the like) come
from the run's grid point, chosen on validation by the workflow.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from analog_tl.analog.devices import build_device, device_factory, set_fields
from analog_tl.analog.table_i import TABLE_I_COMPOUND
from analog_tl.config import AnalogConfig
from analog_tl.errors import AnalogConfigError
from analog_tl.vocabulary import PAPER_ALGORITHM

ALGORITHMS: dict[str, str] = {
    "sgd": "analog SGD: pulsed rank-one updates on one device per weight (SingleRPUConfig)",
    "mp": "mixed precision: gradient accumulated digitally, transferred in device steps (MixedPrecisionCompound)",
    "tiki-taka": "Tiki-Taka v1: fast matrix A, transfers to C (TransferCompound)",
    "ttv2": "Tiki-Taka v2: A, digital buffer H, transfers to C (ChoppedTransferCompound, in_chop_prob 0)",
    "c-ttv2": "chopped Tiki-Taka v2, the paper's algorithm (ChoppedTransferCompound)",
    "agad": "AGAD: c-TTv2 with a dynamic reference of A (DynamicTransferCompound)",
}
# Table I fields that define the algorithm and are therefore kept at aihwkit's value for it.
DEFINING_FIELDS: dict[str, frozenset[str]] = {"ttv2": frozenset({"in_chop_prob"})}


def _check_algorithm(algorithm: str) -> None:
    if algorithm not in ALGORITHMS:
        raise AnalogConfigError(f"compare.algorithms: unknown algorithm {algorithm!r}; use one of {list(ALGORITHMS)}")


def compound_fields(rpu_config: Any) -> set[str]:
    """Field names of ``rpu_config``'s compound (``rpu_config.device``)."""
    return {f.name for f in dataclasses.fields(rpu_config.device)}


def table_i_fields(algorithm: str, rpu_config: Any) -> tuple[dict[str, Any], list[str]]:
    """Table I values that ``algorithm`` takes (on its compound), and the Table I fields it does not take."""
    names = compound_fields(rpu_config) - DEFINING_FIELDS.get(algorithm, frozenset())
    taken = {key: _as_field_type(getattr(rpu_config.device, key), value)
             for key, value in TABLE_I_COMPOUND.items() if key in names}
    return taken, sorted(set(TABLE_I_COMPOUND) - set(taken))


def _as_field_type(current: Any, value: Any) -> Any:
    """``value`` in the type of the field's ``current`` value where that loses nothing (mp's integer transfer_every)."""
    if type(current) is int and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def build_algorithm_config(
    algorithm: str, analog_cfg: AnalogConfig, hyperparameters: dict[str, Any] | None = None
) -> tuple[Any, dict[str, Any]]:
    """The rpu_config of ``algorithm`` on ``analog_cfg.device``, with Table I and ``hyperparameters`` applied.

    ``analog_cfg``'s mapping, forward, backward and update overrides apply to
    every algorithm; its ``compound`` overrides (c-TTv2 fields) do not.
    Returns the rpu_config and what was applied (for ``run.json``).
    """
    from aihwkit.simulator.configs import build_config

    _check_algorithm(algorithm)
    hyperparameters = dict(hyperparameters or {})
    device = device_factory(build_device(analog_cfg.device))
    rpu_config = build_config(algorithm, device, construction_seed=analog_cfg.construction_seed)
    taken, not_taken = table_i_fields(algorithm, rpu_config)
    where = "analog.compound" if algorithm == PAPER_ALGORITHM else f"the grid of {algorithm}"
    set_fields(rpu_config.device, {**taken, **hyperparameters}, where)
    if "construction_seed" in compound_fields(rpu_config):
        rpu_config.device.construction_seed = analog_cfg.construction_seed
    for section in ("mapping", "forward", "backward", "update"):
        overrides = getattr(analog_cfg, section)
        if overrides:
            set_fields(getattr(rpu_config, section), overrides, f"analog.{section}")
    return rpu_config, {
        "algorithm": algorithm,
        "description": ALGORITHMS[algorithm],
        "rpu_config_class": type(rpu_config).__name__,
        "compound_class": type(rpu_config.device).__name__,
        "table_i_applied": taken,
        "table_i_not_applicable": not_taken,
        "hyperparameters": hyperparameters,
    }

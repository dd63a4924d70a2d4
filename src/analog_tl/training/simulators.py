"""Which simulator trains an analog model: the check of ``analog.simulator`` and the model and optimiser it trains."""

from __future__ import annotations

import functools
from typing import Any

from torch import nn

from analog_tl.config import AnalogConfig, ModelConfig, TrainConfig
from analog_tl.errors import AnalogConfigError
from analog_tl.models.factory import build_model
from analog_tl.training.loop import OptimizerFactory
from analog_tl.training.optimizers import analog_optimizer, simulator_optimizer
from analog_tl.vocabulary import AIHWKIT, FAST, SIMULATORS


def check_simulator(analog_cfg: AnalogConfig, rpu_config: Any) -> None:
    """Fail before any work if ``analog_cfg.simulator`` is unknown or cannot simulate ``rpu_config``."""
    if analog_cfg.simulator not in SIMULATORS:
        raise AnalogConfigError(f"analog.simulator: unknown simulator {analog_cfg.simulator!r}; use one of {SIMULATORS}")
    if analog_cfg.simulator == FAST:
        from analog_tl.simulator import check_scope

        check_scope(rpu_config)


def trainable(
    analog: nn.Module, rpu_config: Any, analog_cfg: AnalogConfig, model_cfg: ModelConfig, train_cfg: TrainConfig,
    n_classes: int,
) -> tuple[nn.Module, OptimizerFactory, dict[str, Any]]:
    """The model that trains, its optimiser factory and the simulator's record.

    aihwkit: the converted model and aihwkit's ``AnalogSGD``. fast: the
    simulator's copy of it (same devices and state, tiles keyed by the run's
    seed) and the simulator's ``AnalogSGD``.
    """
    if analog_cfg.simulator == AIHWKIT:
        record = {"name": AIHWKIT, "runtime_noise": "clock-seeded (aihwkit offers no seed): not bit-reproducible"}
        return analog, functools.partial(analog_optimizer, config=train_cfg), record
    from analog_tl import simulator

    template = build_model(model_cfg, n_classes, seed=0)  # structure only: every tensor is copied from ``analog``
    model = simulator.from_aihwkit(analog, template, rpu_config, seed=train_cfg.seed)
    record = simulator.describe(model, seed=train_cfg.seed)
    return model, functools.partial(simulator_optimizer, config=train_cfg), record

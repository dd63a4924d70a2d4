"""The optimisers of the training runs: digital SGD/AdamW, aihwkit's and the fast simulator's ``AnalogSGD``.

Each takes the model and the run's :class:`~analog_tl.config.TrainConfig`;
bound to the config with :func:`functools.partial` it is the
``make_optimizer`` factory of :func:`analog_tl.training.loop.fit`.
"""

from __future__ import annotations

import torch
from torch import nn

from analog_tl.config import TrainConfig


def digital_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """SGD (Table I for fine-tuning) or AdamW, as ``config.optimizer`` says."""
    if config.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    raise ValueError(f"unknown optimizer {config.optimizer!r}; use sgd or adamw")


def analog_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """aihwkit's ``AnalogSGD`` with the run's learning rate, regrouped for the analog tiles."""
    from aihwkit.optim import AnalogSGD

    optimizer = AnalogSGD(model.parameters(), lr=config.lr)
    optimizer.regroup_param_groups(model)
    return optimizer


def simulator_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """The fast simulator's ``AnalogSGD`` with the run's learning rate."""
    from analog_tl.simulator import AnalogSGD

    return AnalogSGD(model, lr=config.lr)

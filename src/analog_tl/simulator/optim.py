"""``AnalogSGD``: plain SGD on the digital parameters, the c-TTv2 pulsed update on every tile.

As aihwkit's ``AnalogSGD``: each step first steps the digital parameters
(biases, LayerNorms, ...), then gives each tile the vectors and gradients of
the backward passes since the last step at the optimiser's current learning
rate (so a learning-rate schedule reaches the tiles' transfer gain).
"""

from __future__ import annotations

import torch
from torch import nn

from analog_tl.simulator.tile import SimTile


class AnalogSGD(torch.optim.SGD):
    """SGD with learning rate ``lr`` on ``model``'s parameters plus the pulsed update of its tiles."""

    def __init__(self, model: nn.Module, lr: float) -> None:
        params = list(model.parameters())
        if not params:  # torch refuses an empty list; an all-analog model without biases has none
            self._placeholder = nn.Parameter(torch.zeros(0), requires_grad=False)
            params = [self._placeholder]
        super().__init__(params, lr=lr)
        self.tiles = [m for m in model.modules() if isinstance(m, SimTile)]

    @torch.no_grad()
    def step(self, closure=None):  # noqa: ANN001 - torch's signature
        loss = super().step(closure)
        lr = self.param_groups[0]["lr"]
        for tile in self.tiles:
            tile.apply_pending(lr)
        return loss

    def zero_grad(self, set_to_none: bool = True) -> None:
        super().zero_grad(set_to_none)
        for tile in self.tiles:
            tile.pending.clear()

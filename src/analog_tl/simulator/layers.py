"""``AnalogLinear``: a linear layer on c-TTv2 tiles, split as aihwkit splits it, with a digital bias.

A layer with more than ``max_input_size`` inputs or ``max_output_size``
outputs is split into near-equal tiles (aihwkit's ``TileModuleArray``); tile
outputs along the input split are summed in digital, then the bias (a torch
parameter, trained digitally) is added. The backward pass stores each tile's
input vectors and output gradients; :class:`~analog_tl.simulator.optim.AnalogSGD`
turns them into the tile's pulsed update.
"""

from __future__ import annotations

import torch
from torch import nn

from analog_tl.simulator.settings import TileSettings
from analog_tl.simulator.tile import SimTile


def split_sizes(size: int, max_size: int) -> list[int]:
    """aihwkit's ``TileModuleArray.get_split_sizes``: near-equal chunks of at most ``max_size``."""
    if max_size <= 0:
        return [size]
    n_splits = (size + max_size - 1) // max_size
    base, extra = divmod(size, n_splits)
    return [base + (i < extra) for i in range(n_splits)]


class _TileProduct(torch.autograd.Function):
    """y = tile(x) forward; backward stores (x, dy) for the update and returns the analog backward."""

    @staticmethod
    def forward(ctx, handle: torch.Tensor, x: torch.Tensor, tile: SimTile) -> torch.Tensor:  # noqa: ARG004
        ctx.tile = tile
        ctx.save_for_backward(x)
        return tile.forward_mvm(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (x,) = ctx.saved_tensors
        tile: SimTile = ctx.tile
        grad = grad.contiguous()
        tile.pending.append((x.detach(), grad.detach()))
        grad_x = tile.backward_mvm(grad) if ctx.needs_input_grad[1] else None
        return None, grad_x, None


class AnalogLinear(nn.Module):
    """``y = W x + b`` with W on c-TTv2 tiles (see module docstring); x [..., in] -> y [..., out]."""

    def __init__(self, in_features: int, out_features: int, bias: bool, settings: TileSettings) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.in_sizes = split_sizes(in_features, settings.max_input_size)
        self.out_sizes = split_sizes(out_features, settings.max_output_size)
        # tiles in aihwkit's analog_tiles() order: input split outer, output split inner
        self.tiles = nn.ModuleList(SimTile(o, i, settings) for i in self.in_sizes for o in self.out_sizes)
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None
        self._handle = torch.empty(0, requires_grad=True)  # puts the layer on the autograd tape

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, tiles={len(self.tiles)}"

    def tile_grid(self) -> list[list[SimTile]]:
        """Tiles as a grid: ``grid[input split][output split]``."""
        n_out = len(self.out_sizes)
        return [list(self.tiles[k * n_out:(k + 1) * n_out]) for k in range(len(self.in_sizes))]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        flat = x.reshape(-1, self.in_features)
        result = None
        for x_part, row in zip(torch.split(flat, self.in_sizes, dim=1), self.tile_grid()):
            x_part = x_part.contiguous()
            part = torch.cat([_TileProduct.apply(self._handle, x_part, tile) for tile in row], dim=1)
            result = part if result is None else result + part
        if self.bias is not None:
            result = result + self.bias
        return result.reshape(*shape[:-1], self.out_features)

    def get_weights(self) -> torch.Tensor:
        """The visible weights [out, in], tiles assembled."""
        return torch.cat([torch.cat([t.weights() for t in row], dim=0) for row in self.tile_grid()], dim=1)

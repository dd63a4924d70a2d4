"""Independent device-to-device populations: one construction seed per tile.

aihwkit draws a tile's device-to-device parameters (step sizes, bounds,
reference, ...) from the compound's ``construction_seed`` when the tile is
built, and it rebuilds that generator for every tile. Left alone, every layer,
and every tile of a split layer, gets the same map: crosspoint (i, j) of every
tile has the same step size and bounds. Here each tile gets its own population
instead, drawn from the seed :func:`tile_seed` derives from
(``construction_seed``, layer name, tile index).

:func:`reseed_tiles` does what aihwkit does when it loads a saved tile: it
builds a fresh tile of the same size and config with the per-tile seed and
sets the old tile's hidden parameters (device maps, and the fresh weights) from
it; the caller then programs the weights again, so they are clipped to the new
bounds. A ``construction_seed`` of 0 keeps aihwkit's behaviour for 0 (a new,
clock-seeded population per tile) and records no seeds.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass
from typing import Any

from torch import nn

from analog_tl.seeds import tile_seed

@dataclass(frozen=True)
class TileSeed:
    """The construction seed of one tile: layer name, tile index in ``analog_tiles()`` order, shape (out, in)."""

    layer: str
    tile: int
    out_size: int
    in_size: int
    seed: int

    def as_dict(self) -> dict[str, Any]:
        """Plain dict, for ``run.json``."""
        return asdict(self)


def _with_seed(rpu_config: Any, seed: int) -> Any:
    """A copy of ``rpu_config`` whose device (the compound, or the single device) has ``construction_seed``."""
    config = copy.deepcopy(rpu_config)
    config.device.construction_seed = seed
    return config


def population_seeds(model: nn.Module, construction_seed: int) -> list[TileSeed]:
    """The construction seed of every analog tile of ``model`` (empty for ``construction_seed`` 0)."""
    if construction_seed == 0:
        return []
    return [
        TileSeed(name, index, tile.out_size, tile.in_size, tile_seed(construction_seed, name, index))
        for name, layer in model.named_analog_layers()
        for index, tile in enumerate(layer.analog_tiles())
    ]


def reseed_tiles(model: nn.Module, construction_seed: int) -> list[TileSeed]:
    """Give every analog tile of ``model`` its own device population; return the seeds used.

    The tiles' weights are overwritten: program them again afterwards.
    """
    seeds = population_seeds(model, construction_seed)
    tiles = [tile for _, layer in model.named_analog_layers() for tile in layer.analog_tiles()]
    for tile, entry in zip(tiles, seeds):
        config = _with_seed(tile.rpu_config, entry.seed)
        fresh = type(tile)(tile.out_size, tile.in_size, config, bias=tile.analog_bias)
        tile.tile.set_hidden_parameters(fresh.tile.get_hidden_parameters())
    return seeds

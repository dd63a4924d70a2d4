"""Helpers of the simulator tests: aihwkit tiles and their simulator twins on the same devices."""

from __future__ import annotations

from typing import Any

import torch

from analog_tl.simulator.convert import load_aihwkit_tile
from analog_tl.simulator.settings import tile_settings
from analog_tl.simulator.tile import SimTile

TABLE_I = {"transfer_every": 1.0, "auto_granularity": 10000.0, "momentum": 0.0, "auto_scale": True,
           "in_chop_prob": 0.10, "units_in_mbatch": False, "forget_buffer": True, "auto_momentum": 0.99}
DETERMINISTIC_DEVICE = {"dw_min_dtod": 0.0, "up_down_dtod": 0.0, "w_max_dtod": 0.0, "w_min_dtod": 0.0, "dw_min_std": 0.0}


def rpu_config(device: Any = None, construction_seed: int = 7, **compound: Any) -> Any:
    """Table I c-TTv2 on ``device`` (default: the nominal soft-bounds device), compound overrides applied."""
    from aihwkit.simulator.configs import build_config
    from aihwkit.simulator.configs.devices import SoftBoundsReferenceDevice

    device = device if device is not None else SoftBoundsReferenceDevice(w_max=1.0, w_min=-1.0)
    config = build_config("c-ttv2", device, construction_seed=construction_seed)
    for key, value in {**TABLE_I, **compound}.items():
        setattr(config.device, key, value)
    config.device.construction_seed = construction_seed
    return config


def tile_pair(config: Any, out_size: int, in_size: int, weights: torch.Tensor | None = None, key: int = 1):
    """An aihwkit ``AnalogTile`` and a :class:`SimTile` with the same state."""
    from aihwkit.simulator.tiles import AnalogTile

    tile = AnalogTile(out_size, in_size, config)
    if weights is not None:
        tile.set_weights(weights)
    sim = SimTile(out_size, in_size, tile_settings(config), key=key)
    load_aihwkit_tile(sim, tile)
    return tile, sim


def aihwkit_state(tile: Any) -> dict[str, torch.Tensor]:
    """A, C, H, chopper, m_x, m_d and pointer of an aihwkit c-TTv2 tile."""
    hidden = tile.get_hidden_parameters()
    extra = tile.tile.dump_extra()
    shape = (tile.out_size, tile.in_size)
    return {
        "A": hidden["hidden_weights_0"].reshape(shape), "C": hidden["hidden_weights_1"].reshape(shape),
        "H": hidden["buffered_FP_weight_0"].reshape(shape),
        "chopper": torch.tensor(extra["rpu.rpu_device.in_chopper"]).to(torch.uint8),
        "m": torch.tensor([extra["rpu.rpu_device.m_x"][0], extra["rpu.rpu_device.m_d"][0]]),
        "pointer": torch.tensor([int(extra["rpu.rpu_device.current_slice_indices"][0])]),
    }


def sim_state(sim: SimTile) -> dict[str, torch.Tensor]:
    """The same quantities of a :class:`SimTile`."""
    return {"A": sim.fast_apparent, "C": sim.slow_apparent, "H": sim.transfer_buffer, "chopper": sim.in_chopper,
            "m": sim.running_max, "pointer": sim.pointer}


def aihwkit_update(tile: Any, x: torch.Tensor, d: torch.Tensor, lr: float) -> None:
    """One aihwkit update of ``tile`` (as AnalogSGD does it: the tile's learning rate, then update)."""
    tile.set_learning_rate(lr)
    tile.update(x, d)

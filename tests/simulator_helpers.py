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


def rpu_config(device: Any = None, construction_seed: int = 7, algorithm: str = "c-ttv2", **compound: Any) -> Any:
    """Table I ``algorithm`` (c-TTv2 or AGAD) on ``device`` (default: the nominal soft-bounds device), compound
    overrides applied. AGAD keeps its regular chopper (``in_chop_random`` False) unless overridden."""
    from aihwkit.simulator.configs import build_config
    from aihwkit.simulator.configs.devices import SoftBoundsReferenceDevice

    device = device if device is not None else SoftBoundsReferenceDevice(w_max=1.0, w_min=-1.0)
    config = build_config(algorithm, device, construction_seed=construction_seed)
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
    """A, C, H, chopper, m_x, m_d and pointer of an aihwkit c-TTv2 tile; an AGAD tile's also its running and
    past means, switched flags and transfer counter."""
    hidden = tile.get_hidden_parameters()
    extra = tile.tile.dump_extra()
    shape = (tile.out_size, tile.in_size)
    agad = "running_mean_weight" in hidden
    state = {
        "A": hidden["hidden_weights_0"].reshape(shape), "C": hidden["hidden_weights_1"].reshape(shape),
        "H": hidden["buffered_FP_weight" if agad else "buffered_FP_weight_0"].reshape(shape),
        "chopper": torch.tensor(extra["rpu.rpu_device.in_chopper"]).to(torch.uint8),
        "m": torch.tensor([extra["rpu.rpu_device.m_x"][0], extra["rpu.rpu_device.m_d"][0]]),
        "pointer": torch.tensor([int(extra["rpu.rpu_device.current_slice_indices"][0])]),
    }
    if agad:
        state.update({
            "mean": hidden["running_mean_weight"].reshape(shape), "past": hidden["past_mean_weight"].reshape(shape),
            "switched": torch.tensor(extra["rpu.rpu_device.in_chopper_switched"]).to(torch.uint8),
            "counter": torch.tensor([int(extra["rpu.rpu_device.transfer_counter"][0])]),
        })
    return state


def sim_state(sim: SimTile) -> dict[str, torch.Tensor]:
    """The same quantities of a :class:`SimTile`."""
    state = {"A": sim.fast_apparent, "C": sim.slow_apparent, "H": sim.transfer_buffer, "chopper": sim.in_chopper,
             "m": sim.running_max, "pointer": sim.pointer}
    if sim.agad:
        state.update({"mean": sim.running_mean, "past": sim.past_mean, "switched": sim.in_chopper_switched,
                      "counter": sim.transfer_counter})
    return state


def aihwkit_update(tile: Any, x: torch.Tensor, d: torch.Tensor, lr: float) -> None:
    """One aihwkit update of ``tile`` (as AnalogSGD does it: the tile's learning rate, then update)."""
    tile.set_learning_rate(lr)
    tile.update(x, d)


# --- the deterministic configuration of validation protocol V1 (test_simulator_exact, test_simulator_gpu) ---


def assert_bit_exact_batches(config: Any, p: int, n: int, lr: float, seed: int, batches: int = 60,
                             check: Any = None) -> tuple[Any, SimTile, int]:
    """V1: ``batches`` deterministic batches (sizes 1, 3, 7, 16) on an aihwkit tile and its simulator twin from
    the same random weights; every state tensor equal after each batch (and ``check(k, tile, sim)``).

    Returns the aihwkit tile, the simulator tile and the simulator's C pulses.
    """
    g = torch.Generator().manual_seed(seed)
    tile, sim = tile_pair(config, p, n, 0.3 * torch.randn(p, n, generator=g))
    drift = torch.where(torch.rand(p, generator=g) < 0.5, -1.0, 1.0)
    c_pulses = 0
    for k in range(batches):
        x, d = deterministic_batch([1, 3, 7, 16][k % 4], n, p, drift, g)
        aihwkit_update(tile, x, d, lr)
        c_pulses += int(sim.update(x, d, lr)[1])
        expected, got = aihwkit_state(tile), sim_state(sim)
        for key, value in expected.items():
            assert torch.equal(got[key].to(value.dtype), value), f"{key} differs after batch {k}"
        if check:
            check(k, tile, sim)
    return tile, sim, c_pulses


def assert_layers_train_bit_exact(analog: Any, sim: Any, steps: int, lr: float, seed: int) -> None:
    """A converted aihwkit model and its simulator twin (one split layer of 12 inputs and 5 outputs) trained
    ``steps`` AnalogSGD steps on token inputs [2, 7, 12] with a linear loss (so the output gradients are
    exact): every tile's state equal after each step."""
    from aihwkit.optim import AnalogSGD as AihwkitSGD

    from analog_tl.simulator import AnalogSGD

    g = torch.Generator().manual_seed(seed)
    theirs, ours = AihwkitSGD(analog.parameters(), lr=lr), AnalogSGD(sim, lr=lr)
    theirs.regroup_param_groups(analog)
    for step in range(steps):
        x = torch.randint(-1, 2, (2, 7, 12), generator=g).float()
        weights = torch.where(torch.rand(2, 7, 5, generator=g) < 0.5, -0.05, 0.05)
        for model, optimizer in ((analog, theirs), (sim, ours)):
            optimizer.zero_grad()
            (model(x) * weights).sum().backward()
            optimizer.step()
        for tile, sim_tile in zip(analog[0].analog_tiles(), sim[0].tiles):
            expected, got = aihwkit_state(tile), sim_state(sim_tile)
            for key, value in expected.items():
                assert torch.equal(got[key].to(value.dtype), value), f"{key} differs after step {step}"


def deterministic_device(**fields: Any) -> Any:
    """A soft-bounds reference device in [-1, 1] without cycle-to-cycle noise, ``fields`` applied."""
    from aihwkit.simulator.configs.devices import SoftBoundsReferenceDevice

    return SoftBoundsReferenceDevice(**{"w_max": 1.0, "w_min": -1.0, "dw_min_std": 0.0, **fields})


def deterministic_batch(
    m: int, n: int, p: int, drift: torch.Tensor, g: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """x in {0, +-xa}; |d| in {0} or [da/2, da], signs leaning on ``drift`` (so A grows towards its bounds)."""
    xa = 0.5 + float(torch.rand(1, generator=g))
    x = torch.randint(-1, 2, (m, n), generator=g).float() * xa
    x[:, 0] = xa
    da = 0.01 + 0.1 * float(torch.rand(1, generator=g))
    magnitude = (0.5 + 0.5 * torch.rand(m, p, generator=g)) * da
    sign = torch.where(torch.rand(m, p, generator=g) < 0.8, drift, -drift)
    d = magnitude * sign * (torch.rand(m, p, generator=g) < 0.8)
    d[:, 0] = da * drift[0]
    if m > 2:
        x[1] = 0.0  # an all-zero x vector: no pulses, the transfer still happens
        d[2] = 0.0  # an all-zero d vector
    return x, d


# name: (device fields, compound fields, learning rate, in size, out size)
DETERMINISTIC_VARIANTS = {
    "chopper 0, lr 0.5": ({}, {"in_chop_prob": 0.0}, 0.5, 6, 4),
    "chopper 1, lr 50": ({}, {"in_chop_prob": 1.0}, 50.0, 6, 4),
    "momentum 0.3, no forget": ({}, {"in_chop_prob": 1.0, "momentum": 0.3, "forget_buffer": False}, 50.0, 6, 4),
    "momentum 0.3, forget": ({}, {"in_chop_prob": 0.0, "momentum": 0.3}, 5.0, 5, 3),
    "no device variation, lr 50": (DETERMINISTIC_DEVICE, {"in_chop_prob": 0.0}, 50.0, 6, 4),
    "reference and up_down": ({"reference_mean": 0.2, "reference_std": 0.1, "up_down": 0.1},
                              {"in_chop_prob": 1.0}, 50.0, 6, 4),
    "symmetry point subtracted, log-normal": ({"subtract_symmetry_point": True, "dw_min_dtod_log_normal": True,
                                              "up_down_dtod": 0.2}, {"in_chop_prob": 0.0}, 5.0, 6, 4),
    "m > n, small bounds": ({"w_max": 0.3, "w_min": -0.2}, {"in_chop_prob": 0.0}, 50.0, 3, 5),
}

# AGAD's V1 variants (test_simulator_agad, test_simulator_gpu). name: (device fields, compound fields, learning rate, in size, out size)
AGAD_VARIANTS = {
    "period 10 (in_chop_prob 0.1), lr 50": ({}, {"in_chop_prob": 0.1}, 50.0, 6, 4),
    "period 2, lr 20": ({}, {"in_chop_prob": 0.5}, 20.0, 6, 4),
    "period 3, momentum 0.3, no forget, buffer cap 2": (
        {}, {"in_chop_prob": 0.34, "momentum": 0.3, "forget_buffer": False, "buffer_cap": 2.0}, 50.0, 5, 3),
    "period 4, momentum 0.3, forget": ({}, {"in_chop_prob": 0.25, "momentum": 0.3}, 50.0, 5, 3),
    "tail_weightening 1": ({}, {"in_chop_prob": 0.25, "tail_weightening": 1.0}, 50.0, 6, 4),
    "random chopper at probability 1": ({}, {"in_chop_prob": 1.0, "in_chop_random": True}, 50.0, 6, 4),
    "symmetry point subtracted, log-normal": ({"subtract_symmetry_point": True, "dw_min_dtod_log_normal": True,
                                              "up_down_dtod": 0.2}, {"in_chop_prob": 0.5}, 20.0, 6, 4),
    "m > n, small bounds": ({"w_max": 0.3, "w_min": -0.2}, {"in_chop_prob": 0.5}, 50.0, 3, 5),
}


def agad_config(device_fields: dict, compound: dict) -> Any:
    """AGAD in the deterministic configuration of protocol V1 (no read noise, fast_lr 100, regular chopper)."""
    config = rpu_config(deterministic_device(**device_fields), fast_lr=100.0, algorithm="agad", **compound)
    config.device.transfer_forward.out_noise = 0.0
    return config

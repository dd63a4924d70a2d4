"""Protocol V1: with every random element made deterministic, the simulator equals aihwkit bit for bit.

Deterministic: no cycle-to-cycle noise, no read noise, fast_lr 100 (so the
update management clips to BL 5 with every line probability 0 or >= 1, and
x_j in {0, +-x_max}, |d_i| in {0} or [d_max/2, d_max]), chopper probability 0
or 1. Device-to-device variation stays on (it is drawn at construction, so the
two simulators see the same, non-uniform devices). A, C, H, choppers, running
maxima and the pointer are compared after every batch, over mixed batch sizes.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from simulator_helpers import (
    DETERMINISTIC_VARIANTS, assert_bit_exact_batches, assert_layers_train_bit_exact, deterministic_device, rpu_config,
    tile_pair,
)


@pytest.mark.parametrize("name", list(DETERMINISTIC_VARIANTS))
def test_update_is_bit_exact(name: str) -> None:
    device_fields, compound, lr, n, p = DETERMINISTIC_VARIANTS[name]
    config = rpu_config(deterministic_device(**device_fields), fast_lr=100.0, **compound)
    config.device.transfer_forward.out_noise = 0.0
    _, sim, c_pulses = assert_bit_exact_batches(config, p, n, lr, seed=len(name))
    assert c_pulses >= 20, f"{name}: only {c_pulses} C pulses; the test would not see a wrong transfer"
    assert float(sim.fast_apparent.abs().max()) > 0.05, f"{name}: A hardly moved"


def _io_pair(out_noise: float = 0.0):
    from aihwkit.simulator.configs.devices import SoftBoundsReferenceDevice

    config = rpu_config(SoftBoundsReferenceDevice(w_max=1.0, w_min=-1.0))
    config.forward.out_noise = out_noise
    config.backward.out_noise = out_noise
    g = torch.Generator().manual_seed(3)
    weights = (0.3 + 0.3 * torch.randn(24, 256, generator=g)).clamp(-0.99, 0.99)
    return config, weights, g


def _compare(expected: torch.Tensor, got: torch.Tensor, scale: torch.Tensor, step: float, what: str) -> float:
    """Outputs equal, or apart by at most one ADC step at the row's scale; returns the fraction apart."""
    apart = expected != got
    assert ((expected - got).abs() <= scale[:, None] * step * 1.0001).all(), f"{what}: more than one ADC step apart"
    assert apart.float().mean() < 0.01, f"{what}: {apart.float().mean():.3%} of outputs apart"
    return float(apart.float().mean())


def test_forward_and_backward_match_aihwkit_with_noise_off() -> None:
    """Noise off: equal, or one ADC step apart where float32 sums differ; bound management rounds included."""
    config, weights, g = _io_pair()
    tile, sim = tile_pair(config, 24, 256, weights)
    x = torch.randn(400, 256, generator=g)
    x[::3] = x[::3].abs()  # same-sign inputs saturate the outputs: bound management rounds 2 to 4
    x[::17] = 1.0  # and rounds up to 5
    x[5] = 0.0
    nm = x.abs().amax(dim=1)
    unreduced = (x / nm.clamp_min(1e-30)[:, None]) @ weights.t()
    assert (unreduced.abs().amax(dim=1) > 12 * 4).sum() >= 20, "too few vectors need several bound-management rounds"
    _compare(tile.forward(x), sim.forward_mvm(x), nm * 16, sim.settings.forward.out_res, "forward")
    assert torch.equal(sim.forward_mvm(x)[5], torch.zeros(24))
    d = 0.01 * torch.randn(400, 24, generator=g)
    _compare(tile.backward(d), sim.backward_mvm(d), d.abs().amax(dim=1), sim.settings.backward.out_res, "backward")


def test_forward_and_backward_of_a_full_tile_are_almost_always_equal() -> None:
    """A 512 x 512 tile, 2000 vectors: how often float32 sum order moves an output by one ADC step (printed)."""
    config, _, g = _io_pair()
    weights = (0.5 * torch.randn(512, 512, generator=g)).clamp(-0.99, 0.99)
    tile, sim = tile_pair(config, 512, 512, weights)
    x = torch.randn(2000, 512, generator=g)
    x[::4] = x[::4].abs()
    forward = _compare(tile.forward(x), sim.forward_mvm(x), x.abs().amax(dim=1) * 16, sim.settings.forward.out_res,
                       "forward")
    d = 0.01 * torch.randn(2000, 512, generator=g)
    backward = _compare(tile.backward(d), sim.backward_mvm(d), d.abs().amax(dim=1), sim.settings.backward.out_res,
                        "backward")
    print(f"outputs one ADC step apart: forward {forward:.2e}, backward {backward:.2e} (of 1,024,000 each)")
    assert forward < 1e-3 and backward < 1e-3


def test_layer_update_with_token_inputs_and_split_tiles_is_bit_exact() -> None:
    """AnalogLinear on [batch, tokens, features] with a split input: the tiles receive the same vectors in the same
    order as aihwkit's (a linear loss makes the output gradient exact), so every tile's state stays bit-exact."""
    from aihwkit.nn import AnalogLinear as AihwkitLinear

    from analog_tl.simulator import from_aihwkit

    config = rpu_config(deterministic_device(), fast_lr=100.0, in_chop_prob=1.0)
    config.device.transfer_forward.out_noise = 0.0
    config.mapping.max_input_size = 8  # 12 inputs -> two tiles of 6
    digital = nn.Sequential(nn.Linear(12, 5))
    from aihwkit.nn.conversion import convert_to_analog

    analog = convert_to_analog(digital, config)
    assert isinstance(analog[0], AihwkitLinear) and len(list(analog[0].analog_tiles())) == 2
    sim = from_aihwkit(analog, digital, config, seed=0)
    assert_layers_train_bit_exact(analog, sim, steps=6, lr=5.0, seed=11)
    assert all(float(t.fast_apparent.abs().max()) > 0.01 for t in sim[0].tiles)  # A moved on both tiles
    assert torch.equal(sim[0].bias.detach(), analog[0].get_weights()[1].detach())  # the digital bias, SGD-trained

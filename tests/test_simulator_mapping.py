"""Weight mapping (aihwkit's ``weight_scaling_omega``) on the fast simulator against aihwkit.

A converted layer keeps aihwkit's mapping scales (layerwise, or per output row
with ``weight_scaling_columnwise``) and learning-rate scale
(``weight_scaling_lr_compensation``); its weights, its forward and backward
passes with noise off and, in protocol V1's deterministic configuration, every
tile's state after each training step equal aihwkit's. Machines without
aihwkit map weights as aihwkit does (``population.mapped_weight``).
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from simulator_helpers import assert_layers_train_bit_exact, deterministic_device, rpu_config

MAPPINGS = {"layerwise": (False, False), "columnwise, lr compensation": (True, True),
            "layerwise, lr compensation": (False, True)}


def _config(columnwise: bool, lr_compensation: bool, deterministic: bool = True):
    device = deterministic_device() if deterministic else None
    config = rpu_config(device, fast_lr=100.0 if deterministic else 1.0, in_chop_prob=1.0)
    if deterministic:
        config.device.transfer_forward.out_noise = 0.0
    config.mapping.max_input_size = 8  # 12 inputs -> two tiles of 6
    config.mapping.weight_scaling_omega = 0.6
    config.mapping.weight_scaling_columnwise = columnwise
    config.mapping.weight_scaling_lr_compensation = lr_compensation
    return config


def _pair(config, seed: int = 11):  # noqa: ANN001, ANN202
    from aihwkit.nn.conversion import convert_to_analog

    from analog_tl.simulator import from_aihwkit

    torch.manual_seed(seed)
    digital = nn.Sequential(nn.Linear(12, 5))
    analog = convert_to_analog(digital, config)
    return digital, analog, from_aihwkit(analog, digital, config, seed=0)


@pytest.mark.parametrize("name", list(MAPPINGS))
def test_a_mapped_layer_trains_bit_for_bit_as_aihwkit(name: str) -> None:
    """Scales and weights after conversion, then every tile's state after each of 6 steps (token inputs)."""
    _, analog, sim = _pair(_config(*MAPPINGS[name]))
    for tile, sim_tile in zip(analog[0].analog_tiles(), sim[0].tiles):
        assert sim_tile.mapped and torch.equal(sim_tile.mapping_scales, tile.get_mapping_scales().view(-1))
        assert float(sim_tile.mapping_lr_scale) == tile.mapping_lr_scale
        assert float(sim_tile.mapping_scales.min()) < 0.9  # alpha = max|W| / omega is far from 1
    assert torch.equal(sim[0].get_weights(), analog[0].get_weights()[0])
    assert_layers_train_bit_exact(analog, sim, steps=6, lr=5.0, seed=3)
    assert all(float(t.fast_apparent.abs().max()) > 0.01 for t in sim[0].tiles)  # A moved on both tiles


@pytest.mark.parametrize("name", list(MAPPINGS))
def test_mapped_forward_and_backward_match_aihwkit_with_noise_off(name: str) -> None:
    """Outputs and input gradients through alpha * analog(W / alpha): equal, or one ADC step (times alpha) apart."""
    config = _config(*MAPPINGS[name])
    config.forward.out_noise = config.backward.out_noise = 0.0
    _, analog, sim = _pair(config)
    g = torch.Generator().manual_seed(5)
    x = torch.randn(64, 12, generator=g)
    outputs, grads = [], []
    for model in (analog, sim):
        x_in = x.clone().requires_grad_(True)
        y = model(x_in)
        y.backward(0.01 * torch.ones_like(y))
        outputs.append(y.detach())
        grads.append(x_in.grad)
    alpha = max(float(t.mapping_scales.max()) for t in sim[0].tiles)
    out_res, back_res = sim[0].tiles[0].settings.forward.out_res, sim[0].tiles[0].settings.backward.out_res
    # two tiles summed: at most one ADC step each, at the input's and the gradient's abs-max scale
    assert ((outputs[0] - outputs[1]).abs() <= 2 * alpha * out_res * x.abs().amax(1, keepdim=True) * 16 * 1.001).all()
    assert (outputs[0] != outputs[1]).float().mean() < 0.02
    assert ((grads[0] - grads[1]).abs() <= 0.01 * alpha * 5 * back_res * 1.001).all()
    assert (grads[0] != grads[1]).float().mean() < 0.02


@pytest.mark.parametrize("name", list(MAPPINGS))
def test_mapping_without_aihwkit_programs_what_aihwkit_programs(name: str) -> None:
    """population.mapped_weight sets the scales and returns W / alpha as aihwkit's apply_weight_scaling does."""
    from analog_tl.simulator import SimTile, tile_settings
    from analog_tl.simulator.population import mapped_weight

    config = _config(*MAPPINGS[name])
    digital, analog, _ = _pair(config)
    tile = SimTile(5, 6, tile_settings(config))
    block = digital[0].weight.detach()[:, :6]
    mapped = mapped_weight(tile, block)
    theirs = next(iter(analog[0].analog_tiles()))
    assert torch.equal(tile.mapping_scales, theirs.get_mapping_scales().view(-1))
    assert float(tile.mapping_lr_scale) == theirs.mapping_lr_scale
    assert torch.equal(mapped * tile.mapping_scales.view(-1, 1), block) or torch.allclose(
        mapped * tile.mapping_scales.view(-1, 1), block, rtol=1e-6, atol=0)
    assert float(mapped.abs().max()) == pytest.approx(0.6, rel=1e-6)


def test_the_learning_rate_scale_stays_on_the_host_when_the_tile_moves() -> None:
    """It is read on every update (a device copy would synchronise each time); the scales move with the tile."""
    _, _, sim = _pair(_config(*MAPPINGS["layerwise, lr compensation"]))
    tile = sim[0].tiles[0]
    scale = float(tile.mapping_lr_scale)
    tile.to("meta")
    assert tile.mapping_scales.device.type == "meta" and tile.fast.device.type == "meta"
    assert tile.mapping_lr_scale.device.type == "cpu" and float(tile.mapping_lr_scale) == scale

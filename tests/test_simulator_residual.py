"""Residual learning (``gamma`` != 0, aihwkit 1.2.0): the visible weight gamma * chi * A + C against aihwkit.

Protocol V1 with gamma 0.3 on non-square tiles for c-TTv2 and AGAD: the tile
state and the visible weights (aihwkit's ``get_weights``) equal bit for bit
after every batch, and the forward and backward passes with noise off equal
up to one ADC step where float32 sums differ. aihwkit 1.2.0 de-chops
crosspoint (i, j) with the chopper of column ``(i * in + j) // out``
(``SimTile``'s docstring); a test pins that, so a simulator that de-chops
with column j's own chopper fails.
"""

from __future__ import annotations

import pytest
import torch

from simulator_helpers import agad_config, assert_bit_exact_batches, deterministic_device, rpu_config

GAMMA = 0.3


def _config(algorithm: str, io_noise: bool = True):
    if algorithm == "agad":
        config = agad_config({}, {"in_chop_prob": 0.5})
    else:
        config = rpu_config(deterministic_device(), fast_lr=100.0, in_chop_prob=1.0)
        config.device.transfer_forward.out_noise = 0.0
    config.device.gamma = GAMMA
    if not io_noise:
        config.forward.out_noise = config.backward.out_noise = 0.0
    return config


def _trained_pair(algorithm: str, p: int, n: int, batches: int, check=None, io_noise: bool = True):  # noqa: ANN001, ANN202
    """An aihwkit tile and its simulator twin after ``batches`` deterministic updates at lr 20, each state equal
    after every batch (``check`` too), and a generator for further draws."""
    config = _config(algorithm, io_noise)
    tile, sim, _ = assert_bit_exact_batches(config, p, n, 20.0, seed=p * n, batches=batches, check=check)
    assert sim.settings.compound.gamma == pytest.approx(GAMMA)
    return tile, sim, torch.Generator().manual_seed(p * n + 1)


@pytest.mark.parametrize("algorithm", ["c-ttv2", "agad"])
@pytest.mark.parametrize("shape", [(4, 6), (5, 5), (7, 3)], ids=["wide", "square", "tall"])
def test_residual_weights_and_update_are_bit_exact(algorithm: str, shape: tuple[int, int]) -> None:
    mixed = []  # batches after which the choppers differ between columns (the de-chopping matters)

    def check(k: int, tile, sim) -> None:  # noqa: ANN001
        assert torch.equal(sim.weights(), tile.get_weights()[0]), f"visible weights differ after batch {k}"
        chopped = sim.in_chopper.bool()
        if chopped.any() and not chopped.all():
            mixed.append(k)

    _, sim, _ = _trained_pair(algorithm, *shape, batches=40, check=check)
    assert len(mixed) >= 5, f"the choppers differed between columns after only {len(mixed)} batches"
    assert float((sim.weights() - sim.slow_apparent).abs().max()) > 0.01, "A hardly shows in the visible weight"


def test_the_dechopping_follows_aihwkits_column_order() -> None:
    """On a non-square tile aihwkit's visible weight is not C + gamma * chi_j * A with column j's own chopper."""
    tile, sim, _ = _trained_pair("c-ttv2", 4, 6, batches=13)
    own = 1.0 - 2.0 * sim.in_chopper.float()[None, :]
    by_own_column = GAMMA * sim.fast_apparent + sim.slow_apparent + (GAMMA * (own - 1.0)) * sim.fast_apparent
    assert not torch.equal(by_own_column, tile.get_weights()[0])
    assert torch.equal(sim.weights(), tile.get_weights()[0])


def test_residual_forward_and_backward_match_aihwkit_with_noise_off() -> None:
    """Noise off: forward and backward through gamma * chi * A + C equal, or one ADC step apart (float32 sums)."""
    tile, sim, g = _trained_pair("agad", 24, 40, batches=30, io_noise=False)
    assert float((sim.weights() - sim.slow_apparent).abs().max()) > 0.01
    x = torch.randn(300, 40, generator=g)
    d = 0.01 * torch.randn(300, 24, generator=g)
    for what, expected, got, scale, step in (
        ("forward", tile.forward(x), sim.forward_mvm(x), x.abs().amax(dim=1) * 16, sim.settings.forward.out_res),
        ("backward", tile.backward(d), sim.backward_mvm(d), d.abs().amax(dim=1), sim.settings.backward.out_res),
    ):
        apart = expected != got
        assert ((expected - got).abs() <= scale[:, None] * step * 1.0001).all(), f"{what}: more than one ADC step"
        assert apart.float().mean() < 0.01, f"{what}: {apart.float().mean():.3%} of outputs apart"

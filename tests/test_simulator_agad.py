"""AGAD (aihwkit's ``DynamicTransferCompound``) on the fast simulator against aihwkit's CPU simulator.

Protocol V1 as for c-TTv2 (``test_simulator_exact.py``): every random element
made deterministic (no pulse or read noise, ``fast_lr`` 100, AGAD's regular
chopper), device-to-device variation on; A, C, H, the running and past means,
choppers, switched flags, transfer counter, running maxima and pointer after
every one of 60 batches, over chopper periods 2, 3 and 10, momentum with and
without ``forget_buffer`` and a buffer cap, ``tail_weightening`` 1 and 5, a
random chopper at probability 1, a subtracted symmetry point and m > n. Then
the C++ kernel's scalar reference against its vector path with every noise
on, and the scope check's AGAD limits.
"""

from __future__ import annotations

import copy

import pytest
import torch

from simulator_helpers import AGAD_VARIANTS, agad_config, assert_bit_exact_batches, rpu_config, sim_state, tile_pair

from analog_tl.simulator import SimTile, SimulatorScopeError, check_scope, tile_settings
from analog_tl.simulator.kernel import load

@pytest.mark.parametrize("name", list(AGAD_VARIANTS))
def test_agad_update_is_bit_exact(name: str) -> None:
    device_fields, compound, lr, n, p = AGAD_VARIANTS[name]
    switches = []

    def count_switches(k: int, tile, sim) -> None:  # noqa: ANN001
        switches.append(int(sim.in_chopper_switched.sum()))

    _, sim, c_pulses = assert_bit_exact_batches(agad_config(device_fields, compound), p, n, lr, seed=len(name),
                                                check=count_switches)
    assert sim.agad
    assert int(sim.transfer_counter) > 20, f"{name}: too few passes to pass the first chopper period"
    assert c_pulses >= 20, f"{name}: only {c_pulses} C pulses; the test would not see a wrong transfer"
    assert sum(switches) > 0 and bool((sim.past_mean != 0).any()), f"{name}: the reference never moved"


@pytest.fixture(scope="module")
def noisy_agad_tile() -> tuple[SimTile, torch.Tensor, torch.Tensor]:
    """An AGAD tile with pulse, write and read noise and a random chopper, and 300 vectors for it."""
    from aihwkit.simulator.configs.devices import SoftBoundsReferenceDevice

    config = rpu_config(SoftBoundsReferenceDevice(w_max=1.0, w_min=-1.0, dw_min_std=0.3, write_noise_std=0.5),
                        algorithm="agad", in_chop_prob=0.25, in_chop_random=True, fast_lr=1.0)
    g = torch.Generator().manual_seed(0)
    _, sim = tile_pair(config, 37, 29, 0.2 * torch.randn(37, 29, generator=g))
    x, d = torch.randn(300, 29, generator=g), 0.1 * torch.randn(300, 37, generator=g)
    return sim, x, d


@pytest.mark.parametrize("path", [0, 2, 3], ids=["auto", "dense", "sparse"])
def test_agad_vector_path_equals_the_scalar_reference_with_noise_on(path: int, noisy_agad_tile) -> None:
    """Read, pulse and write noise on, random and regular chopper: the kernel's two implementations agree."""
    kernel = load()
    if path > 0 and kernel.update_isa() != "avx2":
        pytest.skip("this CPU has no vector path")
    tiles = []
    start, x, d = noisy_agad_tile
    for which in (1, path):
        sim = copy.deepcopy(start)
        agad = (sim.running_mean, sim.past_mean, sim.in_chopper_switched, sim.transfer_counter)
        for call, (xb, db) in enumerate(zip(x.split(8), d.split(8))):
            kernel.agad_update(sim.fast, sim.fast_apparent, sim.transfer_buffer, sim.slow, sim.slow_apparent,
                               sim.in_chopper, sim.running_max, sim.pointer, sim.device_fast, sim.device_slow,
                               xb, db, sim._kernel_config, 0.5, int(sim.key), call, *agad, which)
        tiles.append(sim_state(sim))
    reference, vector = tiles
    for key, value in reference.items():
        assert torch.equal(vector[key], value), key
    assert not torch.equal(reference["C"], start.slow_apparent)  # C was written
    assert int(reference["counter"]) == 300 // 29  # passes over the columns; C is written after the 4th


def test_scope_check_refuses_what_agad_does_not_simulate() -> None:
    from aihwkit.simulator.configs.devices import SoftBoundsReferenceDevice

    cases = {
        "experimental_correct_accumulation": ({"experimental_correct_accumulation": True}, {}),
        "in_chop_prob": ({"in_chop_prob": 0.0}, {}),
        "transfer_forward.out_bound": ({}, {"w_max": 20.0, "w_min": -20.0}),
    }
    for setting, (compound, device) in cases.items():
        config = rpu_config(SoftBoundsReferenceDevice(**{"w_max": 1.0, "w_min": -1.0, **device}), algorithm="agad",
                            **compound)
        with pytest.raises(SimulatorScopeError, match=setting.replace(".", r"\.")):
            check_scope(config)
    check_scope(rpu_config(algorithm="agad"))  # Table I AGAD is in scope
    assert tile_settings(rpu_config(algorithm="agad")).compound.algorithm == "agad"


def _agad_model(seed: int):
    from aihwkit.nn.conversion import convert_to_analog

    from analog_tl.simulator import from_aihwkit

    config = rpu_config(algorithm="agad", fast_lr=1.0, in_chop_prob=0.5)
    config.mapping.max_input_size = 4  # 6 inputs: two tiles
    torch.manual_seed(0)
    digital = torch.nn.Sequential(torch.nn.Linear(6, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    return from_aihwkit(convert_to_analog(digital, config), digital, config, seed=seed), digital


def _steps(model, steps: int, start: int = 0) -> list[float]:
    from analog_tl.simulator import AnalogSGD

    optimizer, losses = AnalogSGD(model, lr=0.5), []
    for step in range(start, start + steps):
        g = torch.Generator().manual_seed(step)
        x, y = torch.randn(8, 6, generator=g), torch.randint(0, 2, (8,), generator=g)
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def test_an_agad_model_resumes_from_a_bundle_bit_for_bit(tmp_path) -> None:
    """AGAD's state (means, switched flags, counter) is part of the tile: a bundle resumes exactly, seeds differ."""
    from analog_tl.simulator import bundle

    model, digital = _agad_model(seed=3)
    uninterrupted = _steps(model, 12)
    model, _ = _agad_model(seed=3)
    first = _steps(model, 5)
    tile = model[0].tiles[0]
    assert int(tile.transfer_counter) > 2 and bool((tile.past_mean != 0).any())  # AGAD's state is live
    bundle.save(tmp_path / "agad.pt", model)
    loaded, _ = bundle.load(tmp_path / "agad.pt", digital)
    assert loaded[0].tiles[0].agad and loaded[0].tiles[0].settings.compound.algorithm == "agad"
    assert first + _steps(loaded, 7, start=5) == uninterrupted
    other, _ = _agad_model(seed=4)
    assert _steps(other, 12) != uninterrupted

"""The compiled IO pass (``io_forward``, ``io_backward``) equals the step-by-step composition, bit for bit.

The composition (:func:`analog_mvm_composed`, :func:`analog_mvm_backward_composed`)
is what the aihwkit comparisons V1-V4 validated and what runs on a GPU; on the
CPU one compiled call does the same steps. Both get the same inputs: noise on,
bound management with several rounds, all-zero and NaN vectors, odd shapes,
noise and bound management off.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from analog_tl.simulator.io_model import (
    analog_mvm, analog_mvm_backward, analog_mvm_backward_composed, analog_mvm_composed,
)
from analog_tl.simulator.settings import IOSettings

TABLE_I = IOSettings(inp_res=2 / 126, inp_bound=1.0, out_res=2 * 12 / 510, out_bound=12.0, out_noise=0.06,
                     noise_management=True, bound_management=True, bm_test_negative_bound=True, max_bm_factor=1000,
                     max_bm_res=0.25)
VARIANTS = {
    "Table I": TABLE_I,
    "saturating, several rounds": dataclasses.replace(TABLE_I, out_bound=0.7),
    "saturating, negative bound not tested": dataclasses.replace(TABLE_I, out_bound=0.7, bm_test_negative_bound=False),
    "no noise management": dataclasses.replace(TABLE_I, noise_management=False, out_bound=3.0),
    "no management, no steps": dataclasses.replace(TABLE_I, noise_management=False, bound_management=False,
                                                   inp_res=0.0, out_res=0.0),
}
SHAPES = ((1, 1, 1), (5, 7, 3), (33, 20, 17), (64, 130, 9))  # (vectors, in, out)


def _inputs(m: int, n: int, g: torch.Generator, scale: float) -> torch.Tensor:
    x = scale * torch.randn(m, n, generator=g) * (torch.rand(m, n, generator=g) < 0.8)
    if m > 3:
        x[1] = 0.0  # an all-zero vector
        x[3, 0] = float("nan")
    return x


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("name", list(VARIANTS))
def test_the_compiled_forward_and_backward_equal_the_composition(name: str, shape: tuple[int, int, int]) -> None:
    io = VARIANTS[name]
    m, n, p = shape
    g = torch.Generator().manual_seed(m * 100 + n + p)
    weight = 0.5 * torch.randn(p, n, generator=g)
    for call in range(3):
        x = _inputs(m, n, g, scale=3.0)
        got, expected = analog_mvm(weight, x, io, 99, call), analog_mvm_composed(weight, x, io, 99, call)
        assert torch.equal(got.nan_to_num(7.0), expected.nan_to_num(7.0)), f"forward differs at call {call}"
        assert torch.equal(got.isnan(), expected.isnan())
        d = _inputs(m, p, g, scale=0.1)
        got = analog_mvm_backward(weight, d, io, 99, call)
        expected = analog_mvm_backward_composed(weight, d, io, 99, call)
        assert torch.equal(got.nan_to_num(7.0), expected.nan_to_num(7.0)), f"backward differs at call {call}"


def test_the_saturating_variant_runs_several_bound_management_rounds() -> None:
    """Without it the comparison above would not see a wrong round (e.g. re-running every vector)."""
    io = VARIANTS["saturating, several rounds"]
    g = torch.Generator().manual_seed(0)
    weight, x = 0.5 * torch.randn(17, 20, generator=g), _inputs(33, 20, g, scale=3.0)[4:]
    one_round = analog_mvm(weight, x, dataclasses.replace(io, bound_management=False), 99, 0)
    rounds = analog_mvm(weight, x, io, 99, 0)
    assert int((one_round.abs() >= io.out_bound).any(dim=1).sum()) >= 5  # vectors that fail round 0
    assert not torch.equal(rounds, one_round)


@pytest.mark.parametrize("name", list(VARIANTS))
def test_the_vector_dac_and_adc_equal_their_scalar_reference(name: str) -> None:
    """``io_prepare`` and ``io_finish`` (AVX2 where the CPU has it) against their scalar references."""
    from analog_tl.simulator import kernel

    module, io = kernel.load(), VARIANTS[name]
    if module.update_isa() == "scalar":
        pytest.skip("this CPU has no AVX2: io_prepare and io_finish are the references themselves")
    g = torch.Generator().manual_seed(len(name))
    for m, n, p in SHAPES:
        x = _inputs(m, n, g, scale=3.0)
        rows = torch.arange(0, m, 2)
        scale = 0.2 + torch.rand(len(rows), generator=g)
        args = (x, rows, scale, io.inp_res, io.inp_bound)
        assert torch.equal(module.io_prepare(*args).nan_to_num(7.0), module.io_prepare_reference(*args).nan_to_num(7.0))
        y = 0.8 * io.out_bound * torch.randn(len(rows), p, generator=g)  # some saturate, both signs
        args = (y, rows, scale, io.out_noise, io.out_res, io.out_bound, io.bm_test_negative_bound, 5, 3, 1, 2)
        (got, got_failed), (expected, expected_failed) = module.io_finish(*args), module.io_finish_reference(*args)
        assert torch.equal(got, expected) and torch.equal(got_failed, expected_failed), f"{m}x{n}x{p}"

"""The vector path of the C++ update kernel equals its scalar reference, bit for bit.

``cttv2_update`` runs the AVX2 path where the CPU has AVX2;
``cttv2_update_reference`` always runs the scalar reference (the kernel that
the aihwkit validations V1-V4 were made with). The vector path pulses each
slot densely or sparsely by cost; ``cttv2_update_vector`` forces either, so
both are compared here. All get the same state and batches; every state tensor
and the pulse counts must be equal after every call: deterministic and
stochastic settings, odd shapes, sparse and all-zero vectors, batches longer
than the tile, devices with and without soft bounds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from analog_tl.simulator import kernel
from analog_tl.simulator.settings import tile_settings
from simulator_helpers import deterministic_device, rpu_config

STATE = ("fast", "fast_apparent", "transfer_buffer", "slow", "slow_apparent", "chopper", "running_max", "pointer")
# name: (device fields, compound fields, desired_bl, fast_lr, lr)
VARIANTS: dict[str, tuple[dict[str, Any], dict[str, Any], int, float, float]] = {
    "Table I": ({}, {}, 5, 0.5, 0.5),
    "deterministic, chopper 1": ({"dw_min_std": 0.0}, {"in_chop_prob": 1.0}, 5, 100.0, 50.0),
    "write noise, chopper 0.3": ({"write_noise_std": 0.5}, {"in_chop_prob": 0.3}, 5, 1.0, 0.5),
    "multiplicative noise, momentum": ({"mult_noise": True, "dw_min_std": 0.6},
                                       {"in_chop_prob": 0.5, "momentum": 0.3, "forget_buffer": False}, 5, 1.0, 0.5),
    "BL 1": ({}, {"in_chop_prob": 0.2}, 1, 1.0, 1.0),
    "BL 8, no transfer": ({}, {"transfer_lr": 0.0}, 8, 1.0, 1.0),
}
# (out size p, in size n, vectors per batch)
SHAPES = ((1, 1, 3), (7, 13, 5), (17, 33, 70), (33, 9, 4), (40, 130, 12))
MODES = {"by cost": 0, "dense": 1, "sparse": 2}  # cttv2_update_vector's modes


def _update_isa_expected() -> str:
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    return "avx2" if " avx2" in flags else "scalar"


def _state(p: int, n: int, g: torch.Generator) -> dict[str, torch.Tensor]:
    """A random tile state: weights inside random bounds, some crosspoints without a positive max / negative min."""
    max_bound = 0.5 + torch.rand(p, n, generator=g)
    min_bound = -0.5 - torch.rand(p, n, generator=g)
    max_bound[torch.rand(p, n, generator=g) < 0.1] = -0.05  # not scaled up (aihwkit's bound > 0 test)
    min_bound[torch.rand(p, n, generator=g) < 0.1] = 0.05
    step_up = 0.02 * (0.5 + torch.rand(p, n, generator=g))
    step_down = 0.02 * (0.5 + torch.rand(p, n, generator=g))
    reference = 0.1 * torch.randn(p, n, generator=g)

    def device() -> torch.Tensor:
        return torch.stack([step_up, step_down, max_bound, min_bound, reference]).contiguous()

    fast = 0.3 * torch.randn(p, n, generator=g)
    slow = 0.3 * torch.randn(p, n, generator=g)
    return {
        "fast": fast, "fast_apparent": fast.clone(), "transfer_buffer": 0.5 * torch.randn(p, n, generator=g),
        "slow": slow, "slow_apparent": slow.clone(),
        "chopper": (torch.rand(n, generator=g) < 0.5).to(torch.uint8), "running_max": torch.zeros(2),
        "pointer": torch.tensor([int(torch.randint(0, n, (1,), generator=g))]),
        "device_fast": device(), "device_slow": device(),
    }


def _batch(m: int, n: int, p: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Sparse x and d with mixed signs, an all-zero x vector and an all-zero d vector where m > 2."""
    x = torch.randn(m, n, generator=g) * (torch.rand(m, n, generator=g) < 0.6)
    d = 0.1 * torch.randn(m, p, generator=g) * (torch.rand(m, p, generator=g) < 0.7)
    if m > 2:
        x[1] = 0.0
        d[2] = 0.0
    return x, d


def _config(device_fields: dict[str, Any], compound: dict[str, Any], desired_bl: int, fast_lr: float) -> torch.Tensor:
    config = rpu_config(deterministic_device(**{"dw_min_std": 0.3, **device_fields}), fast_lr=fast_lr, **compound)
    config.update.desired_bl = desired_bl
    config.device.transfer_forward.out_noise = 0.05
    return tile_settings(config).kernel_config()


def _run(update: Any, state: dict[str, torch.Tensor], cfg: torch.Tensor, batches: list, lr: float) -> list:
    """The counts and the state after every batch, from a copy of ``state``."""
    s = {k: v.clone() for k, v in state.items()}
    trace = []
    for call, (x, d) in enumerate(batches):
        counts = update(s["fast"], s["fast_apparent"], s["transfer_buffer"], s["slow"], s["slow_apparent"],
                        s["chopper"], s["running_max"], s["pointer"], s["device_fast"], s["device_slow"], x, d, cfg,
                        lr, 2**40 + 17, call)
        trace.append((counts.clone(), {k: s[k].clone() for k in STATE}))
    return trace


def test_the_cpu_runs_the_vector_path_where_it_has_avx2() -> None:
    assert kernel.load().update_isa() == _update_isa_expected()


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("name", list(VARIANTS))
def test_the_vector_path_equals_the_reference_bit_for_bit(name: str, shape: tuple[int, int, int], mode: str) -> None:
    module = kernel.load()
    if module.update_isa() == "scalar":
        pytest.skip("this CPU has no AVX2: cttv2_update is the reference itself")
    device_fields, compound, desired_bl, fast_lr, lr = VARIANTS[name]
    p, n, m = shape
    g = torch.Generator().manual_seed(p * 1000 + n + len(name))
    state = _state(p, n, g)
    cfg = _config(device_fields, compound, desired_bl, fast_lr)
    batches = [_batch(m if k % 2 else max(1, m // 3), n, p, g) for k in range(6)]
    expected = _run(module.cttv2_update_reference, state, cfg, batches, lr)

    def vector(*args: Any) -> torch.Tensor:
        return module.cttv2_update_vector(*args, MODES[mode])

    for update in (vector, module.cttv2_update) if mode == "by cost" else (vector,):
        got = _run(update, state, cfg, batches, lr)
        for k, ((counts_e, state_e), (counts_g, state_g)) in enumerate(zip(expected, got)):
            assert torch.equal(counts_g, counts_e), f"pulse counts differ after batch {k}: {counts_g} vs {counts_e}"
            for key in STATE:
                assert torch.equal(state_g[key], state_e[key]), f"{key} differs after batch {k}"
    a_pulses = sum(int(c[0]) for c, _ in expected)
    assert a_pulses > p * n // 2, f"only {a_pulses} A pulses: the comparison would not see a wrong pulse"

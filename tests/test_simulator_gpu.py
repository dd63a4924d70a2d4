"""The fast simulator's Triton kernels (GPU path) against its C++ kernel: same random streams, same float32 results.

Without a GPU the Triton kernels run in Triton's interpreter on CPU tensors
(conftest.py sets TRITON_INTERPRET=1), so the suite checks the very kernel
source a GPU compiles; on a GPU machine (``scripts/benchmark_gpu.py`` runs this
file there) they run on CUDA tensors. The C++ kernel on the CPU is the
reference in both cases. Updates are compared bit for bit in the deterministic
configuration of validation protocol V1 and in stochastic configurations (the
streams are the same, so equal bits are expected there too). Tiles are tiny:
the interpreter is slow.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from simulator_helpers import DETERMINISTIC_VARIANTS, deterministic_batch, deterministic_device, rpu_config, tile_pair

from analog_tl.simulator import backend, gpu_ops, kernel

DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")
STATE = ("fast", "fast_apparent", "transfer_buffer", "slow", "slow_apparent", "in_chopper", "running_max", "pointer",
         "device_fast", "device_slow")
TESTS = Path(__file__).resolve().parent


@pytest.fixture(autouse=True)
def _triton_kernels(monkeypatch):
    """Tiles on CPU tensors use the Triton kernels too (in the interpreter), so a whole layer can be compared."""
    if DEVICE.type == "cpu":
        assert backend.triton_interpreted(), "conftest.py sets TRITON_INTERPRET=1 on machines without a GPU"


def _state(sim, device: torch.device) -> list[torch.Tensor]:
    return [getattr(sim, name).detach().clone().to(device) for name in STATE]


def _both_updates(sim, batches, lr: float, key: int) -> torch.Tensor:
    """Update one copy of ``sim``'s state with the C++ kernel, one with the Triton kernels; equal after each batch.

    Returns the summed counts (A pulses, C pulses, transfers).
    """
    reference, ours = _state(sim, torch.device("cpu")), _state(sim, DEVICE)
    config = sim.settings.kernel_config()
    totals = torch.zeros(3, dtype=torch.int64)
    for call, (x, d) in enumerate(batches):
        expected = kernel.load().cttv2_update(*reference, x, d, config, lr, key, call)
        got = gpu_ops.cttv2_update(*ours, x.to(DEVICE), d.to(DEVICE), config, lr, key, call)
        assert torch.equal(got.cpu(), expected), f"counts differ after batch {call}: {got.tolist()} {expected.tolist()}"
        for name, want, have in zip(STATE, reference, ours):
            assert torch.equal(have.cpu(), want), f"{name} differs after batch {call}"
        totals += expected
    return totals


@pytest.mark.parametrize("normal", [True, False])
def test_random_streams_are_the_cpu_kernels_streams(normal: bool) -> None:
    rows = torch.tensor([0, 1, 7, 2**20 + 3], dtype=torch.int64)
    module = kernel.load()
    for key, call, stream, slot in ((1, 0, 1, 0), (2**63 - 25, 7, 5, 4), (12345, 2**31 + 1, 10, 3)):
        expected = module.philox_draws(key, call, stream, slot, rows, 37, normal)
        got = gpu_ops.philox_draws(key, call, stream, slot, rows.to(DEVICE), 37, normal)
        assert torch.equal(got.cpu(), expected), (key, call, stream, slot)
    assert expected.std() > 0.2  # real draws, not constants


def test_dac_equals_the_cpu_kernel() -> None:
    g = torch.Generator().manual_seed(0)
    inputs = torch.randn(9, 300, generator=g) * 2
    rows = torch.tensor([0, 4, 8, 2])
    scale = torch.tensor([1.0, 0.37, 3.0, 1e-3])
    for res, bound in ((2 / 254, 1.0), (0.0, 1.0), (0.05, 0.5)):
        expected = kernel.load().io_prepare(inputs, rows, scale, res, bound)
        got = gpu_ops.io_prepare(inputs.to(DEVICE), rows.to(DEVICE), scale.to(DEVICE), res, bound)
        assert torch.equal(got.cpu(), expected), (res, bound)
        assert (expected.abs() == bound).any()  # clipping happened


@pytest.mark.parametrize("test_negative", [True, False])
def test_adc_equals_the_cpu_kernel_with_aihwkits_bound_test(test_negative: bool) -> None:
    """Noise, ADC steps, clipping and the bound test, whose verdict the last saturated output decides."""
    g = torch.Generator().manual_seed(1)
    y = torch.randn(5, 300, generator=g)
    y[0, 10] = 50.0  # only a positive saturation: failed
    y[1, 10], y[1, 200] = 50.0, -50.0  # positive, then negative last: failed only if negatives count
    y[2, 3] = -50.0  # only a negative saturation
    y[3, 250], y[3, 20] = 50.0, -50.0  # negative, then positive last: failed
    rows = torch.tensor([0, 3, 1, 4, 2])
    out_scale = torch.tensor([1.0, 2.0, 0.5, 1.0, 3.0])
    expected_y, expected_failed = kernel.load().io_finish(y, rows, out_scale, 0.06, 24 / 510, 12.0, test_negative,
                                                          99, 3, 1, 2)
    got_y, got_failed = gpu_ops.io_finish(y.to(DEVICE), rows.to(DEVICE), out_scale.to(DEVICE), 0.06, 24 / 510, 12.0,
                                          test_negative, 99, 3, 1, 2)
    assert torch.equal(got_y.cpu(), expected_y)
    assert torch.equal(got_failed.cpu(), expected_failed)
    assert expected_failed.tolist() == [True, test_negative, test_negative, True, False]


@pytest.mark.parametrize("name", ["chopper 1, lr 50", "momentum 0.3, no forget", "reference and up_down",
                                  "m > n, small bounds"])
def test_update_in_the_deterministic_configuration_is_bit_for_bit(name: str) -> None:
    """Protocol V1's configuration (no noise, fast_lr 100): A, C, H, choppers, maxima, pointer equal per batch."""
    device_fields, compound, lr, n, p = DETERMINISTIC_VARIANTS[name]
    config = rpu_config(deterministic_device(**device_fields), fast_lr=100.0, **compound)
    config.device.transfer_forward.out_noise = 0.0
    g = torch.Generator().manual_seed(len(name))
    _, sim = tile_pair(config, p, n, 0.3 * torch.randn(p, n, generator=g))
    drift = torch.where(torch.rand(p, generator=g) < 0.5, -1.0, 1.0)
    batches = [deterministic_batch([1, 3, 7, 16][k % 4], n, p, drift, g) for k in range(12)]
    counts = _both_updates(sim, batches, lr, key=5)
    assert counts[1] >= 20, f"{name}: only {int(counts[1])} C pulses; a wrong transfer would go unseen"


STOCHASTIC = {
    "Table I, write noise": ({"write_noise_std": 0.5}, {"in_chop_prob": 0.3}, 0.5, 7, 10),
    "multiplicative noise, momentum": ({"mult_noise": True, "dw_min_std": 0.6},
                                       {"in_chop_prob": 0.5, "momentum": 0.3, "forget_buffer": False}, 0.5, 5, 9),
    "m > n, read steps": ({}, {"in_chop_prob": 0.2}, 0.5, 3, 6),
}


@pytest.mark.parametrize("name", list(STOCHASTIC))
def test_update_in_stochastic_configurations_is_bit_for_bit(name: str) -> None:
    """Cycle-to-cycle, write and read noise on, random choppers and pulse trains: the same draws, the same bits."""
    from aihwkit.simulator.configs.devices import SoftBoundsReferenceDevice

    device_fields, compound, fast_lr, n, p = STOCHASTIC[name]
    config = rpu_config(SoftBoundsReferenceDevice(w_max=1.0, w_min=-1.0, **device_fields), fast_lr=fast_lr, **compound)
    config.device.transfer_forward.out_noise = 0.06
    if "read steps" in name:
        config.device.transfer_forward.out_res = 2e-5  # an ADC step of 4.8e-4 (of 2 x 12)
    g = torch.Generator().manual_seed(len(name))
    _, sim = tile_pair(config, p, n, 0.3 * torch.randn(p, n, generator=g))
    sim.transfer_buffer.copy_(1.8 * torch.rand(p, n, generator=g) - 0.9)  # near the threshold: C pulses soon
    batches = [(torch.randn(m, n, generator=g), 0.1 * torch.randn(m, p, generator=g)) for m in (3, 12, 1, 8, 5)]
    counts = _both_updates(sim, batches, lr=50.0, key=2**40 + 17)
    assert counts[0] >= 200 and counts[1] >= 20, f"{name}: counts {counts.tolist()}: too few pulses to compare"


def test_a_layer_trains_the_same_on_both_kernels(monkeypatch) -> None:
    """AnalogLinear with split tiles, three AnalogSGD steps: forward, backward and update through the Triton kernels.

    On the CPU (interpreter) everything equals the C++ path bit for bit; on a GPU the products are cuBLAS's, so the
    first forward is compared within one ADC step and the tiles must have trained.
    """
    from aihwkit.nn.conversion import convert_to_analog

    from analog_tl.simulator import AnalogSGD, from_aihwkit

    config = rpu_config(fast_lr=0.5)
    config.mapping.max_input_size = 4  # 6 inputs -> two tiles of 3
    torch.manual_seed(0)
    digital = nn.Sequential(nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 2))
    analog = convert_to_analog(digital, config)
    g = torch.Generator().manual_seed(4)
    x, y = torch.randn(5, 6, generator=g), torch.tensor([0, 1, 1, 0, 1])

    def train(kernel_choice: str, device: torch.device) -> tuple[list[torch.Tensor], nn.Module]:
        monkeypatch.setenv(backend.KERNEL_ENV, kernel_choice)
        model = from_aihwkit(analog, digital, config, seed=3).to(device)
        optimizer = AnalogSGD(model, lr=0.5)
        outputs = []
        for _ in range(3):
            optimizer.zero_grad()
            out = model(x.to(device))
            nn.functional.cross_entropy(out, y.to(device)).backward()
            optimizer.step()
            outputs.append(out.detach().cpu())
        return outputs, model.cpu()

    expected, reference = train("cpp", torch.device("cpu"))
    got, ours = train("auto" if DEVICE.type == "cuda" else "triton", DEVICE)
    ours_state, reference_state = ours.state_dict(), reference.state_dict()
    if DEVICE.type == "cpu":
        for a, b in zip(got, expected):
            assert torch.equal(a, b)
        for name, value in reference_state.items():
            assert torch.equal(ours_state[name], value), name
    else:
        out_res = from_aihwkit(analog, digital, config, seed=3)[0].tiles[0].settings.forward.out_res
        assert (got[0] - expected[0]).abs().max() <= 2 * out_res * x.abs().max() * 1.0001
        start = from_aihwkit(analog, digital, config, seed=3).state_dict()
        assert any(not torch.equal(ours_state[k], start[k]) for k in start if k.endswith("fast_apparent"))
    assert int(ours[0].tiles[0].calls[2]) == 3 and ours[0].tiles[0].calls.device.type == "cpu"


def test_kernel_choice_follows_the_device_and_refuses_what_cannot_run(monkeypatch) -> None:
    monkeypatch.delenv(backend.KERNEL_ENV, raising=False)
    assert backend.kernel_name(torch.device("cpu")) == "cpp"
    assert backend.kernel_name(torch.device("cuda")) == "triton"
    monkeypatch.setenv(backend.KERNEL_ENV, "cpp")
    with pytest.raises(backend.KernelChoiceError, match="C\\+\\+ kernel computes on CPU tensors"):
        backend.kernel_name(torch.device("cuda"))
    monkeypatch.setenv(backend.KERNEL_ENV, "triton")
    assert backend.kernel_name(torch.device("cpu")) == "triton"
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    with pytest.raises(backend.KernelChoiceError, match="needs Triton's interpreter"):
        backend.kernel_name(torch.device("cpu"))
    monkeypatch.setenv(backend.KERNEL_ENV, "gpu")
    with pytest.raises(backend.KernelChoiceError, match="use one of"):
        backend.kernel_name(torch.device("cpu"))


def test_the_random_counters_stay_on_the_host_when_a_tile_moves() -> None:
    _, sim = tile_pair(rpu_config(), 3, 2)
    sim.to("meta")
    assert sim.fast.device.type == "meta"
    assert sim.key.device.type == "cpu" and sim.calls.device.type == "cpu"


def test_the_kernels_compile_for_h100_and_h200_without_fused_or_approximate_arithmetic() -> None:
    """Every kernel, with a real launch's arguments, to PTX and a cubin for sm_90 (no GPU needed: ptxas)."""
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), env.get("PYTHONPATH", "")])
    result = subprocess.run([sys.executable, str(TESTS / "triton_compile.py"), "90"], capture_output=True, text=True,
                            env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    kernels = {entry["kernel"]: entry for entry in map(json.loads, result.stdout.splitlines())}
    assert set(kernels) == {"scan_kernel", "bits_kernel", "fast_update_kernel", "transfer_kernel",
                            "io_prepare_kernel", "io_finish_kernel", "draws_kernel"}
    for name, entry in kernels.items():
        assert entry["cubin_bytes"] > 0, name
        assert entry["fused_multiply_add"] == 0 and entry["flush_to_zero"] == 0 and entry["approximate"] == 0, entry
    assert kernels["fast_update_kernel"]["division_rn"] > 0 and kernels["bits_kernel"]["sqrt_rn"] > 0

"""The fast simulator's Triton kernels (GPU path) against its C++ kernel: same random streams, same float32 results.

Without a GPU the Triton kernels run in Triton's interpreter on CPU tensors
(conftest.py sets TRITON_INTERPRET=1), so the suite checks the very kernel
source a GPU compiles; on a GPU machine (``scripts/gpu_check.py`` runs this
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

from gpu_cases import (
    AGAD_DETERMINISTIC, AGAD_STATE, AGAD_STOCHASTIC, DETERMINISTIC, STATE, STOCHASTIC, STREAMS, cases, layer_template,
    train_layer,
)

from analog_tl.simulator import backend, bundle, gpu_ops

DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")
TESTS = Path(__file__).resolve().parent


@pytest.fixture(autouse=True)
def _triton_kernels(monkeypatch):
    """On the CPU the Triton kernels run in the interpreter, and tiles on CPU tensors use them too."""
    if DEVICE.type == "cpu":
        assert backend.triton_interpreted(), "conftest.py sets TRITON_INTERPRET=1 on machines without a GPU"
        monkeypatch.setenv(backend.KERNEL_ENV, "triton")


def _on(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.to(DEVICE)


@pytest.mark.parametrize("normal", [True, False])
def test_random_streams_are_the_cpu_kernels_streams(normal: bool) -> None:
    io = cases()["io"]
    for stream in STREAMS:
        expected = io["streams"][(normal, stream)]
        assert torch.equal(gpu_ops.philox_draws(*stream, _on(io["rows"]), 37, normal).cpu(), expected), stream
    assert expected.std() > 0.2  # real draws, not constants


def test_dac_equals_the_cpu_kernel() -> None:
    io = cases()["io"]
    for (res, bound), expected in io["dac"].items():
        got = gpu_ops.io_prepare(_on(io["inputs"]), _on(io["dac_rows"]), _on(io["scale"]), res, bound)
        assert torch.equal(got.cpu(), expected), (res, bound)
        assert (expected.abs() == bound).any()  # clipping happened


@pytest.mark.parametrize("test_negative", [True, False])
def test_adc_equals_the_cpu_kernel_with_aihwkits_bound_test(test_negative: bool) -> None:
    """Noise, ADC steps, clipping and the bound test, whose verdict the last saturated output decides."""
    io = cases()["io"]
    expected_y, expected_failed = io["adc"][test_negative]
    got_y, got_failed = gpu_ops.io_finish(_on(io["y"]), _on(io["adc_rows"]), _on(io["out_scale"]), 0.06, 24 / 510,
                                          12.0, test_negative, 99, 3, 1, 2)
    assert torch.equal(got_y.cpu(), expected_y)
    assert torch.equal(got_failed.cpu(), expected_failed)
    assert expected_failed.tolist() == [True, test_negative, test_negative, True, False]


def _check_updates(name: str) -> torch.Tensor:
    """Replay case ``name`` with the Triton kernels; every state tensor equal to the C++ kernel's after each batch."""
    case = cases()["updates"][name]
    state = [_on(t.clone()) for t in case["initial"]]
    fields = STATE + (AGAD_STATE if case["agad"] else ())
    for call, (x, d) in enumerate(case["batches"]):
        inputs = (_on(x), _on(d), case["config"], case["lr"], case["key"], call)
        if case["agad"]:
            counts = gpu_ops.agad_update(*state[:len(STATE)], *inputs, *state[len(STATE):])
        else:
            counts = gpu_ops.cttv2_update(*state, *inputs)
        assert torch.equal(counts.cpu(), case["counts"][call]), f"{name}: counts differ after batch {call}"
        for field, want, have in zip(fields, case["after"][call], state):
            assert torch.equal(have.cpu(), want), f"{name}: {field} differs after batch {call}"
    return torch.stack(case["counts"]).sum(dim=0)


@pytest.mark.parametrize("name", DETERMINISTIC)
def test_update_in_the_deterministic_configuration_is_bit_for_bit(name: str) -> None:
    """Protocol V1's configuration (no noise, fast_lr 100): A, C, H, choppers, maxima, pointer equal per batch."""
    counts = _check_updates(name)
    assert counts[1] >= 20, f"{name}: only {int(counts[1])} C pulses; a wrong transfer would go unseen"


@pytest.mark.parametrize("name", [f"AGAD {name}" for name in AGAD_DETERMINISTIC])
def test_agad_update_in_the_deterministic_configuration_is_bit_for_bit(name: str) -> None:
    """AGAD in protocol V1's configuration: also the running and past means, switched flags and counter."""
    counts = _check_updates(name)
    assert counts[1] >= 20, f"{name}: only {int(counts[1])} C pulses; a wrong transfer would go unseen"


@pytest.mark.parametrize("name", [*STOCHASTIC, *AGAD_STOCHASTIC])
def test_update_in_stochastic_configurations_is_bit_for_bit(name: str) -> None:
    """Cycle-to-cycle, write and read noise on, random choppers and pulse trains: the same draws, the same bits."""
    counts = _check_updates(name)
    assert counts[0] >= 200 and counts[1] >= 20, f"{name}: counts {counts.tolist()}: too few pulses to compare"


def test_a_layer_trains_the_same_on_both_kernels() -> None:
    """A model with split tiles from a bundle, three AnalogSGD steps through the Triton kernels.

    On the CPU (interpreter) every output and tensor equals the C++ path bit for bit; on a GPU the products are
    cuBLAS's, so the first output is compared within two ADC steps and the tiles must have trained.
    """
    case = cases()["layer"]
    model, _ = bundle.unpack(case["bundle"], layer_template())
    outputs = train_layer(model, case["x"], case["y"], DEVICE)
    state = model.state_dict()
    if DEVICE.type == "cpu":
        for got, expected in zip(outputs, case["outputs"]):
            assert torch.equal(got, expected)
        for name, value in case["final"].items():
            assert torch.equal(state[name], value), name
    else:
        out_res = model[0].tiles[0].settings.forward.out_res
        assert (outputs[0] - case["outputs"][0]).abs().max() <= 2 * out_res * case["x"].abs().max() * 1.0001
        start = case["bundle"]["state_dict"]
        assert any(not torch.equal(state[k], start[k]) for k in start if k.endswith("fast_apparent"))
    assert int(model[0].tiles[0].calls[2]) == 3 and model[0].tiles[0].calls.device.type == "cpu"


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
    model, _ = bundle.unpack(cases()["layer"]["bundle"], layer_template())
    sim = model[0].tiles[0]
    sim.to("meta")
    assert sim.fast.device.type == "meta"
    assert sim.key.device.type == "cpu" and sim.calls.device.type == "cpu"


def test_the_kernels_compile_for_h100_and_h200_without_fused_or_approximate_arithmetic() -> None:
    """Every kernel, with a real launch's arguments, to PTX and a cubin for sm_90 (no GPU needed: ptxas)."""
    env = {k: v for k, v in os.environ.items() if k not in ("TRITON_INTERPRET", backend.KERNEL_ENV)}
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), env.get("PYTHONPATH", "")])
    result = subprocess.run([sys.executable, str(TESTS / "triton_compile.py"), "90"], capture_output=True, text=True,
                            env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    kernels = {entry["kernel"]: entry for entry in map(json.loads, result.stdout.splitlines())}
    assert set(kernels) == {"scan_kernel", "bits_kernel", "fast_update_kernel", "transfer_kernel",
                            "transfer_kernel (AGAD)", "io_prepare_kernel", "io_finish_kernel", "draws_kernel"}
    for name, entry in kernels.items():
        assert entry["cubin_bytes"] > 0, name
        assert entry["fused_multiply_add"] == 0 and entry["flush_to_zero"] == 0 and entry["approximate"] == 0, entry
    assert kernels["fast_update_kernel"]["division_rn"] > 0 and kernels["bits_kernel"]["sqrt_rn"] > 0

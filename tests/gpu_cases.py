"""Reference cases of the GPU-kernel tests: inputs built with aihwkit, expected results from the C++ kernel.

test_simulator_gpu.py compares the Triton kernels with these. Where aihwkit
and the C++ kernel are installed the cases are built on first use; a GPU
machine without them reads a file written here beforehand::

    .venv/bin/python tests/gpu_cases.py results/gpu-check/inputs/gpu_cases.pt    # on a CPU machine
    ANALOG_TL_GPU_CASES=results/gpu-check/inputs/gpu_cases.pt python -m pytest tests/test_simulator_gpu.py
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path
from typing import Any

import torch
from torch import nn

CASES_ENV = "ANALOG_TL_GPU_CASES"
STATE = ("fast", "fast_apparent", "transfer_buffer", "slow", "slow_apparent", "in_chopper", "running_max", "pointer",
         "device_fast", "device_slow")
AGAD_STATE = ("running_mean", "past_mean", "in_chopper_switched", "transfer_counter")  # after STATE in AGAD cases
DETERMINISTIC = ("chopper 1, lr 50", "momentum 0.3, no forget", "reference and up_down", "m > n, small bounds")
# name: (device fields, compound fields, fast_lr, in size, out size)
STOCHASTIC = {
    "Table I, write noise": ({"write_noise_std": 0.5}, {"in_chop_prob": 0.3}, 0.5, 7, 10),
    "multiplicative noise, momentum": ({"mult_noise": True, "dw_min_std": 0.6},
                                       {"in_chop_prob": 0.5, "momentum": 0.3, "forget_buffer": False}, 0.5, 5, 9),
    "m > n, read steps": ({}, {"in_chop_prob": 0.2}, 0.5, 3, 6),
    "residual learning, gamma 0.3": ({"write_noise_std": 0.5}, {"in_chop_prob": 0.3, "gamma": 0.3}, 0.5, 7, 10),
}
# AGAD: V1 variants (simulator_helpers.AGAD_VARIANTS) and a stochastic case with a random chopper
AGAD_DETERMINISTIC = ("period 3, momentum 0.3, no forget, buffer cap 2", "random chopper at probability 1",
                      "period 2, lr 20")
AGAD_STOCHASTIC = {
    "AGAD, write and read noise, random chopper": (
        {"write_noise_std": 0.5, "dw_min_std": 0.3}, {"in_chop_prob": 0.3, "in_chop_random": True}, 0.5, 7, 10),
}
STREAMS = ((1, 0, 1, 0), (2**63 - 25, 7, 5, 4), (12345, 2**31 + 1, 10, 3))  # key, call, stream, slot
LAYER_STEPS, LAYER_LR = 3, 0.5


def layer_template() -> nn.Module:
    """The module structure of the layer case (its first Linear is split into two tiles)."""
    return nn.Sequential(nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 2))


def _reference_updates(sim: Any, batches: list[tuple[torch.Tensor, torch.Tensor]], lr: float, key: int) -> dict:
    """Run the C++ kernel on a copy of ``sim``'s state; the state after each batch and the counts."""
    from analog_tl.simulator import kernel

    fields = STATE + (AGAD_STATE if sim.agad else ())
    state = [getattr(sim, name).detach().clone() for name in fields]
    case = {"config": sim.settings.kernel_config(), "initial": [t.clone() for t in state], "batches": batches,
            "lr": lr, "key": key, "after": [], "counts": [], "agad": sim.agad}
    for call, (x, d) in enumerate(batches):
        inputs = (x, d, case["config"], lr, key, call)
        if sim.agad:
            counts = kernel.load().agad_update(*state[:len(STATE)], *inputs, *state[len(STATE):], 0)
        else:
            counts = kernel.load().cttv2_update(*state, *inputs)
        case["counts"].append(counts)
        case["after"].append([t.clone() for t in state])
    return case


def _deterministic(name: str) -> dict:
    from simulator_helpers import DETERMINISTIC_VARIANTS, deterministic_batch, deterministic_device, rpu_config, tile_pair

    device_fields, compound, lr, n, p = DETERMINISTIC_VARIANTS[name]
    config = rpu_config(deterministic_device(**device_fields), fast_lr=100.0, **compound)
    config.device.transfer_forward.out_noise = 0.0
    g = torch.Generator().manual_seed(len(name))
    _, sim = tile_pair(config, p, n, 0.3 * torch.randn(p, n, generator=g))
    drift = torch.where(torch.rand(p, generator=g) < 0.5, -1.0, 1.0)
    batches = [deterministic_batch([1, 3, 7, 16][k % 4], n, p, drift, g) for k in range(12)]
    return _reference_updates(sim, batches, lr, key=5)


def _agad_deterministic(name: str) -> dict:
    from simulator_helpers import AGAD_VARIANTS, agad_config, deterministic_batch, tile_pair

    device_fields, compound, lr, n, p = AGAD_VARIANTS[name]
    g = torch.Generator().manual_seed(len(name))
    _, sim = tile_pair(agad_config(device_fields, compound), p, n, 0.3 * torch.randn(p, n, generator=g))
    sim.transfer_counter.fill_(7)  # past the first chopper period of 3 or 2 within the batches: C is written
    drift = torch.where(torch.rand(p, generator=g) < 0.5, -1.0, 1.0)
    batches = [deterministic_batch([1, 3, 7, 16][k % 4], n, p, drift, g) for k in range(12)]
    return _reference_updates(sim, batches, lr, key=5)


def _stochastic(name: str) -> dict:
    from aihwkit.simulator.configs.devices import SoftBoundsReferenceDevice
    from simulator_helpers import rpu_config, tile_pair

    agad = name in AGAD_STOCHASTIC
    device_fields, compound, fast_lr, n, p = (AGAD_STOCHASTIC if agad else STOCHASTIC)[name]
    config = rpu_config(SoftBoundsReferenceDevice(w_max=1.0, w_min=-1.0, **device_fields), fast_lr=fast_lr,
                        algorithm="agad" if agad else "c-ttv2", **compound)
    config.device.transfer_forward.out_noise = 0.06
    if "read steps" in name:
        config.device.transfer_forward.out_res = 2e-5  # an ADC step of 4.8e-4 (of 2 x 12)
    g = torch.Generator().manual_seed(len(name))
    _, sim = tile_pair(config, p, n, 0.3 * torch.randn(p, n, generator=g))
    sim.transfer_buffer.copy_(1.8 * torch.rand(p, n, generator=g) - 0.9)  # near the threshold: C pulses soon
    if agad:
        sim.transfer_counter.fill_(2)  # C written from the third pass on (period 4)
    batches = [(torch.randn(m, n, generator=g), 0.1 * torch.randn(m, p, generator=g)) for m in (3, 12, 1, 8, 5)]
    return _reference_updates(sim, batches, lr=50.0, key=2**40 + 17)


def _io() -> dict:
    """Streams, DAC and ADC inputs with the C++ kernel's outputs."""
    from analog_tl.simulator import kernel

    module = kernel.load()
    rows = torch.tensor([0, 1, 7, 2**20 + 3], dtype=torch.int64)
    streams = {(normal, s): module.philox_draws(*s, rows, 37, normal) for normal in (True, False) for s in STREAMS}
    g = torch.Generator().manual_seed(0)
    inputs, dac_rows = torch.randn(9, 300, generator=g) * 2, torch.tensor([0, 4, 8, 2])
    scale = torch.tensor([1.0, 0.37, 3.0, 1e-3])
    dac = {(res, bound): module.io_prepare(inputs, dac_rows, scale, res, bound)
           for res, bound in ((2 / 254, 1.0), (0.0, 1.0), (0.05, 0.5))}
    y = torch.randn(5, 300, generator=g)
    y[0, 10] = 50.0  # only a positive saturation: failed
    y[1, 10], y[1, 200] = 50.0, -50.0  # positive, then negative last: failed only if negatives count
    y[2, 3] = -50.0  # only a negative saturation
    y[3, 250], y[3, 20] = 50.0, -50.0  # negative, then positive last: failed
    adc_rows, out_scale = torch.tensor([0, 3, 1, 4, 2]), torch.tensor([1.0, 2.0, 0.5, 1.0, 3.0])
    adc = {neg: module.io_finish(y, adc_rows, out_scale, 0.06, 24 / 510, 12.0, neg, 99, 3, 1, 2) for neg in (True, False)}
    return {"rows": rows, "streams": streams, "inputs": inputs, "dac_rows": dac_rows, "scale": scale, "dac": dac,
            "y": y, "adc_rows": adc_rows, "out_scale": out_scale, "adc": adc}


def train_layer(model: nn.Module, x: torch.Tensor, y: torch.Tensor, device: torch.device) -> list[torch.Tensor]:
    """LAYER_STEPS AnalogSGD steps of ``model`` on (x, y) on ``device``; the outputs of each step (on the CPU)."""
    from analog_tl.simulator import AnalogSGD

    model.to(device)
    optimizer = AnalogSGD(model, lr=LAYER_LR)
    outputs = []
    for _ in range(LAYER_STEPS):
        optimizer.zero_grad()
        out = model(x.to(device))
        nn.functional.cross_entropy(out, y.to(device)).backward()
        optimizer.step()
        outputs.append(out.detach().cpu())
    model.cpu()
    return outputs


def _layer() -> dict:
    """A converted two-layer model (split tiles) as a bundle, and three C++-kernel training steps of it."""
    from aihwkit.nn.conversion import convert_to_analog
    from simulator_helpers import rpu_config

    from analog_tl.simulator import bundle, from_aihwkit

    config = rpu_config(fast_lr=0.5)
    config.mapping.max_input_size = 4  # 6 inputs -> two tiles of 3
    torch.manual_seed(0)
    digital = layer_template()
    model = from_aihwkit(convert_to_analog(digital, config), digital, config, seed=3)
    data = bundle.pack(model)
    g = torch.Generator().manual_seed(4)
    x, y = torch.randn(5, 6, generator=g), torch.tensor([0, 1, 1, 0, 1])
    outputs = train_layer(model, x, y, torch.device("cpu"))
    return {"bundle": data, "x": x, "y": y, "outputs": outputs, "final": model.state_dict()}


def build() -> dict[str, Any]:
    """Every case (needs aihwkit and the C++ kernel; about ten seconds)."""
    return {"updates": {name: _deterministic(name) for name in DETERMINISTIC}
            | {name: _stochastic(name) for name in (*STOCHASTIC, *AGAD_STOCHASTIC)}
            | {f"AGAD {name}": _agad_deterministic(name) for name in AGAD_DETERMINISTIC},
            "io": _io(), "layer": _layer()}


@functools.lru_cache(maxsize=1)
def cases() -> dict[str, Any]:
    """The cases: from the file ``$ANALOG_TL_GPU_CASES`` names, else built here."""
    path = os.environ.get(CASES_ENV)
    if path:
        return torch.load(path, map_location="cpu", weights_only=True)
    return build()


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from analog_tl.io import atomic_path

    out = Path(sys.argv[1])
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        torch.save(build(), tmp)
    print(f"written: {out} ({out.stat().st_size / 2**20:.1f} MiB)")

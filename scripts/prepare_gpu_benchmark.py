"""Prepare the inputs of scripts/benchmark_gpu.py on a CPU machine with aihwkit (the GPU machine needs neither).

Usage::

    .venv/bin/python scripts/prepare_gpu_benchmark.py                      # -> results/gpu-benchmark/
    .venv/bin/python scripts/prepare_gpu_benchmark.py --full-paper         # + the paper Swin converted (1.5 GB)

Writes, for the default analog config (Table I c-TTv2 on the default device,
``analog.simulator: fast``) and 5 classes:

* ``small.pt`` (and ``tiny.pt`` with ``--models tiny``): the Swin converted by aihwkit, as a simulator bundle
  (small: 8 MiB);
* ``paper.pt``: the paper Swin converted (``--full-paper``), or else one
  converted 512 x 512 tile whose devices every paper-Swin tile shares
  (:func:`analog_tl.simulator.bundle.with_sampled_devices`; 10 MiB, for a
  machine that cannot take 1.5 GB, such as a lent GPU whose transfers are limited);
* ``gpu_cases.pt``: the reference cases of tests/test_simulator_gpu.py (inputs from aihwkit, results of the C++ kernel).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch import nn

REPO = Path(__file__).resolve().parents[1]
N_CLASSES = 5
SAMPLE_SIZE = 512  # aihwkit's default tile size limit: no tile of the paper Swin is larger


def _analog_config():
    from analog_tl.config import AnalogConfig

    return AnalogConfig(simulator="fast")


def convert_model(preset: str, seed: int = 0) -> tuple[nn.Module, dict]:
    """The simulator model of Swin ``preset`` converted with aihwkit, and what a record says about it."""
    from analog_tl.analog.devices import device_summary
    from analog_tl.analog.rpu import build_rpu_config
    from analog_tl.analog.transfer import convert
    from analog_tl.config import ModelConfig
    from analog_tl.models.factory import build_model
    from analog_tl.simulator import from_aihwkit

    analog_cfg = _analog_config()
    digital = build_model(ModelConfig(backbone="swin", preset=preset), N_CLASSES, seed=seed)
    rpu_config = build_rpu_config(analog_cfg)
    model = from_aihwkit(convert(digital, rpu_config), digital, rpu_config, seed=seed)
    record = {"kind": "converted", "preset": preset, "device": device_summary(analog_cfg.device), "seed": seed}
    return model, record


def sample_tile(seed: int = 0) -> tuple[nn.Module, dict]:
    """One converted SAMPLE_SIZE x SAMPLE_SIZE layer (its single tile's devices stand for every tile)."""
    from analog_tl.analog.devices import device_summary
    from analog_tl.analog.rpu import build_rpu_config
    from analog_tl.analog.transfer import convert
    from analog_tl.simulator import from_aihwkit

    analog_cfg = _analog_config()
    torch.manual_seed(seed)
    digital = nn.Sequential(nn.Linear(SAMPLE_SIZE, SAMPLE_SIZE))
    rpu_config = build_rpu_config(analog_cfg)
    model = from_aihwkit(convert(digital, rpu_config), digital, rpu_config, seed=seed)
    record = {"kind": "device sample", "preset": "paper", "sample_size": SAMPLE_SIZE,
              "device": device_summary(analog_cfg.device), "seed": seed}
    return model, record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("results/gpu-benchmark"))
    parser.add_argument("--models", nargs="+", default=["small", "paper"], choices=["tiny", "small", "paper"])
    parser.add_argument("--full-paper", action="store_true", help="convert the whole paper Swin (1.5 GB file)")
    args = parser.parse_args()
    from analog_tl.config import ModelConfig
    from analog_tl.simulator import bundle

    args.out.mkdir(parents=True, exist_ok=True)
    for preset in args.models:
        if preset == "paper" and not args.full_paper:
            model, record = sample_tile()
            bundle.save(args.out / "paper.pt", model, None, None, record)
        else:
            model, record = convert_model(preset)
            bundle.save(args.out / f"{preset}.pt", model, ModelConfig(backbone="swin", preset=preset), N_CLASSES,
                        record)
    sys.path.insert(0, str(REPO / "tests"))
    from gpu_cases import build

    from analog_tl.io import atomic_path

    with atomic_path(args.out / "gpu_cases.pt") as tmp:
        torch.save(build(), tmp)
    for path in sorted(args.out.glob("*.pt")):
        print(f"{path} ({path.stat().st_size / 2**20:.1f} MiB)")


if __name__ == "__main__":
    main()

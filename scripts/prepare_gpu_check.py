"""Prepare the inputs of scripts/gpu_check.py on a CPU machine with aihwkit (0.4 MiB; the GPU machine needs no aihwkit).

Usage::

    .venv/bin/python scripts/prepare_gpu_check.py            # -> results/gpu-check/inputs/ (about 15 s)

Writes, for the default analog config (Table I c-TTv2 on the default device,
``analog.simulator: fast``):

* ``population.json``: the tile settings, the device-to-device distributions
  of A and C (:class:`analog_tl.simulator.population.Population`), the device
  summary and the project's git state; gpu_check.py draws every tile's devices
  from it and a seed (plain JSON; a non-finite setting is written as Infinity);
* ``gpu_cases.pt``: the reference cases of tests/test_simulator_gpu.py (inputs
  from aihwkit, results of the C++ kernel).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parents[1]
FORMAT = "analog_tl gpu check inputs 1"


def population_record() -> dict[str, Any]:
    """Settings and device distributions of the default fast-simulator config, and what they were made from."""
    from analog_tl.analog.devices import device_summary
    from analog_tl.analog.rpu import build_rpu_config
    from analog_tl.config import AnalogConfig
    from analog_tl.provenance import project_record
    from analog_tl.simulator import tile_settings
    from analog_tl.simulator.population import Population

    analog_cfg = AnalogConfig(simulator="fast")
    rpu_config = build_rpu_config(analog_cfg)
    return {"format": FORMAT, "settings": tile_settings(rpu_config).as_dict(),
            "population": Population.from_rpu_config(rpu_config).as_dict(),
            "record": {"config": "analog_tl.config.AnalogConfig(simulator='fast')",
                       "device": device_summary(analog_cfg.device), "prepared_by": project_record()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("results/gpu-check/inputs"))
    args = parser.parse_args()
    sys.path.insert(0, str(REPO / "tests"))
    from gpu_cases import build

    from analog_tl.io import atomic_path

    args.out.mkdir(parents=True, exist_ok=True)
    with atomic_path(args.out / "population.json") as tmp:
        tmp.write_text(json.dumps(population_record(), indent=2, default=str) + "\n")
    with atomic_path(args.out / "gpu_cases.pt") as tmp:
        torch.save(build(), tmp)
    for path in sorted(args.out.iterdir()):
        print(f"{path} ({path.stat().st_size / 2**20:.2f} MiB)")


if __name__ == "__main__":
    main()

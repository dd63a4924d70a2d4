"""The preflight step: report what torch, Triton and aihwkit see and stop early if the requested GPU is not usable."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from analog_tl.io import write_json
from analog_tl.training.device import devices_seen, select_device
from analog_tl.vocabulary import AIHWKIT, FAST, SIMULATORS

log = logging.getLogger(__name__)
_LABELS = {"digital": "digital training", AIHWKIT: "analog training on aihwkit",
           FAST: "analog training on the fast simulator"}


def preflight(device_setting: str, out: str | Path, simulators: Sequence[str] = SIMULATORS) -> dict[str, Any]:
    """Check ``compute.device`` for digital training and each analog simulator the runs use; write the report.

    ``simulators``: those of this workflow's analog runs (``aihwkit``, ``fast``).
    The report's ``selected`` says where each trains.

    Raises:
        DeviceError: with the reason (no GPU visible, container without --nv, aihwkit without CUDA for
            aihwkit runs, no Triton for the fast simulator).
    """
    seen = devices_seen()
    log.info(
        "torch %s (CUDA build %s) sees %d GPU(s) %s; CUDA_VISIBLE_DEVICES=%r; aihwkit CUDA build: %s",
        seen["torch"], seen["torch_cuda_build"], len(seen["gpus"]), seen["gpus"], seen["cuda_visible_devices"],
        seen["aihwkit_cuda_build"],
    )
    selected = {trains: str(select_device(device_setting, trains)) for trains in ("digital", *simulators)}
    log.info("compute.device %s: %s", device_setting,
             ", ".join(f"{_LABELS[trains]} on {where}" for trains, where in selected.items()))
    report = {"compute_device": device_setting, "selected": selected, **seen}
    write_json(out, report)
    return report

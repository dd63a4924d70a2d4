"""The preflight step: report what torch and aihwkit see and stop early if the requested GPU is not usable."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from analog_tl.io import write_json
from analog_tl.training.device import devices_seen, select_device

log = logging.getLogger(__name__)


def preflight(device_setting: str, out: str | Path) -> dict[str, Any]:
    """Check ``compute.device`` against this machine for digital and analog training; write the report to ``out``.

    Raises:
        DeviceError: with the reason (no GPU visible, container without --nv, aihwkit without CUDA).
    """
    seen = devices_seen()
    log.info(
        "torch %s (CUDA build %s) sees %d GPU(s) %s; CUDA_VISIBLE_DEVICES=%r; aihwkit CUDA build: %s",
        seen["torch"], seen["torch_cuda_build"], len(seen["gpus"]), seen["gpus"], seen["cuda_visible_devices"],
        seen["aihwkit_cuda_build"],
    )
    selected = {kind: str(select_device(device_setting, analog=kind == "analog")) for kind in ("digital", "analog")}
    log.info("compute.device %s: digital training on %s, analog training on %s", device_setting,
             selected["digital"], selected["analog"])
    report = {"compute_device": device_setting, "selected": selected, **seen}
    write_json(out, report)
    return report

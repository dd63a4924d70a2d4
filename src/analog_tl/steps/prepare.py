"""Data preparation steps: the pre-training task and each fine-tuning task."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from analog_tl.config import DataConfig, to_dict
from analog_tl.data.prepare import prepare_task
from analog_tl.data.prepared import save_prepared

log = logging.getLogger(__name__)


def prepare(config: DataConfig, role: str, classes: list[str] | None, out: str | Path, task: str) -> dict[str, Any]:
    """Prepare ``classes`` of ``role`` (all when None) and write them to ``out``; return the sidecar."""
    data = prepare_task(config, role, classes)
    meta = save_prepared(data, out, {"task": task, "role": role, "data_config": to_dict(config)})
    for split, counts in data.counts().items():
        log.info("%s %s: %d images, per class %s", task, split, sum(counts), counts)
    log.info("wrote %s (sha256 %s)", out, meta["sha256"])
    return meta

"""Data steps: download a torchvision data set, prepare the pre-training task and each fine-tuning task."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from analog_tl.config import DataConfig, from_dict, to_dict
from analog_tl.data.prepare import prepare_task
from analog_tl.data.prepared import save_prepared
from analog_tl.data.sources import TORCHVISION_ROLES, fetch_torchvision
from analog_tl.io import write_json
from analog_tl.vocabulary import DATA_LOCATION_KEYS

log = logging.getLogger(__name__)


def data_config(params: dict[str, Any], workflow_data: dict[str, Any], download: bool | None = None) -> DataConfig:
    """A :class:`DataConfig` from a rule's data ``params`` plus the location keys (DATA_LOCATION_KEYS: where the
    images are, not what is prepared) of the workflow's ``data`` section.

    ``download`` overrides ``data.download`` (preparation jobs never download:
    the download rule did).
    """
    location = {key: workflow_data[key] for key in DATA_LOCATION_KEYS}
    if download is not None:
        location["download"] = download
    return from_dict(DataConfig, {**params, **location})


def download(config: DataConfig, dataset: str, out: str | Path) -> dict[str, Any]:
    """Fetch (``config.download``) or verify torchvision's ``dataset`` (cifar10, cifar100); write its record to ``out``."""
    record = fetch_torchvision(config, TORCHVISION_ROLES[dataset])
    write_json(out, record)
    log.info("%s ready in %s: %s", dataset, record["root"], record["images"])
    return record


def prepare(config: DataConfig, role: str, classes: list[str] | None, out: str | Path, task: str) -> dict[str, Any]:
    """Prepare ``classes`` of ``role`` (all when None) and write them to ``out``; return the sidecar."""
    data = prepare_task(config, role, classes)
    meta = save_prepared(data, out, {"task": task, "role": role, "data_config": to_dict(config)})
    for split, counts in data.counts().items():
        log.info("%s %s: %d images, per class %s", task, split, sum(counts), counts)
    log.info("wrote %s (sha256 %s)", out, meta["sha256"])
    return meta

"""Several training jobs per GPU: the GPU jobs' Snakemake resources and one GPU slot per running job.

``compute.jobs_per_gpu`` (k) is the one setting. Every GPU job (the training
rules and the preflight) declares :func:`job_resources`:

- ``gpu_jobs=1``: Snakemake starts at most ``resources: gpu_jobs`` of them at
  once (profiles/local-gpu: GPUs x k);
- the SLURM GPU request: ``gpu=N`` (``--gpus=N``) for one job per GPU; with
  k > 1 the string ``gres="gpu:N"``, which a job group requests once (an
  integer resource is summed over the group's jobs), and the jobs join the job
  group :data:`GROUP`, of which profiles/slurm packs k into one allocation
  (``group-components``).

Snakemake hands no GPU ids to the jobs it runs on one machine, so each job
claims a slot with :func:`job_gpu` before torch initialises CUDA: one of the k
slots of the least busy GPU among those it may use (:func:`visible_gpus`), and
from then on CUDA_VISIBLE_DEVICES names that GPU alone. A slot is an ``flock``
on a file in a folder of this machine (one per SLURM allocation, since SLURM
numbers the GPUs of each allocation from 0): the kernel releases it when the
job's process ends, however it ends, so a killed job never keeps a slot.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from analog_tl.errors import ConfigError

log = logging.getLogger(__name__)

GROUP = "gpu_share"  # the job group of the training rules (common.smk); profiles/slurm sets its group-components
SLOTS_ENV = "ANALOG_TL_GPU_SLOTS"  # folder of the slot files (default: a folder in the system's temporary folder)
NO_GPU = ("", "-1", "NoDevFiles")  # CUDA_VISIBLE_DEVICES values that hide every GPU


@dataclass(frozen=True)
class Slot:
    """Slot ``index`` (of ``per_gpu``) of GPU ``gpu``, one of ``gpus``."""

    gpu: str
    index: int
    per_gpu: int
    gpus: tuple[str, ...]


def jobs_per_gpu(config: Mapping[str, Any]) -> int:
    """``compute.jobs_per_gpu`` of a workflow config (the schema fills its default).

    Raises:
        ConfigError: unless it is a positive integer.
    """
    value = config["compute"]["jobs_per_gpu"]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"compute.jobs_per_gpu must be a positive integer (training jobs per GPU), got {value!r}")
    return value


def job_resources(gpus_per_job: int, per_gpu: int) -> dict[str, int | str]:
    """Snakemake resources of a GPU job with ``gpus_per_job`` GPUs per SLURM job and ``per_gpu`` jobs per GPU."""
    if per_gpu == 1:
        return {"gpu_jobs": 1, "gpu": gpus_per_job}
    shared = {"gres": f"gpu:{gpus_per_job}"} if gpus_per_job > 0 else {}  # 0: the profile's set-resources gres
    return {"gpu_jobs": 1, **shared}


def job_group(per_gpu: int, group_components: Mapping[str, int]) -> str | None:
    """The job group of a training job: :data:`GROUP` when several jobs share a GPU, else none.

    ``group_components`` are Snakemake's ``--group-components`` (profiles/slurm).

    Raises:
        ConfigError: if they pack another number of jobs than ``per_gpu`` into one allocation.
    """
    packed = group_components.get(GROUP)
    if packed is not None and packed != per_gpu:
        raise ConfigError(
            f"compute.jobs_per_gpu is {per_gpu} but the profile's group-components packs {GROUP}={packed} "
            f"jobs into one allocation; set group-components: [{GROUP}={per_gpu}] (profiles/slurm)"
        )
    return GROUP if per_gpu > 1 else None


def visible_gpus(environ: Mapping[str, str]) -> list[str]:
    """The GPUs a job may use: CUDA_VISIBLE_DEVICES's (SLURM's or the user's choice), else every GPU nvidia-smi lists.

    Ids are CUDA_VISIBLE_DEVICES entries (indices or UUIDs), up to the first
    that hides the rest; nvidia-smi's are UUIDs (unambiguous whatever
    CUDA_DEVICE_ORDER says). Empty without GPUs or without an NVIDIA driver.
    """
    named = environ.get("CUDA_VISIBLE_DEVICES")
    if named is None:
        return _nvidia_smi_gpus()
    gpus = []
    for entry in (part.strip() for part in named.split(",")):
        if entry in NO_GPU or entry.startswith("-"):
            break
        gpus.append(entry)
    return gpus


def _nvidia_smi_gpus() -> list[str]:
    try:
        result = subprocess.run(["nvidia-smi", "--query-gpu=uuid", "--format=csv,noheader"],
                                capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [line.strip() for line in result.stdout.splitlines() if line.strip()] if result.returncode == 0 else []


def slot_folder(environ: Mapping[str, str]) -> Path:
    """The folder of this machine's (and SLURM allocation's) slot files: ``$ANALOG_TL_GPU_SLOTS`` or a temp folder."""
    root = environ.get(SLOTS_ENV) or os.path.join(tempfile.gettempdir(), f"analog-tl-gpu-slots-{os.getuid()}")
    allocation = environ.get("SLURM_JOB_ID")
    return Path(root) / (f"slurm-{allocation}" if allocation else "machine")


def _file_name(gpu: str) -> str:
    return "gpu-" + re.sub(r"[^A-Za-z0-9_.-]", "_", gpu)


def _try_lock(path: Path) -> IO[str] | None:
    """``path`` opened and exclusively locked, or None if another process holds it."""
    handle = open(path, "a+")  # noqa: SIM115 - the caller keeps it open as long as it holds the lock
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


@contextlib.contextmanager
def _mutex(folder: Path) -> Iterator[None]:
    """Only one job at a time looks for and takes a slot (so two jobs never pick by the same counts)."""
    with open(folder / "allocator.lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _free_slots(folder: Path, gpu: str, per_gpu: int) -> list[int]:
    free = []
    for index in range(per_gpu):
        handle = _try_lock(folder / f"{_file_name(gpu)}.slot{index}")
        if handle is not None:
            handle.close()
            free.append(index)
    return free


def _claims(folder: Path, gpu: str) -> int:
    """How many slots of ``gpu`` were taken so far (it spreads jobs that do not overlap over the GPUs too)."""
    path = folder / f"{_file_name(gpu)}.claims"
    return int(path.read_text() or 0) if path.exists() else 0


def _take(folder: Path, gpus: Sequence[str], per_gpu: int) -> tuple[IO[str], Slot] | None:
    """A slot of the GPU with the fewest busy slots (then the fewest claims so far), or None if all are busy."""
    free = {gpu: _free_slots(folder, gpu, per_gpu) for gpu in gpus}
    candidates = [gpu for gpu in gpus if free[gpu]]
    if not candidates:
        return None
    gpu = min(candidates, key=lambda g: (per_gpu - len(free[g]), _claims(folder, g)))
    index = free[gpu][0]
    handle = _try_lock(folder / f"{_file_name(gpu)}.slot{index}")
    if handle is None:  # cannot happen under the mutex; kept so that a broken lock fails loudly
        raise RuntimeError(f"GPU slot {gpu}/{index} was free a moment ago and is now taken")
    (folder / f"{_file_name(gpu)}.claims").write_text(str(_claims(folder, gpu) + 1))
    return handle, Slot(gpu, index, per_gpu, tuple(gpus))


@contextlib.contextmanager
def claimed_slot(gpus: Sequence[str], per_gpu: int, folder: Path, poll_s: float = 2.0) -> Iterator[Slot]:
    """Hold one of ``per_gpu`` slots of one of ``gpus`` for the ``with`` block, waiting while every slot is taken."""
    folder.mkdir(parents=True, exist_ok=True)
    waiting_since = None
    while True:
        with _mutex(folder):
            taken = _take(folder, gpus, per_gpu)
        if taken is not None:
            break
        if waiting_since is None:
            waiting_since = time.monotonic()
            log.info("all %d GPU slots are taken (%d GPU(s) %s x compute.jobs_per_gpu %d); waiting for one "
                     "(Snakemake started more GPU jobs than that: resources gpu_jobs above GPUs x jobs_per_gpu)",
                     len(gpus) * per_gpu, len(gpus), list(gpus), per_gpu)
        time.sleep(poll_s)
    handle, slot = taken
    if waiting_since is not None:
        log.info("got a GPU slot after %.0f s", time.monotonic() - waiting_since)
    try:
        yield slot
    finally:
        handle.close()  # releases the lock


@contextlib.contextmanager
def job_gpu(per_gpu: int, environ: MutableMapping[str, str], poll_s: float = 2.0) -> Iterator[Slot | None]:
    """For the ``with`` block: a slot of a GPU in ``environ``'s view, whose GPU alone CUDA_VISIBLE_DEVICES then names.

    Must run before torch initialises CUDA (CUDA reads CUDA_VISIBLE_DEVICES
    once). Yields None, changing nothing, where no GPU is visible.
    """
    gpus = visible_gpus(environ)
    if not gpus:
        yield None
        return
    with claimed_slot(gpus, per_gpu, slot_folder(environ), poll_s) as slot:
        saved = environ.get("CUDA_VISIBLE_DEVICES")
        environ["CUDA_VISIBLE_DEVICES"] = slot.gpu
        log.info("GPU slot: GPU %s (slot %d of %d; GPUs %s); CUDA_VISIBLE_DEVICES=%s",
                 slot.gpu, slot.index + 1, per_gpu, list(gpus), slot.gpu)
        try:
            yield slot
        finally:
            if saved is None:
                environ.pop("CUDA_VISIBLE_DEVICES", None)
            else:
                environ["CUDA_VISIBLE_DEVICES"] = saved

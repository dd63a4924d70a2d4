"""Several training jobs per GPU (analog_tl.gpu_slots): slots on simulated GPUs, job resources, the group check.

The GPUs are simulated: CUDA_VISIBLE_DEVICES (or a stand-in `nvidia-smi`)
names them; nothing here needs a GPU. Concurrency is checked with real
processes that hold their slots at the same time.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest

from analog_tl.errors import ConfigError
from analog_tl.gpu_slots import (
    GROUP, SLOTS_ENV, claimed_slot, job_gpu, job_group, job_resources, jobs_per_gpu, slot_folder, visible_gpus,
)

REPO = Path(__file__).resolve().parents[1]
SPAWN = multiprocessing.get_context("spawn")  # children that share nothing with the test process but the slot folder


def two_gpus(tmp_path: Path) -> dict[str, str]:
    """A job environment with two simulated GPUs and a slot folder of its own."""
    return {"CUDA_VISIBLE_DEVICES": "0,1", SLOTS_ENV: str(tmp_path / "slots")}


def _hold_slot(environ: dict[str, str], per_gpu: int, barrier, release, seen) -> None:  # type: ignore[no-untyped-def]
    """A job: take a slot, report what CUDA would see, wait for all jobs to hold theirs, hold it until released."""
    with job_gpu(per_gpu, environ, poll_s=0.05) as slot:
        seen.put((environ["CUDA_VISIBLE_DEVICES"], slot.index))
        if barrier is not None:
            barrier.wait()
        release.wait(60)


@pytest.mark.parametrize("value", [1, 3])
def test_jobs_per_gpu_accepts_positive_integers(value):
    assert jobs_per_gpu({"compute": {"jobs_per_gpu": value}}) == value


@pytest.mark.parametrize("value", [0, -2, 1.5, "2", True, None])
def test_jobs_per_gpu_refuses_anything_else_with_one_clear_message(value):
    with pytest.raises(ConfigError, match=rf"compute.jobs_per_gpu must be a positive integer .*got {value!r}"):
        jobs_per_gpu({"compute": {"jobs_per_gpu": value}})


def test_gpu_jobs_request_a_slot_and_their_gpus_per_job_or_once_per_group():
    assert job_resources(1, 1) == {"gpu_jobs": 1, "gpu": 1}  # SLURM: --gpus=1 per job, as before
    assert job_resources(2, 1) == {"gpu_jobs": 1, "gpu": 2}
    assert job_resources(1, 4) == {"gpu_jobs": 1, "gres": "gpu:1"}  # a string: a job group requests it once
    assert job_resources(0, 4) == {"gpu_jobs": 1}  # gpus_per_job 0: the profile's set-resources say it


def test_training_jobs_join_the_group_only_when_they_share_a_gpu_and_the_profile_must_agree():
    assert job_group(1, {}) is None and job_group(1, {GROUP: 1}) is None
    assert job_group(3, {}) == GROUP and job_group(3, {GROUP: 3}) == GROUP
    with pytest.raises(ConfigError, match=rf"jobs_per_gpu is 2 but .*{GROUP}=1 .*group-components: \[{GROUP}=2\]"):
        job_group(2, {GROUP: 1})
    with pytest.raises(ConfigError, match="jobs_per_gpu is 1 but"):
        job_group(1, {GROUP: 4})


@pytest.mark.parametrize("named, gpus", [
    ("0,1", ["0", "1"]), (" 2 , 3 ", ["2", "3"]), ("GPU-5f1c", ["GPU-5f1c"]), ("", []), ("-1", []),
    ("NoDevFiles", []), ("0,-1,1", ["0"]),  # CUDA ignores what follows an invalid entry
])
def test_the_gpus_a_job_may_use_are_those_cuda_visible_devices_names(named, gpus):
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": named}) == gpus


def test_without_cuda_visible_devices_every_gpu_nvidia_smi_lists_by_uuid(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no nvidia-smi: no GPU
    assert visible_gpus({}) == []
    smi = tmp_path / "nvidia-smi"
    smi.write_text("#!/bin/sh\n[ \"$1\" = --query-gpu=uuid ] && printf 'GPU-aaaa\\nGPU-bbbb\\n'\n")
    smi.chmod(0o755)
    assert visible_gpus({}) == ["GPU-aaaa", "GPU-bbbb"]


def test_slots_are_per_machine_and_per_slurm_allocation(tmp_path):
    assert slot_folder({SLOTS_ENV: str(tmp_path)}) == tmp_path / "machine"
    allocation = {SLOTS_ENV: str(tmp_path), "SLURM_JOB_ID": "42"}
    assert slot_folder(allocation) == tmp_path / "slurm-42"  # SLURM numbers each allocation's GPUs from 0
    assert slot_folder({}).parent.name == f"analog-tl-gpu-slots-{os.getuid()}"


def test_two_jobs_per_gpu_on_two_gpus_run_four_at_once_each_seeing_one_gpu_and_a_fifth_waits(tmp_path):
    barrier, release, seen = SPAWN.Barrier(4, timeout=60), SPAWN.Event(), SPAWN.Queue()
    jobs = [SPAWN.Process(target=_hold_slot, args=(two_gpus(tmp_path), 2, barrier, release, seen)) for _ in range(4)]
    for job in jobs:
        job.start()
    views = [seen.get(timeout=60) for _ in jobs]  # the barrier lets no job go on before all four hold a slot
    assert Counter(gpu for gpu, _ in views) == {"0": 2, "1": 2}  # each sees one GPU, two jobs per GPU
    assert sorted(views) == [("0", 0), ("0", 1), ("1", 0), ("1", 1)]
    fifth = SPAWN.Process(target=_hold_slot, args=(two_gpus(tmp_path), 2, None, release, seen))
    fifth.start()
    time.sleep(1.0)
    assert seen.empty()  # every slot is taken: the fifth waits
    release.set()  # the four finish; the fifth gets a slot
    assert seen.get(timeout=60)[0] in ("0", "1")
    for job in [*jobs, fifth]:
        job.join(60)
        assert job.exitcode == 0


def test_a_killed_job_frees_its_slot(tmp_path):
    environ = {"CUDA_VISIBLE_DEVICES": "0", SLOTS_ENV: str(tmp_path)}
    release, seen = SPAWN.Event(), SPAWN.Queue()
    holder = SPAWN.Process(target=_hold_slot, args=(environ, 1, None, release, seen))
    holder.start()
    assert seen.get(timeout=60) == ("0", 0)
    os.kill(holder.pid, signal.SIGKILL)  # no clean-up code runs
    holder.join(60)
    with claimed_slot(["0"], 1, slot_folder(environ), poll_s=0.05) as slot:
        assert slot.gpu == "0"


def test_jobs_that_do_not_overlap_alternate_between_the_gpus(tmp_path):
    folder = tmp_path / "slots"
    gpus = []
    for _ in range(4):
        with claimed_slot(["0", "1"], 2, folder) as slot:
            gpus.append(slot.gpu)
    assert gpus == ["0", "1", "0", "1"]


def test_job_gpu_names_one_gpu_for_the_block_and_restores_the_environment(tmp_path):
    environ = two_gpus(tmp_path)
    with job_gpu(1, environ) as slot:
        assert environ["CUDA_VISIBLE_DEVICES"] == slot.gpu == "0" and slot.gpus == ("0", "1")
    assert environ["CUDA_VISIBLE_DEVICES"] == "0,1"
    hidden = {"CUDA_VISIBLE_DEVICES": "", SLOTS_ENV: str(tmp_path)}
    with job_gpu(1, hidden) as slot:  # no GPU: nothing to claim, nothing changed
        assert slot is None and hidden["CUDA_VISIBLE_DEVICES"] == ""


def _step(tmp_path: Path, environ: dict[str, str], resources: str) -> str:
    """What a Snakemake script job with ``resources`` sees as CUDA_VISIBLE_DEVICES inside ``snakemake_step``."""
    script = textwrap.dedent(f"""
        import os, sys
        from types import SimpleNamespace
        from analog_tl.steps.context import snakemake_step
        snakemake = SimpleNamespace(log=[], threads=1, scriptdir={str(REPO / 'scripts')!r},
                                    resources=SimpleNamespace({resources}), config={{"compute": {{"jobs_per_gpu": 2}}}})
        with snakemake_step(snakemake):
            print(os.environ.get("CUDA_VISIBLE_DEVICES"))
    """)
    result = subprocess.run([sys.executable, "-c", script], env={**os.environ, **environ}, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_a_gpu_job_step_sees_its_slots_gpu_and_other_steps_see_every_gpu(tmp_path):
    assert _step(tmp_path, two_gpus(tmp_path), "gpu_jobs=1") == "0"
    assert _step(tmp_path, two_gpus(tmp_path), "") == "0,1"  # data preparation, conversion: no slot

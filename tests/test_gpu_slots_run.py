"""Several training jobs per GPU through Snakemake: profiles/local-gpu on simulated GPUs, the checks of the config.

Snakemake runs the real workflow with the GPU profile; the apptainer TEST
DOUBLE (tests/doubles/apptainer) starts each job without a container. The two
GPUs are simulated: CUDA_VISIBLE_DEVICES=0,1 in Snakemake's environment, as a
user would restrict a machine's GPUs. No GPU exists behind them, so training
runs with compute.device: cpu, except in the test of the preflight, which
asks for the GPU and must be refused.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from analog_tl.gpu_slots import GROUP, SLOTS_ENV
from workflow_helpers import (
    IMAGE, QUICK, REPO, SLOT_LINE, SNAKEMAKE, TRACEBACK, double_env, prepare_workdir, recorded_calls, script_of,
    slot_of,
)

pytestmark = pytest.mark.slow

SEEDS = [0, 1, 2, 3]
SHARED = {  # four digital runs that are ready at the same moment (task data and preflight only), two jobs per GPU
    **QUICK,
    "container": IMAGE,
    "tasks": {"2class": QUICK["tasks"]["2class"]},
    "finetune": {**QUICK["finetune"], "seeds": SEEDS},
    "compute": {"device": "cpu", "jobs_per_gpu": 2},
    "threads": 1,
}
RUNS = [f"results/runs/2class/digital_scratch/seed~{seed}" for seed in SEEDS]


def run_on_two_gpus(workdir: Path, runs: list[str]) -> tuple[subprocess.CompletedProcess, list[dict]]:
    """``runs`` through profiles/local-gpu, 4 GPU jobs at once on GPUs 0 and 1; the result, the double's records."""
    log = workdir / "apptainer-calls.jsonl"
    env = {**double_env(log, dict(os.environ)), "CUDA_VISIBLE_DEVICES": "0,1", SLOTS_ENV: str(workdir / "slots")}
    command = [*SNAKEMAKE, "--directory", str(workdir), *(f"{run}/final.json" for run in runs),
               "--profile", str(REPO / "profiles" / "local-gpu"), "--cores", "4", "--resources", "gpu_jobs=4"]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600), recorded_calls(log)


@pytest.fixture(scope="module")
def shared_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("two-gpus")
    prepare_workdir(workdir, SHARED)
    result, calls = run_on_two_gpus(workdir, RUNS)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    return workdir, calls


def test_two_jobs_per_gpu_on_two_gpus_run_four_jobs_at_once_each_on_its_own_gpu(shared_run):
    workdir, calls = shared_run
    assert {call["cuda_visible_devices"] for call in calls} == {"0,1"}  # Snakemake hands every job both GPUs
    seen = [json.loads((workdir / run / "run.json").read_text())["device"]["cuda_visible_devices"] for run in RUNS]
    assert Counter(seen) == {"0": 2, "1": 2}  # each run saw exactly one GPU, two runs per GPU
    slots = sorted(slot_of(workdir / "logs" / "runs" / "2class" / "digital_scratch" / f"seed~{seed}.log")
                   for seed in SEEDS)
    # the second slot of a GPU is taken only while its first is held: all four ran at once
    assert slots == [("0", 1, 2), ("0", 2, 2), ("1", 1, 2), ("1", 2, 2)]


def test_the_preflight_checked_one_gpu_of_its_own_and_data_jobs_took_no_slot(shared_run):
    workdir, calls = shared_run
    assert json.loads((workdir / "results" / "preflight" / "devices.json").read_text())["cuda_visible_devices"] == "0"
    assert slot_of(workdir / "logs" / "preflight.log") == ("0", 1, 2)
    data_logs = list((workdir / "logs" / "prepare_data").glob("*.log"))
    assert data_logs and not any(SLOT_LINE.search(log.read_text()) for log in data_logs)
    assert sorted(script_of(call) for call in calls) == ["finetune_digital"] * 4 + ["preflight", "prepare_data"]


def test_a_gpu_that_the_job_cannot_see_stops_the_run_at_the_preflight(tmp_path):
    """compute.device auto: the job's GPU (0) is named but torch sees none (as in a container without --nv)."""
    prepare_workdir(tmp_path, {**SHARED, "compute": {"device": "auto", "jobs_per_gpu": 2}})
    result, calls = run_on_two_gpus(tmp_path, RUNS[:1])
    assert result.returncode != 0
    log = (tmp_path / "logs" / "preflight.log").read_text()
    assert "a GPU was allocated to this job (CUDA_VISIBLE_DEVICES='0') but torch sees none" in log, log
    assert TRACEBACK not in log
    assert {script_of(call) for call in calls} <= {"preflight", "prepare_data"}  # no training job started
    assert not (tmp_path / "results" / "runs").exists()


def plan(workdir: Path, jobs_per_gpu, *args: str) -> subprocess.CompletedProcess:  # type: ignore[no-untyped-def]
    """A dry run of RUNS with compute.jobs_per_gpu set to ``jobs_per_gpu``."""
    prepare_workdir(workdir, {**SHARED, "compute": {"device": "cpu", "jobs_per_gpu": jobs_per_gpu}})
    env = double_env(workdir / "apptainer-calls.jsonl", dict(os.environ))  # the profiles start jobs in Apptainer
    targets = [f"{run}/final.json" for run in RUNS]
    return subprocess.run([*SNAKEMAKE, "--directory", str(workdir), *targets, "-n", *args],
                          env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("value, message", [
    (0, "compute.jobs_per_gpu: 0 is less than the minimum of 1"),
    (-1, "compute.jobs_per_gpu: -1 is less than the minimum of 1"),
    (1.5, "compute.jobs_per_gpu: 1.5 is not of type 'integer'"),
    ("2", "compute.jobs_per_gpu: '2' is not of type 'integer'"),
])
def test_a_bad_jobs_per_gpu_stops_the_workflow_with_one_line(tmp_path, value, message):
    result = plan(tmp_path, value, "--cores", "1")
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == f"Config error: {message}"
    assert TRACEBACK not in result.stdout + result.stderr


def test_the_slurm_profile_must_pack_as_many_jobs_as_share_a_gpu(tmp_path):
    """profiles/slurm says group-components gpu_share=1 (jobs_per_gpu's default): 2 in the config is refused."""
    result = plan(tmp_path / "a", 2, "--profile", str(REPO / "profiles" / "slurm"))
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == (
        f"Config error: compute.jobs_per_gpu is 2 but the profile's group-components packs {GROUP}=1 jobs into one "
        f"allocation; set group-components: [{GROUP}=2] (profiles/slurm)")
    packed = plan(tmp_path / "b", 2, "--profile", str(REPO / "profiles" / "slurm"), "--group-components", f"{GROUP}=2")
    assert packed.returncode == 0, packed.stderr[-3000:]
    groups = (packed.stdout + packed.stderr).split(f"Group job {GROUP} ")[1:]
    assert len(groups) == 2 and all(group.count("rule train_digital_scratch:") == 2 for group in groups)
    gpu_jobs = [line for line in packed.stdout.splitlines() if "resources:" in line and "gpu_jobs=1" in line]
    assert len(gpu_jobs) == 5  # the four runs and the preflight: the GPU once per SLURM job, as a string
    assert all(line.endswith(", gres=gpu:1") and ", gpu=" not in line for line in gpu_jobs), gpu_jobs

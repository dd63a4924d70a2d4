"""profiles/slurm against a real SLURM: a one-node SLURM 22.05 cluster on localhost (tests/slurm_cluster.py).

Needs root (to install `slurm-wlm` and `munge` when missing and to run the
daemons); CI runs as root, elsewhere the module is skipped with that reason.
The tiny workflow goes through ``--profile profiles/slurm`` unchanged except
for what this cluster lacks: its partition, no account, and ``squeue`` for job
status (no accounting storage, so no ``sacct``). Jobs start through the
apptainer TEST DOUBLE (tests/doubles/apptainer), which records each job's
SLURM job id and CUDA_VISIBLE_DEVICES and runs it without a container. The
node's one "GPU" is a generic resource backed by /dev/null: the GPU requests
are accepted and allocated by SLURM, but no GPU exists, so the config says
``compute.device: cpu``.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml

from analog_tl.gpu_slots import GROUP
from slurm_cluster import PARTITION, LocalSlurm, foreign_configuration, install_packages
from workflow_helpers import (
    IMAGE, QUICK, REPO, SNAKEMAKE, double_env, final_without_time, metrics_without_time, prepare_workdir,
    recorded_calls, script_of, slot_of,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="starting a SLURM cluster needs root (CI runs as root)"),
]

PROFILE = REPO / "profiles" / "slurm"
CONFIG = {**QUICK, "container": IMAGE, "compute": {"device": "cpu", "gpus_per_job": 1}, "threads": 2}
DIGITAL_RUNS = ["pretrain", "runs/2class/digital_tl/seed~0", "runs/2class/digital_scratch/seed~0"]
ANALOG_RUN = "runs/2class/analog_tl/noise~0.0/fast_lr~0.1/seed~0"
TARGETS = [f"results/{run}/final.json" for run in [*DIGITAL_RUNS, ANALOG_RUN]]
TRAINING_RULES = {"preflight", "pretrain", "finetune_digital", "finetune_analog"}  # the scripts that request a GPU
THREADED_SCRIPTS = {"pretrain", "finetune_digital", "finetune_analog", "convert_analog"}  # threads: config threads


def cluster_overrides() -> list[str]:
    """The profile's default resources with this cluster's partition and no account; squeue for status."""
    profile = yaml.safe_load((PROFILE / "config.yaml").read_text())
    resources = {**profile["default-resources"], "slurm_partition": PARTITION}
    resources.pop("slurm_account")
    return [
        "--default-resources", *(f"{key}={value}" for key, value in resources.items()),
        "--slurm-no-account",
        "--slurm-status-command", "squeue",
        "--slurm-init-seconds-before-status-checks", "1",
        "--latency-wait", "5",
    ]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    foreign = foreign_configuration()
    if foreign is not None:
        pytest.skip(f"{foreign} exists: this machine has its own SLURM, which the test cluster leaves alone")
    install_packages()
    slurm = LocalSlurm(tmp_path_factory.mktemp("slurm"))
    try:
        slurm.start()
        yield slurm
    finally:
        slurm.stop()


def run_on_slurm(
    cluster: LocalSlurm, workdir: Path, *extra: str, targets: list[str] = TARGETS
) -> tuple[subprocess.CompletedProcess, list[dict]]:
    """``targets`` through profiles/slurm (this cluster's overrides); Snakemake's result and the double's records."""
    log = workdir / "apptainer-calls.jsonl"
    # timeout -k: while it polls job status the SLURM plugin ignores SIGTERM and SIGINT
    command = ["timeout", "-k", "10", "600", *SNAKEMAKE, "--directory", str(workdir), *targets,
               "--profile", str(PROFILE), *cluster_overrides(), *extra]
    result = subprocess.run(command, env=double_env(log, cluster.env), capture_output=True, text=True, timeout=660)
    return result, recorded_calls(log)


@pytest.fixture(scope="module")
def slurm_run(cluster, tmp_path_factory):
    """The targets through profiles/slurm; returns (workdir, Snakemake's output, the double's records, job info)."""
    workdir = tmp_path_factory.mktemp("on-slurm")
    prepare_workdir(workdir, CONFIG)
    result, calls = run_on_slurm(cluster, workdir)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{output[-5000:]}\n{cluster.logs()}"
    jobs = {call["slurm_job_id"]: cluster.job_info(call["slurm_job_id"]) for call in calls if call["slurm_job_id"]}
    return workdir, output, calls, jobs


@pytest.fixture(scope="module")
def local_run(tmp_path_factory) -> Path:
    """The same targets with plain `snakemake --cores 2` on this machine."""
    workdir = tmp_path_factory.mktemp("local")
    prepare_workdir(workdir, CONFIG)
    result = subprocess.run([*SNAKEMAKE, "--directory", str(workdir), *TARGETS, "--cores", "2"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    return workdir


def test_every_job_ran_as_its_own_slurm_job_in_the_configured_image_with_nv(slurm_run):
    _, _, calls, jobs = slurm_run
    assert sorted(script_of(call) for call in calls) == [
        "convert_analog", "finetune_analog", "finetune_digital", "finetune_digital", "preflight",
        "prepare_data", "prepare_data", "pretrain",
    ]
    assert all(call["slurm_job_id"] for call in calls), calls
    assert len(jobs) == len(calls)  # one SLURM job per Snakemake job
    assert {call["image"] for call in calls} == {IMAGE}
    assert all(call["nv"] for call in calls)  # apptainer-args --nv from the profile


def test_training_jobs_were_allocated_the_gpu_and_the_others_none(slurm_run):
    _, _, calls, jobs = slurm_run
    for call in calls:
        job = jobs[call["slurm_job_id"]]
        if script_of(call) in TRAINING_RULES:
            assert call["cuda_visible_devices"] == "0", call
            assert "gpu:1" in job["TresPerJob"] or "gpu:1" in job.get("TresPerNode", ""), job
        else:
            assert call["cuda_visible_devices"] is None, call
            assert "gpu" not in job.get("TresPerJob", "") + job.get("TresPerNode", ""), job


def test_the_profile_resources_reached_slurm(slurm_run):
    """Partition, memory and runtimes (with the attempt expressions) as written in profiles/slurm; CPUs = threads."""
    _, _, calls, jobs = slurm_run
    profile = yaml.safe_load((PROFILE / "config.yaml").read_text())
    assert "cpus_per_task" not in profile["default-resources"]  # the CPUs follow the rules' threads
    by_script = {script_of(call): jobs[call["slurm_job_id"]] for call in calls}
    for call in calls:
        job = jobs[call["slurm_job_id"]]
        assert job["Partition"] == PARTITION
        threads = CONFIG["threads"] if script_of(call) in THREADED_SCRIPTS else 1
        assert job["NumCPUs"] == str(threads), (script_of(call), job["NumCPUs"])
    assert by_script["prepare_data"]["TimeLimit"] == "01:00:00"  # runtime "60 * attempt", attempt 1
    assert by_script["prepare_data"]["MinMemoryNode"] == "16000M"
    assert by_script["pretrain"]["TimeLimit"] == "04:00:00"  # set-resources pretrain runtime "240 * attempt"
    assert by_script["pretrain"]["MinMemoryNode"] == "32000M"
    assert by_script["finetune_analog"]["TimeLimit"] == "12:00:00"


def test_digital_results_equal_a_local_run(slurm_run, local_run):
    workdir, _, _, _ = slurm_run
    for run in DIGITAL_RUNS:
        ours, theirs = workdir / "results" / run, local_run / "results" / run
        assert final_without_time(ours) == final_without_time(theirs), run
        pd.testing.assert_frame_equal(metrics_without_time(ours), metrics_without_time(theirs))
    analog = final_without_time(workdir / "results" / ANALOG_RUN)
    assert 0 <= analog["test_error_at_best_val"] <= 1  # analog updates are not bit-reproducible (docs/reproducibility.md)
    assert analog.keys() == final_without_time(local_run / "results" / ANALOG_RUN).keys()


def test_the_run_records_show_the_slurm_allocation(slurm_run):
    workdir, _, _, jobs = slurm_run
    record = json.loads((workdir / "results" / DIGITAL_RUNS[1] / "run.json").read_text())
    assert record["device"]["slurm_job_id"] in jobs
    assert record["device"]["cuda_visible_devices"] == "0"  # the allocated (stand-in) GPU
    assert record["device"]["torch_device"] == "cpu"  # compute.device: cpu; no GPU exists behind it
    assert record["device"]["torch_threads"] == CONFIG["threads"]  # the threads SLURM allocated are the ones used


def test_a_job_allocated_a_gpu_it_cannot_see_stops_the_run_at_the_preflight(cluster, tmp_path):
    """compute.device auto, a GPU allocated by SLURM but invisible (as in a container without --nv): no training job."""
    prepare_workdir(tmp_path, {**CONFIG, "compute": {"device": "auto", "gpus_per_job": 1}})
    result, calls = run_on_slurm(cluster, tmp_path, "--retries", "0")  # the profile's retries would repeat it twice
    assert result.returncode != 0
    log = (tmp_path / "logs" / "preflight.log").read_text()
    assert "a GPU was allocated to this job (CUDA_VISIBLE_DEVICES='0') but torch sees none" in log, log
    assert "--nv" in log and "Traceback" not in log
    assert {script_of(call) for call in calls} <= {"preflight", "prepare_data"}  # training never submitted
    assert not (tmp_path / "results" / "pretrain").exists() and not (tmp_path / "results" / "runs").exists()


def test_two_runs_per_gpu_share_one_slurm_job_and_its_gpu(cluster, tmp_path):
    """compute.jobs_per_gpu 2, group-components gpu_share=2: one SLURM job asks for the GPU once and runs both runs.

    The pinned plugin runs a group's runs one after another (profiles/slurm): the job asks for the sum of
    their runtimes and one run's CPUs and memory, and each run holds the GPU's first slot in turn.
    """
    runs = [f"runs/2class/digital_scratch/seed~{seed}" for seed in (0, 1)]
    prepare_workdir(tmp_path, {**CONFIG, "tasks": {"2class": CONFIG["tasks"]["2class"]},
                               "finetune": {**CONFIG["finetune"], "seeds": [0, 1]},
                               "compute": {"device": "cpu", "gpus_per_job": 1, "jobs_per_gpu": 2}})
    result, calls = run_on_slurm(cluster, tmp_path, "--group-components", f"{GROUP}=2",
                                 targets=[f"results/{run}/final.json" for run in runs])
    assert result.returncode == 0, f"{(result.stdout + result.stderr)[-5000:]}\n{cluster.logs()}"
    trained = [call for call in calls if script_of(call) == "finetune_digital"]
    assert len(trained) == 2 and trained[0]["slurm_job_id"] == trained[1]["slurm_job_id"]  # one SLURM job
    job = cluster.job_info(trained[0]["slurm_job_id"])
    assert job.get("TresPerNode") == "gres:gpu:1" and "gpu" not in job.get("TresPerJob", ""), job  # the GPU once
    assert job["TimeLimit"] == "02:00:00"  # two runs of runtime "60 * attempt", one after the other
    assert job["NumCPUs"] == str(CONFIG["threads"]) and job["MinMemoryNode"] == "16000M"  # one run's
    assert [call["cuda_visible_devices"] for call in trained] == ["0", "0"]  # the allocation's GPU, shared
    records = [json.loads((tmp_path / "results" / run / "run.json").read_text())["device"] for run in runs]
    assert {record["slurm_job_id"] for record in records} == {trained[0]["slurm_job_id"]}
    assert [record["cuda_visible_devices"] for record in records] == ["0", "0"]
    logs = [tmp_path / "logs" / "runs" / "2class" / "digital_scratch" / f"seed~{seed}.log" for seed in (0, 1)]
    assert [slot_of(log) for log in logs] == [("0", 1, 2), ("0", 1, 2)]  # in turn, each with a slot of GPU 0

"""Every job starts in the configured image, with --nv from the GPU profile, through a stand-in `apptainer`.

The stand-in (tests/doubles/apptainer) is a TEST DOUBLE: it records its
arguments and runs the job's command on the host without any isolation. This
checks how Snakemake and the profiles start jobs; it is not a claim that a
container was built or run.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from workflow_helpers import (
    DOUBLES, IMAGE, QUICK, REPO, SNAKEMAKE, TINY, double_env, prepare_workdir, recorded_calls, script_of,
)

pytestmark = pytest.mark.slow

SMALL_DAG = {  # every rule once or twice: one task, one noise level, one value and lr per sweep
    **QUICK,
    "container": IMAGE,
    "tasks": {"2class": QUICK["tasks"]["2class"]},
    "analog": {**QUICK["analog"], "transfer_noise": [0.0]},
    "sweeps": {**QUICK["sweeps"], "sps": [0], "sps_readings": ["range_skew"], "spv": [10], "pulse_noise": [0], "dtod": [60], "lrs": [0.01], "epochs": 1},
    "compare": {"algorithms": ["c-ttv2"], "devices": {"nominal": TINY["compare"]["devices"]["nominal"]}, "fast_lrs": [0.1],
                "epochs": 1, "ablations": True},
}


def run_with_double(
    workdir: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess, list[dict]]:
    log = workdir / "apptainer-calls.jsonl"
    result = subprocess.run([*SNAKEMAKE, "--directory", str(workdir), *args], env=double_env(log, env or dict(os.environ)),
                            capture_output=True, text=True, timeout=600)
    return result, recorded_calls(log)


@pytest.fixture(scope="module")
def gpu_profile_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("apptainer")
    prepare_workdir(workdir, SMALL_DAG)
    result, calls = run_with_double(  # the whole DAG: every rule
        workdir, "--profile", str(REPO / "profiles" / "local-gpu"), "--cores", "2", "--resources", "gpu_jobs=1"
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return workdir, result, calls


def test_every_job_of_every_rule_ran_through_apptainer_in_the_configured_image_with_nv(gpu_profile_run):
    _, result, calls = gpu_profile_run
    not_steps = {"benchmark_simulator", "gpu_check", "prepare_gpu_check", "merge_table_parts", "score_claims",
                 "compare_simulators", "tabulate_sweep_part", "list_missing_runs",
                 "gen_config_reference", "restore_pretraining"}  # run by hand (gen_config_reference by mkdocs)
    step_scripts = {path.stem for path in (REPO / "scripts").glob("*.py")} - not_steps
    # every step script, so every rule; the download (torchvision data only) in the next test
    assert {script_of(call) for call in calls} == step_scripts - {"download_data"}
    jobs = int(re.search(r"(\d+) of \1 steps \(100%\) done", result.stdout + result.stderr).group(1))
    assert len(calls) == jobs - 1  # every job but `all` (which runs nothing)
    assert {c["image"] for c in calls} == {IMAGE}
    assert all(c["nv"] for c in calls)  # profiles/local-gpu passes --nv to every job


def test_the_download_rule_runs_in_the_image_too(tmp_path):
    """download_torchvision (a local rule) through the GPU profile, with torchvision's fetch replaced offline."""
    config = {**SMALL_DAG, "data": {"source": "torchvision", "pretrain_path": "cifar", "finetune_path": "cifar"}}
    prepare_workdir(tmp_path, config)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(DOUBLES / "torchvision_download"), os.environ.get("PYTHONPATH", "")]),
           "ANALOG_TL_DOWNLOAD_LOG": str(tmp_path / "downloads.log")}
    result, calls = run_with_double(tmp_path, "--profile", str(REPO / "profiles" / "local-gpu"), "--cores", "1",
                                    "results/data/downloads/cifar10.json", env=env)
    assert result.returncode == 0, result.stderr[-4000:]
    (download,) = [call for call in calls if script_of(call) == "download_data"]
    assert {script_of(call) for call in calls} == {"download_data", "preflight"}  # the profile forces the preflight
    assert download["image"] == IMAGE and download["nv"]
    assert (tmp_path / "downloads.log").read_text().startswith("CIFAR10 ")


def test_the_jobs_really_ran_and_the_preflight_saw_no_gpu(gpu_profile_run):
    workdir, _, _ = gpu_profile_run
    final = json.loads((workdir / "results/runs/2class/digital_tl/seed~0/final.json").read_text())
    assert 0 <= final["test_error_at_best_val"] <= 1
    log = (workdir / "logs" / "preflight.log").read_text()
    assert "aihwkit CUDA build: False" in log and "digital training on cpu" in log


def test_the_gpu_profile_checks_the_device_again_on_every_invocation_and_reruns_nothing_else(gpu_profile_run):
    workdir, _, first_calls = gpu_profile_run
    final = workdir / "results/runs/2class/digital_tl/seed~0/final.json"
    finished = final.stat().st_mtime_ns
    result, calls = run_with_double(
        workdir, "--profile", str(REPO / "profiles" / "local-gpu"), "--cores", "2", "--resources", "gpu_jobs=1"
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert [script_of(call) for call in calls[len(first_calls):]] == ["preflight"]  # forcerun: [preflight]
    assert final.stat().st_mtime_ns == finished


def test_cuda_requested_without_a_gpu_stops_the_run_at_the_preflight_before_any_training(tmp_path):
    prepare_workdir(tmp_path, {**QUICK, "container": IMAGE, "compute": {"device": "cuda", "gpus_per_job": 1}})
    result, _ = run_with_double(tmp_path, "--sdm", "apptainer", "--apptainer-args=--nv", "--cores", "1")
    assert result.returncode != 0
    log = (tmp_path / "logs" / "preflight.log").read_text()
    assert "compute.device is 'cuda' but torch sees no GPU" in log and "--nv" in log
    assert "Traceback" not in log
    assert not (tmp_path / "results" / "pretrain").exists() and not (tmp_path / "results" / "runs").exists()

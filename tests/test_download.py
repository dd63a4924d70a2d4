"""torchvision data: one download job per data set, read by every preparation job; offline, with a stand-in.

The stand-in (``tests/doubles/torchvision_download``) replaces only the network
fetch and the MD5 checks; the workflow, the download rule and torchvision's
readers are the real ones.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from workflow_helpers import DOUBLES, REPO, TINY

DOUBLE = DOUBLES / "torchvision_download"
TARGETS = ["results/data/pretrain.npz", "results/data/tasks/2class.npz", "results/data/tasks/pretrain.npz"]

pytestmark = pytest.mark.slow


def _config(root: str, download: bool) -> dict:
    config = json.loads(json.dumps(TINY))
    config["data"] = {"source": "torchvision", "pretrain_path": root, "finetune_path": root, "download": download,
                      "validation_fraction": 0.25}
    # a fine-tuning task may be called "pretrain": it is still a CIFAR-100 subset (the role is explicit)
    config["tasks"] = {"2class": ["apple", "aquarium_fish"], "pretrain": ["baby", "bear", "beaver"]}
    return config


def _snakemake(workdir: Path, config: dict, *args: str) -> subprocess.CompletedProcess:
    (workdir / "config").mkdir(parents=True, exist_ok=True)
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(config))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(DOUBLE), os.environ.get("PYTHONPATH", "")]),
           "ANALOG_TL_DOWNLOAD_LOG": str(workdir / "downloads.log")}
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "workflow" / "Snakefile"),
               "--directory", str(workdir), "--cores", "2", *args, *TARGETS]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return result


def _planned(result: subprocess.CompletedProcess) -> dict[str, int]:
    if "Nothing to be done" in result.stdout:
        return {}
    stats = result.stdout.split("Job stats:", 1)[1].split("total", 1)[0]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", stats, re.MULTILINE)}


def test_each_data_set_is_downloaded_once_and_moving_it_or_toggling_download_reruns_nothing(tmp_path):
    workdir = tmp_path / "run"
    config = _config("resources/torchvision", download=True)
    planned = _planned(_snakemake(workdir, config, "--dry-run"))
    assert planned == {"download_torchvision": 2, "prepare_pretrain_data": 1, "prepare_task_data": 2}
    _snakemake(workdir, config)
    # two preparation jobs read CIFAR-100, one CIFAR-10: one download each, in the one root
    root = (workdir / "resources" / "torchvision").resolve()
    assert sorted((workdir / "downloads.log").read_text().splitlines()) == [f"CIFAR10 {root}", f"CIFAR100 {root}"]
    record = json.loads((workdir / "results" / "data" / "downloads" / "cifar100.json").read_text())
    assert record["dataset"] == "CIFAR100" and record["images"] == {"train": 2000, "test": 500}
    task = json.loads((workdir / "results" / "data" / "tasks" / "pretrain.npz.json").read_text())
    assert task["role"] == "finetune" and task["classes"] == ["baby", "bear", "beaver"]
    pretrain = json.loads((workdir / "results" / "data" / "pretrain.npz.json").read_text())
    assert pretrain["role"] == "pretrain" and len(pretrain["classes"]) == 10

    # the data moved to another folder, downloads now forbidden: the prepared data stays valid
    shutil.move(workdir / "resources", tmp_path / "moved")
    moved = _config(str(tmp_path / "moved" / "torchvision"), download=False)
    assert _planned(_snakemake(workdir, moved, "--dry-run")) == {}


def test_without_download_permission_missing_data_stops_at_the_download_rule_with_one_line(tmp_path):
    workdir = tmp_path / "run"
    (workdir / "config").mkdir(parents=True)
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(_config("empty-root", download=False)))
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "workflow" / "Snakefile"),
               "--directory", str(workdir), "--cores", "1", "results/data/downloads/cifar10.json"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode != 0
    log = (workdir / "logs" / "download" / "cifar10.log").read_text()
    assert re.search(r"ERROR analog_tl: DataSourceError: CIFAR10 at empty-root: .*\(data.download is false\)", log), log
    assert "Traceback" not in log
    assert not (workdir / "results" / "data" / "downloads" / "cifar10.json").exists()


def test_the_real_cifar_config_downloads_by_default_and_reads_folders_with_its_offline_overlay(tmp_path):
    """config/real-small.yaml as shipped (torchvision, download on), offline through the stand-in fetch; with
    config/cifar-folders.yaml after it, the same targets need the local archives and no download."""
    workdir = tmp_path / "run"
    workdir.mkdir()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(DOUBLE), os.environ.get("PYTHONPATH", "")]),
           "ANALOG_TL_DOWNLOAD_LOG": str(workdir / "downloads.log")}
    base = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "workflow" / "Snakefile"),
            "--directory", str(workdir), "--cores", "2", "--configfile", str(REPO / "config" / "real-small.yaml")]
    targets = ["results/data/pretrain.npz", "results/data/tasks/2class.npz", "results/data/tasks/5class.npz"]
    done = subprocess.run([*base, "--", *targets], capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    root = (workdir / "resources" / "torchvision").resolve()
    assert sorted((workdir / "downloads.log").read_text().splitlines()) == [f"CIFAR10 {root}", f"CIFAR100 {root}"]
    task = json.loads((workdir / "results" / "data" / "tasks" / "5class.npz.json").read_text())
    assert task["classes"] == ["apple", "aquarium_fish", "baby", "bear", "beaver"]

    offline = [*base, str(REPO / "config" / "cifar-folders.yaml"), "--dry-run", "--forceall", "--", *targets]
    missing = subprocess.run(offline, capture_output=True, text=True, timeout=600, env=env)
    assert missing.returncode != 0 and "data/cifar10-images.tar.gz does not exist" in missing.stderr, missing.stderr
    (workdir / "data").mkdir()
    for name in ("cifar10-images.tar.gz", "cifar100-images.tar.gz"):  # a dry run needs only their names
        (workdir / "data" / name).write_bytes(b"")
    planned = _planned(subprocess.run(offline, capture_output=True, text=True, timeout=600, env=env))
    assert planned == {"prepare_pretrain_data": 1, "prepare_task_data": 2}  # no download job

"""Restoring a kept pre-training into a new workflow folder: checks before copying, and Snakemake then skips it."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from analog_tl.errors import ChecksumError, ConfigError, DataError
from analog_tl.io import sha256_file
from analog_tl.training.shared_pretraining import checked_model_sha256, config_differences, restore_pretraining
from analog_tl.vocabulary import FINAL_FILE, PRETRAIN_DATA, PRETRAIN_RUN, RUN_FILES
from workflow_helpers import QUICK, REPO, TINY, planned_jobs, snakemake, write_config

CONFIG = {"model": {"backbone": "swin", "preset": "small"},
          "pretrain": {"epochs": 15, "lr": 0.002, "augment": {"crop_padding": 4}}}
DATA = b"prepared source data"


def kept_run(folder: Path, config: dict = CONFIG, data: bytes = DATA) -> Path:
    """A pre-training run folder as the workflow writes it (made-up contents, consistent checksums)."""
    folder.mkdir(parents=True)
    (folder / "model.pt").write_bytes(b"model state")
    (folder / "metrics.csv").write_text("epoch,train_loss\n1,1.0\n")
    (folder / "final.json").write_text(json.dumps({"model_sha256": sha256_file(folder / "model.pt")}))
    record = {"workflow_config": copy.deepcopy(config), "data": {"sha256": hashlib.sha256(data).hexdigest()}}
    (folder / "run.json").write_text(json.dumps(record))
    return folder


def workflow_folder(folder: Path, data: bytes | None = DATA) -> Path:
    """A workflow folder with its prepared source data (none if ``data`` is None)."""
    folder.mkdir(parents=True)
    if data is not None:
        (folder / PRETRAIN_DATA).parent.mkdir(parents=True)
        (folder / PRETRAIN_DATA).write_bytes(data)
    return folder


def test_the_kept_run_is_copied_file_for_file_and_a_second_restore_changes_nothing(tmp_path):
    source, workflow = kept_run(tmp_path / "kept"), workflow_folder(tmp_path / "wf")
    restored = restore_pretraining(source, workflow, CONFIG)
    assert restored.copied and restored.model_sha256 == sha256_file(source / "model.pt")
    target = workflow / PRETRAIN_RUN
    assert sorted(path.name for path in target.iterdir()) == sorted(RUN_FILES)  # no temporary file left
    assert all((target / name).read_bytes() == (source / name).read_bytes() for name in RUN_FILES)
    data_mtime = os.stat(workflow / PRETRAIN_DATA).st_mtime_ns
    assert min(os.stat(target / name).st_mtime_ns for name in RUN_FILES) >= data_mtime  # Snakemake: up to date
    assert not restore_pretraining(source, workflow, CONFIG).copied


def test_a_model_that_does_not_match_its_record_is_refused(tmp_path):
    source = kept_run(tmp_path / "kept")
    (source / "model.pt").write_bytes(b"another model state")
    with pytest.raises(ChecksumError, match=r"kept/model.pt: SHA-256 .*, its final.json records"):
        restore_pretraining(source, workflow_folder(tmp_path / "wf"), CONFIG)
    assert not (tmp_path / "wf" / PRETRAIN_RUN).exists()


def test_a_missing_run_file_is_named(tmp_path):
    source = kept_run(tmp_path / "kept")
    (source / "metrics.csv").unlink()
    with pytest.raises(DataError, match=r"not a pre-training run folder, missing metrics.csv"):
        checked_model_sha256(source)


def test_other_model_or_pretraining_settings_are_named_key_by_key(tmp_path):
    changed = copy.deepcopy(CONFIG)
    changed["pretrain"]["epochs"] = 20
    changed["pretrain"]["augment"]["horizontal_flip"] = True
    changed["model"]["preset"] = "tiny"
    assert config_differences({"workflow_config": CONFIG}, changed) == [
        "model.preset ('small' there, 'tiny' here)", "pretrain.augment.horizontal_flip (None there, True here)",
        "pretrain.epochs (15 there, 20 here)"]
    with pytest.raises(ConfigError, match=r"made with other settings than the config's: model.preset"):
        restore_pretraining(kept_run(tmp_path / "kept"), workflow_folder(tmp_path / "wf"), changed)
    assert config_differences({"workflow_config": {**CONFIG, "finetune": {"epochs": 1}}}, CONFIG) == []  # not its


def test_a_folder_without_prepared_data_or_with_other_data_is_refused(tmp_path):
    source = kept_run(tmp_path / "kept")
    with pytest.raises(DataError, match=r"pretrain.npz: missing; prepare the data first"):
        restore_pretraining(source, workflow_folder(tmp_path / "none", data=None), CONFIG)
    with pytest.raises(DataError, match=r"pretrain.npz: SHA-256 .*, the kept pre-training read"):
        restore_pretraining(source, workflow_folder(tmp_path / "other", data=b"other data"), CONFIG)


def test_another_pre_training_in_the_folder_is_left_alone(tmp_path):
    workflow = workflow_folder(tmp_path / "wf")
    first = kept_run(tmp_path / "first")
    restore_pretraining(first, workflow, CONFIG)
    second = kept_run(tmp_path / "second")
    (second / "model.pt").write_bytes(b"a second model")
    (second / "final.json").write_text(json.dumps({"model_sha256": sha256_file(second / "model.pt")}))
    with pytest.raises(ChecksumError, match=r"holds another pre-training"):
        restore_pretraining(second, workflow, CONFIG)
    assert (workflow / PRETRAIN_RUN / "model.pt").read_bytes() == b"model state"


def test_the_committed_pre_training_fits_the_real_cifar_config():
    """docs/results/pretrained/: the kept pre-training of the real-CIFAR parts, restorable under their config."""
    from analog_tl.io import read_json
    from analog_tl.workflow_config import read_workflow_config

    kept = REPO / "docs" / "results" / "pretrained" / "intel-3a99b57e"
    assert checked_model_sha256(kept).startswith("3a99b57e")
    config = read_workflow_config([REPO / "config" / "real-small.yaml", REPO / "config" / "cifar-folders.yaml"],
                                  REPO / "workflow" / "schemas" / "config.schema.yaml")
    assert config_differences(read_json(kept / "run.json"), config) == []


def test_the_script_names_a_problem_in_one_line(tmp_path):
    source = kept_run(tmp_path / "kept")
    config = tmp_path / "config.yaml"
    config.write_text(json.dumps({**TINY, "pretrain": {**TINY["pretrain"], "epochs": 99}}))
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "restore_pretraining.py"), "--config", str(config),
                           "--from", str(source), "--", str(workflow_folder(tmp_path / "wf"))],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("restore_pretraining: ConfigError: ") and done.stderr.count("\n") == 1
    assert "pretrain.epochs (15 there, 99 here)" in done.stderr


@pytest.mark.slow
def test_snakemake_fine_tunes_from_a_restored_pre_training_without_pre_training_again(tmp_path):
    made, workflow = tmp_path / "made", tmp_path / "wf"
    for folder in (made, workflow):
        write_config(folder, QUICK)
    snakemake(made, "--cores", "1", f"{PRETRAIN_RUN}/{FINAL_FILE}")
    snakemake(workflow, "--cores", "1", PRETRAIN_DATA)
    assert "pretrain" in planned_jobs(workflow)
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "restore_pretraining.py"), "--config",
                           str(workflow / "config" / "config.yaml"), "--from", str(made / PRETRAIN_RUN), "--",
                           str(workflow)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    jobs = planned_jobs(workflow)
    assert "pretrain" not in jobs and "prepare_pretrain_data" not in jobs and jobs.get("finetune_digital_tl"), jobs

"""Restoring a kept pre-training into a new workflow folder: checks before copying, and Snakemake then skips it."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from analog_tl import training
from analog_tl.errors import ChecksumError, ConfigError, DataError
from analog_tl.io import read_json, sha256_file
from analog_tl.training.shared_pretraining import (
    checked_model_sha256, config_differences, restore_pretraining, snakemake_unfinished,
)
from analog_tl.vocabulary import CONFIG_SCHEMA, FINAL_FILE, PRETRAIN_DATA, PRETRAIN_MODE, PRETRAIN_RUN, RUN_FILES
from analog_tl.workflow_config import read_workflow_config
from workflow_helpers import QUICK, REPO, SNAKEMAKE, TINY, planned_jobs, snakemake, write_config

CONFIG = {"model": {"backbone": "swin", "preset": "small"},
          "pretrain": {"epochs": 15, "lr": 0.002, "augment": {"crop_padding": 4}}}
DATA = b"prepared source data"


def kept_run(folder: Path, config: dict = CONFIG, data: bytes = DATA) -> Path:
    """A pre-training run folder as the workflow writes it (made-up contents, consistent checksums)."""
    folder.mkdir(parents=True)
    (folder / "model.pt").write_bytes(b"model state")
    (folder / "metrics.csv").write_text("epoch,train_loss\n1,1.0\n")
    (folder / "final.json").write_text(json.dumps({"model_sha256": sha256_file(folder / "model.pt")}))
    record = {"settings": {"mode": PRETRAIN_MODE}, "workflow_config": copy.deepcopy(config),
              "data": {"sha256": hashlib.sha256(data).hexdigest()}}
    (folder / "run.json").write_text(json.dumps(record))
    day_ago = os.stat(folder / "model.pt").st_mtime - 86400  # older than any data: a copy must not keep mtimes
    for name in RUN_FILES:
        os.utime(folder / name, (day_ago, day_ago))
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


def test_an_interrupted_copy_leaves_no_final_json_and_no_temporary_file(tmp_path, monkeypatch):
    source, workflow = kept_run(tmp_path / "kept"), workflow_folder(tmp_path / "wf")
    real_copy = training.shared_pretraining.shutil.copyfile

    def copy_failing_on_the_model(src, dst):
        if Path(src).name == "model.pt":
            raise OSError("disk full")
        return real_copy(src, dst)

    monkeypatch.setattr(training.shared_pretraining.shutil, "copyfile", copy_failing_on_the_model)
    with pytest.raises(OSError, match="disk full"):
        restore_pretraining(source, workflow, CONFIG)
    left = {path.name for path in (workflow / PRETRAIN_RUN).iterdir()}
    assert FINAL_FILE not in left and "model.pt" not in left and not any(".tmp-" in name for name in left)
    monkeypatch.undo()
    assert restore_pretraining(source, workflow, CONFIG).copied  # a rerun finishes the copy
    assert all((workflow / PRETRAIN_RUN / name).read_bytes() == (source / name).read_bytes() for name in RUN_FILES)


def test_files_of_an_unfinished_pre_training_are_refused_or_discarded(tmp_path):
    source, workflow = kept_run(tmp_path / "kept"), workflow_folder(tmp_path / "wf")
    (workflow / PRETRAIN_RUN).mkdir(parents=True)
    (workflow / PRETRAIN_RUN / "metrics.csv").write_text("epoch,train_loss\n1,2.0\n")  # not the kept run's
    with pytest.raises(DataError, match=r"did not finish \(0 of its outputs marked incomplete .*; 1 file\(s\) of it\); "
                                        r"rerun with --discard-unfinished"):
        restore_pretraining(source, workflow, CONFIG)
    assert restore_pretraining(source, workflow, CONFIG, discard_unfinished=True).copied
    assert (workflow / PRETRAIN_RUN / "metrics.csv").read_bytes() == (source / "metrics.csv").read_bytes()


def test_a_model_corrupted_in_the_copy_is_refused_before_it_takes_its_name(tmp_path, monkeypatch):
    source, workflow = kept_run(tmp_path / "kept"), workflow_folder(tmp_path / "wf")

    def corrupting_copy(src, dst):
        Path(dst).write_bytes(Path(src).read_bytes()[:-1])

    monkeypatch.setattr(training.shared_pretraining.shutil, "copyfile", corrupting_copy)
    with pytest.raises(ChecksumError, match=r"model.pt: copied with SHA-256"):
        restore_pretraining(source, workflow, CONFIG)
    assert not (workflow / PRETRAIN_RUN / "model.pt").exists() and not (workflow / PRETRAIN_RUN / FINAL_FILE).exists()


def test_a_fine_tuning_run_folder_or_a_broken_record_is_named(tmp_path):
    source = kept_run(tmp_path / "kept")
    record = read_json(source / "run.json")
    (source / "run.json").write_text(json.dumps({**record, "settings": {"mode": "analog_tl"}}))
    with pytest.raises(DataError, match=r"kept: not a pre-training run folder, its run.json records mode 'analog_tl'"):
        checked_model_sha256(source)
    (source / "run.json").write_text(json.dumps(record)[:-5])
    with pytest.raises(DataError, match=r"run.json: no settings.mode \(JSONDecodeError: .*not a run record"):
        checked_model_sha256(source)
    (source / "run.json").write_text(json.dumps({k: v for k, v in record.items() if k != "data"}))
    with pytest.raises(DataError, match=r"run.json: no data.sha256 \(KeyError"):
        restore_pretraining(source, workflow_folder(tmp_path / "wf"), CONFIG)
    assert not (tmp_path / "wf" / PRETRAIN_RUN).exists()


def test_a_folder_snakemake_marks_unfinished_is_refused_or_its_marks_discarded(tmp_path):
    """The mark as Snakemake 9 writes it (its name checked end to end in the slow test below)."""
    source, workflow = kept_run(tmp_path / "kept"), workflow_folder(tmp_path / "wf")
    output = Path(PRETRAIN_RUN) / "model.pt"
    marker = workflow / ".snakemake" / "incomplete" / base64.urlsafe_b64encode(str(output).encode()).decode()
    marker.parent.mkdir(parents=True)
    marker.write_text("{}")
    assert snakemake_unfinished(workflow, [output, Path(PRETRAIN_RUN) / FINAL_FILE]) == [output]
    with pytest.raises(DataError, match=r"did not finish \(1 of its outputs marked incomplete by Snakemake"):
        restore_pretraining(source, workflow, CONFIG)
    assert not (workflow / PRETRAIN_RUN).exists() and marker.exists()
    assert restore_pretraining(source, workflow, CONFIG, discard_unfinished=True).copied and not marker.exists()


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
    assert config_differences(CONFIG, changed) == [
        "model.preset ('small' there, 'tiny' here)", "pretrain.augment.horizontal_flip (None there, True here)",
        "pretrain.epochs (15 there, 20 here)"]
    with pytest.raises(ConfigError, match=r"made with other settings than the config's: model.preset"):
        restore_pretraining(kept_run(tmp_path / "kept"), workflow_folder(tmp_path / "wf"), changed)
    assert not (tmp_path / "wf" / PRETRAIN_RUN).exists()
    assert config_differences({**CONFIG, "finetune": {"epochs": 1}}, CONFIG) == []  # not its settings
    how_it_logs = {**CONFIG, "pretrain": {**CONFIG["pretrain"], "eval_batch_size": 512, "log_every_steps": 7}}
    assert config_differences(how_it_logs, CONFIG) == []  # not the rule's params either


def test_a_folder_without_prepared_data_or_with_other_data_is_refused(tmp_path):
    source = kept_run(tmp_path / "kept")
    with pytest.raises(DataError, match=r"pretrain.npz: missing; prepare the data first"):
        restore_pretraining(source, workflow_folder(tmp_path / "none", data=None), CONFIG)
    with pytest.raises(DataError, match=r"pretrain.npz: SHA-256 .*, the kept pre-training read"):
        restore_pretraining(source, workflow_folder(tmp_path / "other", data=b"other data"), CONFIG)
    assert not any((tmp_path / name / PRETRAIN_RUN).exists() for name in ("none", "other"))


def test_another_pre_training_in_the_folder_is_left_alone(tmp_path):
    workflow = workflow_folder(tmp_path / "wf")
    first = kept_run(tmp_path / "first")
    restore_pretraining(first, workflow, CONFIG)
    second = kept_run(tmp_path / "second")
    (second / "model.pt").write_bytes(b"a second model")
    (second / "final.json").write_text(json.dumps({"model_sha256": sha256_file(second / "model.pt")}))
    with pytest.raises(DataError, match=r"holds another pre-training .*; delete it, and the runs fine-tuned from it"):
        restore_pretraining(second, workflow, CONFIG)
    assert (workflow / PRETRAIN_RUN / "model.pt").read_bytes() == b"model state"


def test_the_committed_pre_training_fits_the_real_cifar_config():
    """docs/results/pretrained/: the kept pre-training of the real-CIFAR parts, restorable under their config."""
    kept = REPO / "docs" / "results" / "pretrained" / "intel-3a99b57e"
    assert checked_model_sha256(kept).startswith("3a99b57e")
    config = read_workflow_config([REPO / "config" / "real-small.yaml", REPO / "config" / "cifar-folders.yaml"],
                                  REPO / CONFIG_SCHEMA)
    assert config_differences(read_json(kept / "run.json")["workflow_config"], config) == []


def test_the_script_names_a_problem_in_one_line(tmp_path):
    source = kept_run(tmp_path / "kept")
    config = tmp_path / "config.yaml"
    config.write_text(json.dumps({**TINY, "pretrain": {**TINY["pretrain"], "epochs": 99}}))
    done = restore_script(config, source, workflow_folder(tmp_path / "wf"))
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("restore_pretraining: ConfigError: ") and done.stderr.count("\n") == 1
    assert "pretrain.epochs (15 there, 99 here)" in done.stderr


def test_the_documented_restore_command_reaches_the_folders_data_check(tmp_path):
    """docs/results/real-cifar.md's restore command, run in the repository on a folder without prepared data: its
    config files and kept folder are found and agree, and only the data (prepared by the command before it) is
    missing."""
    page = (REPO / "docs" / "results" / "real-cifar.md").read_text()
    [line] = [line for line in page.splitlines() if line.startswith(".venv/bin/python scripts/restore_pretraining.py")]
    argv = shlex.split(line)
    assert argv[-2:] == ["--", "."], argv
    done = subprocess.run([sys.executable, *argv[1:-1], str(tmp_path)], cwd=REPO, capture_output=True, text=True,
                          check=False)
    assert done.returncode == 2 and "pretrain.npz: missing; prepare the data first" in done.stderr, done.stderr


def restore_script(config: Path, source: Path, workflow: Path, *options: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "scripts" / "restore_pretraining.py"), "--config", str(config),
                           "--from", str(source), *options, "--", str(workflow)], capture_output=True, text=True,
                          check=False)


def kill_snakemake_once_pre_training_started(workflow: Path) -> None:
    """Start Snakemake on the pre-training and SIGKILL it (and its job) once it marks the job's outputs incomplete."""
    outputs = [Path(PRETRAIN_RUN) / name for name in RUN_FILES]
    run = subprocess.Popen([*SNAKEMAKE, "--directory", str(workflow), "--cores", "1", f"{PRETRAIN_RUN}/{FINAL_FILE}"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 600
    while (len(snakemake_unfinished(workflow, outputs)) < len(outputs) and run.poll() is None
           and time.monotonic() < deadline):
        time.sleep(0.2)
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()
    assert snakemake_unfinished(workflow, outputs) == outputs and not (workflow / PRETRAIN_RUN / FINAL_FILE).exists()


@pytest.mark.slow
def test_snakemake_fine_tunes_from_a_restored_pre_training_without_pre_training_again(tmp_path):
    """Also: a pre-training killed in the folder is named by its Snakemake marks (whose names are checked here)."""
    made, workflow = tmp_path / "made", tmp_path / "wf"
    for folder in (made, workflow):
        write_config(folder, QUICK)
    snakemake(made, "--cores", "1", f"{PRETRAIN_RUN}/{FINAL_FILE}")
    snakemake(workflow, "--cores", "1", PRETRAIN_DATA)
    assert "pretrain" in planned_jobs(workflow)
    config = workflow / "config" / "config.yaml"
    kill_snakemake_once_pre_training_started(workflow)
    refused = restore_script(config, made / PRETRAIN_RUN, workflow)
    assert refused.returncode == 2 and "did not finish (4 of its outputs marked incomplete" in refused.stderr
    done = restore_script(config, made / PRETRAIN_RUN, workflow, "--discard-unfinished")  # as it says
    assert done.returncode == 0, done.stderr
    jobs = planned_jobs(workflow, "--rerun-incomplete")  # as the parts are run
    assert "pretrain" not in jobs and "prepare_pretrain_data" not in jobs and jobs.get("finetune_digital_tl"), jobs

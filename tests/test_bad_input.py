"""Realistic mistakes, each through Snakemake: one clear message naming the problem, no traceback, no partial results.

Config mistakes fail while the workflow is parsed (before any job); problems
that only the data or the training can reveal fail in the first job that meets
them, and that job leaves none of its outputs behind.
"""

from __future__ import annotations

import copy
import subprocess
import tarfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from workflow_helpers import QUICK, SNAKEMAKE, TINY, TRACEBACK

pytestmark = pytest.mark.slow

def run(workdir: Path, config: dict, *args: str) -> subprocess.CompletedProcess:
    (workdir / "config").mkdir(parents=True, exist_ok=True)
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(config))
    return subprocess.run(
        [*SNAKEMAKE, "--directory", str(workdir), "--cores", "1", *args], capture_output=True, text=True, timeout=600
    )


def assert_fails_cleanly(result: subprocess.CompletedProcess, message: str, log: Path | None = None) -> None:
    """Non-zero exit, ``message`` in the output (and in the job's log), no Python traceback anywhere."""
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-2000:]
    assert message in output, output[-3000:]
    assert TRACEBACK not in output, output[-3000:]
    if log is not None:
        text = log.read_text()
        assert message in text and TRACEBACK not in text, text


def changed(change) -> dict:  # type: ignore[no-untyped-def]
    config = copy.deepcopy(TINY)
    change(config)
    return config


def _set(path: str, value):  # type: ignore[no-untyped-def]
    """A change that sets the dotted ``path`` of the config to ``value``."""

    def change(config):  # type: ignore[no-untyped-def]
        *parents, key = path.split(".")
        for part in parents:
            config = config.setdefault(part, {})
        config[key] = value

    return change


CONFIG_MISTAKES = [
    # (what, change, message)
    ("misspelled top-level key", _set("finetnue", {"epochs": 3}), "unknown key(s) 'finetnue' (did you mean 'finetune'?)"),
    ("misspelled nested key", _set("finetune.epoch", 3), "finetune: unknown key(s) 'epoch' (did you mean 'epochs'?)"),
    ("misspelled pre-training key", _set("pretrain.learning_rate", 0.1), "pretrain: unknown key(s) 'learning_rate'"),
    ("number as text", _set("finetune.batch_size", "8"), "finetune.batch_size: '8' is not of type 'integer'"),
    ("list given as a number", _set("finetune.seeds", 0), "finetune.seeds: 0 is not of type 'array'"),
    ("zero epochs", _set("finetune.epochs", 0), "finetune.epochs: 0 is less than the minimum of 1"),
    ("negative epochs", _set("pretrain.epochs", -5), "pretrain.epochs: -5 is less than the minimum of 1"),
    ("zero batch size", _set("finetune.batch_size", 0), "finetune.batch_size: 0 is less than the minimum of 1"),
    ("zero learning rate", _set("finetune.analog_lr", 0), "finetune.analog_lr: 0 is less than or equal to the minimum of 0"),
    ("negative learning rate", _set("pretrain.lr", -0.001), "pretrain.lr: -0.001 is less than or equal to the minimum of 0"),
    ("empty noise grid", _set("analog.transfer_noise", []), "analog.transfer_noise: [] should be non-empty"),
    ("duplicated noise level", _set("analog.transfer_noise", [0.0, 0.1, 0.1]), "analog.transfer_noise: [0.0, 0.1, 0.1] has non-unique elements"),
    ("negative noise level", _set("analog.transfer_noise", [-0.1]), "analog.transfer_noise.0: -0.1 is less than the minimum of 0"),
    ("task with one class", _set("tasks.2class", ["disc+ring"]), "tasks.2class"),
    ("5-class task with 4 classes", _set("tasks.5class", {"n_classes": 5, "classes": ["disc+ring", "square+plus", "frame+stripes", "cross+cross"]}),
     "tasks.5class declares n_classes 5 but lists 4 classes"),
    ("class listed twice", _set("tasks.2class", ["disc+ring", "disc+ring"]), "tasks.2class"),
    ("task name with a space", _set("tasks.two classes", ["disc+ring", "square+plus"]), "'two classes' does not match"),
    ("no tasks", _set("tasks", {}), "tasks: {} should be non-empty"),
    ("model preset that does not exist", _set("model.preset", "huge"), "model.preset: 'huge' is not one of ['paper', 'small', 'tiny']"),
    ("timm backbone without a name", _set("model.backbone", "timm"), "model.timm_name must name a timm model"),
    ("unknown data source", _set("data.source", "kaggle"), "data.source: 'kaggle' is not one of"),
    ("validation fraction above 1", _set("data.validation_fraction", 1.5), "data.validation_fraction: 1.5 is greater than or equal to the maximum of 1"),
    ("folder source without paths", _set("data.source", "folder"), "data.pretrain_path must be set when data.source is 'folder'"),
    ("data folder that does not exist", lambda c: c["data"].update(source="folder", pretrain_path="no/such/folder", finetune_path="no/such/folder"),
     "data.pretrain_path: no/such/folder does not exist"),
    ("sweep value outside its range", _set("sweeps.spv", [5, 150]), "sweeps.spv.1: 150 is greater than the maximum of 100"),
    ("symmetry-point skew of 100 %", _set("sweeps.sps", [0, 100]), "sweeps.sps.1: 100 is greater than or equal to the maximum of 100"),
    ("unknown skew reading", _set("sweeps.sps_readings", ["skewed"]), "sweeps.sps_readings.0: 'skewed' is not one of"),
    ("old single-reading key", _set("sweeps.sps_reading", "range_skew"), "(did you mean 'sps_readings'?)"),
    ("fast_lr in the compound", _set("analog.compound", {"fast_lr": 1.0}), "list the candidates in analog.fast_lrs"),
    ("duplicated fast_lr", _set("analog.fast_lrs", [0.1, 0.1]), "analog.fast_lrs: [0.1, 0.1] has non-unique elements"),
    ("zero fast_lr", _set("analog.fast_lrs", [0]), "analog.fast_lrs.0: 0 is less than or equal to the minimum of 0"),
    ("empty sweep learning-rate grid", _set("sweeps.lrs", []), "sweeps.lrs: [] should be non-empty"),
    ("zero threads", _set("threads", 0), "threads: 0 is less than the minimum of 1"),
    ("resume interval of zero", _set("resume.every_epochs", 0), "resume.every_epochs: 0 is less than the minimum of 1"),
    ("unknown training algorithm", _set("compare.algorithms", ["ttv5"]),
     "compare.algorithms: ['ttv5'] are neither aihwkit algorithms"),
    ("variant named like an aihwkit algorithm", _set("compare.variants", {"agad": {"algorithm": "c-ttv2"}}),
     "compare.variants.agad: the name of an aihwkit algorithm"),
    ("variant of an unknown algorithm", _set("compare.variants", {"rl": {"algorithm": "ttv5"}}),
     "compare.variants.rl.algorithm: 'ttv5' is not one of"),
    ("device algorithm not compared", lambda c: c["compare"].update(
        algorithms=["c-ttv2"], devices={"nominal": {"name": "SoftBoundsReferenceDevice", "algorithms": ["agad"]}}),
     "compare.devices.nominal.algorithms: ['agad'] not in compare.algorithms"),
    ("sweep task not among the tasks", _set("sweeps.tasks", ["10class"]),
     "sweeps.tasks: ['10class'] not among the config's tasks"),
    ("ablation device not among the devices", _set("compare.ablation_device", "pcm"),
     "compare.ablation_device: 'pcm' is not a key of compare.devices"),
]


@pytest.mark.parametrize("what, change, message", CONFIG_MISTAKES, ids=[m[0] for m in CONFIG_MISTAKES])
def test_config_mistake_fails_before_any_job(tmp_path, what, change, message):
    result = run(tmp_path, changed(change))
    assert_fails_cleanly(result, message)
    assert result.stderr.strip().splitlines()[-1].startswith("Config error: ")  # one line, last
    assert not (tmp_path / "results").exists()


def test_a_missing_config_file_is_named(tmp_path):
    """Snakemake reads --configfile before the workflow: the message (and a traceback) are Snakemake's own."""
    result = run(tmp_path, TINY, "--configfile", "config/no-such.yaml")
    assert result.returncode != 0
    assert "No such file or directory: 'config/no-such.yaml'" in result.stderr
    assert not (tmp_path / "results").exists()


# --- data ------------------------------------------------------------------------------


def _image_folder(root: Path, counts: dict[str, tuple[int, int]]) -> Path:
    """An image folder ``root/{train,test}/<class>/NNNN.png`` with (train, test) images per class."""
    rng = np.random.default_rng(0)
    for name, (n_train, n_test) in counts.items():
        for split, n in (("train", n_train), ("test", n_test)):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(folder / f"{i:04d}.png")
    return root


def _folder_config(path: Path, classes: list[str]) -> dict:
    config = copy.deepcopy(QUICK)
    config["data"] = {"source": "folder", "pretrain_path": str(path), "finetune_path": str(path), "validation_fraction": 0.5}
    config["tasks"] = {"pair": classes}
    return config


TASK = "results/data/tasks/pair.npz"
TASK_LOG = Path("logs/prepare_data/pair.log")


def test_unknown_class_name_lists_the_available_ones(tmp_path):
    result = run(tmp_path, changed(_set("tasks.2class", ["disc+ring", "apple"])), "results/data/tasks/2class.npz")
    assert_fails_cleanly(result, "unknown class name(s) ['apple']; available classes:", tmp_path / "logs/prepare_data/2class.log")
    assert not (tmp_path / "results/data/tasks/2class.npz").exists()


def test_empty_data_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    result = run(tmp_path, _folder_config(tmp_path / "empty", ["a", "b"]), TASK)
    assert_fails_cleanly(result, "expected an image folder with train/<class>/", tmp_path / TASK_LOG)
    assert not (tmp_path / TASK).exists()


def test_class_with_too_few_training_images(tmp_path):
    data = _image_folder(tmp_path / "data", {"a": (4, 2), "b": (1, 2)})
    result = run(tmp_path, _folder_config(data, ["a", "b"]), TASK)
    assert_fails_cleanly(result, "class 'b' has 1 training image(s); need at least 2", tmp_path / TASK_LOG)
    assert not (tmp_path / TASK).exists()


def test_class_without_test_images(tmp_path):
    data = _image_folder(tmp_path / "data", {"a": (4, 2), "b": (4, 0)})
    result = run(tmp_path, _folder_config(data, ["a", "b"]), TASK)
    assert_fails_cleanly(result, "no test images for class(es) ['b']", tmp_path / TASK_LOG)


def test_file_with_an_image_name_that_is_not_an_image(tmp_path):
    data = _image_folder(tmp_path / "data", {"a": (4, 2), "b": (4, 2)})
    (data / "train" / "b" / "0002.png").write_text("not an image")
    result = run(tmp_path, _folder_config(data, ["a", "b"]), TASK)
    assert_fails_cleanly(result, "train/b/0002.png: not a readable image", tmp_path / TASK_LOG)
    assert not (tmp_path / TASK).exists()


def test_other_files_in_the_data_folder_are_skipped_with_a_warning(tmp_path):
    data = _image_folder(tmp_path / "data", {"a": (4, 2), "b": (4, 2)})
    (data / "train" / "a" / "README.txt").write_text("downloaded from ...")
    result = run(tmp_path, _folder_config(data, ["a", "b"]), TASK)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "skipped 1 file(s) without an image suffix" in (tmp_path / TASK_LOG).read_text()


def test_corrupted_archive(tmp_path):
    data = _image_folder(tmp_path / "data", {"a": (4, 2), "b": (4, 2)})
    archive = tmp_path / "data.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(data, arcname="data")
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    result = run(tmp_path, _folder_config(archive, ["a", "b"]), TASK)
    assert_fails_cleanly(result, "cannot read the archive", tmp_path / TASK_LOG)
    assert not (tmp_path / TASK).exists()


# --- models, devices and training --------------------------------------------------------------


def test_corrupted_prepared_data_and_pretrained_model_are_named(tmp_path):
    assert run(tmp_path, QUICK, "results/pretrain/final.json", "results/data/tasks/2class.npz").returncode == 0
    data = tmp_path / "results/data/tasks/2class.npz"
    data.write_bytes(data.read_bytes()[:-64])
    target = "results/runs/2class/digital_scratch/seed~0/final.json"
    result = run(tmp_path, QUICK, target)
    assert_fails_cleanly(result, "results/data/tasks/2class.npz: SHA-256")
    assert not (tmp_path / target).exists()

    assert run(tmp_path, QUICK, "--forcerun", "prepare_task_data", "--", "results/data/tasks/2class.npz").returncode == 0
    model = tmp_path / "results/pretrain/model.pt"
    model.write_bytes(model.read_bytes()[:-100])
    target = "results/runs/2class/digital_tl/seed~0/final.json"
    result = run(tmp_path, QUICK, target)
    assert_fails_cleanly(result, "results/pretrain/model.pt: SHA-256", tmp_path / "logs/runs/2class/digital_tl/seed~0.log")
    assert not (tmp_path / target).exists()


def test_training_whose_loss_becomes_nan(tmp_path):
    config = copy.deepcopy(QUICK)
    config["pretrain"].update(optimizer="sgd", lr=1e12, momentum=0.0, warmup_epochs=0)
    result = run(tmp_path, config, "results/pretrain/final.json")
    assert_fails_cleanly(result, "lower the learning rate (now 1000000000000.0)", tmp_path / "logs/pretrain.log")
    assert "training loss is nan" in result.stderr or "training loss is inf" in result.stderr
    assert not [p for p in (tmp_path / "results/pretrain").glob("*") if p.is_file()]


@pytest.mark.parametrize(
    "device, message",
    [
        ({"name": "SoftBoundsDevicee", "fields": {}}, "analog.device.name: unknown pulsed device 'SoftBoundsDevicee'"),
        ({"name": "SoftBoundsReferenceDevice", "fields": {"dw_mim": 0.01}}, "dw_mim"),
        ({"name": "ConstantStepDevice", "fields": {}},
         "analog.simulator 'fast' does not simulate rpu_config.device.unit_cell_devices[0] = ConstantStepDevice"),
    ],
    ids=["unknown device class", "unknown device field", "device outside the fast simulator's scope"],
)
def test_device_mistakes_fail_before_analog_training(tmp_path, device, message):
    config = changed(_set("analog.device", device))
    target = "results/runs/2class/analog_scratch/fast_lr~0.1/seed~0/final.json"
    result = run(tmp_path, config, target)
    assert_fails_cleanly(result, message, tmp_path / "logs/runs/2class/analog_scratch/fast_lr~0.1/seed~0.log")
    assert not (tmp_path / target).exists()


def test_timm_model_that_does_not_exist(tmp_path):
    config = copy.deepcopy(QUICK)
    config["model"] = {"backbone": "timm", "timm_name": "resnet_does_not_exist"}
    result = run(tmp_path, config, "results/pretrain/final.json")
    assert_fails_cleanly(result, "timm has no model 'resnet_does_not_exist'", tmp_path / "logs/pretrain.log")

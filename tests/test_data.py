"""Data sources (folder, archive, torchvision), class selection, splits and prepared files."""

import pickle
import tarfile

import numpy as np
import pytest
from PIL import Image

from analog_tl.config import DataConfig, SyntheticConfig
from analog_tl.data.prepare import prepare_task
from analog_tl.data.prepared import ChecksumError, LabelledImages, load_prepared, save_prepared, split_validation
from analog_tl.data.sources import DataSourceError, available_classes

SMALL_SYNTHETIC = SyntheticConfig(source_train_per_class=10, source_test_per_class=4,
                                  target_train_per_class=10, target_test_per_class=4)


def write_image_folder(root, classes, n_train=6, n_test=3, seed=0):
    rng = np.random.default_rng(seed)
    for split, n in (("train", n_train), ("test", n_test)):
        for name in classes:
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(n):
                Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(folder / f"{i:04d}.png")
    return root


def test_synthetic_task_has_labels_in_config_order_and_disjoint_splits():
    config = DataConfig(synthetic=SMALL_SYNTHETIC)
    data = prepare_task(config, "finetune", ["plus+plus", "disc+ring"])
    assert data.classes == ["plus+plus", "disc+ring"]
    assert data.counts() == {"train": [9, 9], "val": [1, 1], "test": [4, 4]}
    train_bytes = {x.tobytes() for x in data.train.images}
    assert not any(x.tobytes() in train_bytes for x in data.val.images)


def test_unknown_class_fails_with_the_available_names():
    with pytest.raises(DataSourceError, match="unknown class name\\(s\\) \\['tractor'\\]; available classes: \\["):
        prepare_task(DataConfig(synthetic=SMALL_SYNTHETIC), "finetune", ["disc+ring", "tractor"])


def test_validation_split_is_stratified_seeded_and_from_train_only():
    labels = np.repeat([0, 1, 2], 20)
    data = LabelledImages(np.arange(60)[:, None, None, None].astype(np.uint8) * np.ones((1, 2, 2, 3), np.uint8), labels)
    train, val = split_validation(data, 0.25, seed=0)
    assert np.bincount(val.labels).tolist() == [5, 5, 5]
    assert len(train) + len(val) == 60
    again = split_validation(data, 0.25, seed=0)[1]
    other = split_validation(data, 0.25, seed=1)[1]
    assert np.array_equal(val.images, again.images)
    assert not np.array_equal(val.images, other.images)


@pytest.mark.parametrize("as_archive", [False, True])
def test_folder_source_reads_folders_and_archives(tmp_path, as_archive):
    root = write_image_folder(tmp_path / "cifar-like", ["cat", "ant", "bee"])
    (root / "train" / "cat" / "notes.txt").write_text("not an image")
    path = root
    if as_archive:
        path = tmp_path / "cifar-like.tar.gz"
        with tarfile.open(path, "w:gz") as archive:
            archive.add(root, arcname="cifar-like")
    config = DataConfig(source="folder", pretrain_path=str(path), finetune_path=str(path), validation_fraction=0.5)
    assert available_classes(config, "finetune") == ["ant", "bee", "cat"]
    data = prepare_task(config, "finetune", ["cat", "bee"])
    assert data.counts() == {"train": [3, 3], "val": [3, 3], "test": [3, 3]}
    expected = np.asarray(Image.open(root / "test" / "cat" / "0000.png"))
    assert np.array_equal(data.test.images[0], expected)


def test_folder_source_errors_name_the_problem(tmp_path):
    missing = DataConfig(source="folder", pretrain_path=str(tmp_path / "nope"), finetune_path=str(tmp_path / "nope"))
    with pytest.raises(DataSourceError, match="does not exist"):
        prepare_task(missing, "pretrain")
    (tmp_path / "empty").mkdir()
    empty = DataConfig(source="folder", pretrain_path=str(tmp_path / "empty"), finetune_path="x")
    with pytest.raises(DataSourceError, match="train/<class>"):
        prepare_task(empty, "pretrain")
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(b"\x1f\x8b\x08\x00garbage")
    with pytest.raises(DataSourceError, match="cannot read the archive"):
        prepare_task(DataConfig(source="folder", pretrain_path=str(broken), finetune_path="x"), "pretrain")


def test_prepared_file_roundtrip_and_checksum(tmp_path):
    data = prepare_task(DataConfig(synthetic=SMALL_SYNTHETIC), "pretrain")
    path = tmp_path / "pretrain.npz"
    meta = save_prepared(data, path, {"task": "pretrain"})
    assert len(meta["sha256"]) == 64 and meta["classes"] == data.classes
    loaded = load_prepared(path)
    assert np.array_equal(loaded.test.images, data.test.images) and loaded.classes == data.classes
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ChecksumError, match="pretrain.npz"):
        load_prepared(path)


def test_preparation_is_deterministic(tmp_path):
    config = DataConfig(synthetic=SMALL_SYNTHETIC)
    a = save_prepared(prepare_task(config, "pretrain"), tmp_path / "a.npz", {})
    b = save_prepared(prepare_task(config, "pretrain"), tmp_path / "b.npz", {})
    assert a["sha256"] == b["sha256"]


def _fake_cifar10(root):
    """The on-disk layout of torchvision's CIFAR-10 with a few random images."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    for batch in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        entry = {"data": rng.integers(0, 255, (20, 3072), dtype=np.uint8), "labels": list(range(10)) * 2}
        with open(folder / batch, "wb") as handle:
            pickle.dump(entry, handle)
    with open(folder / "batches.meta", "wb") as handle:
        pickle.dump({"label_names": names}, handle)


def test_torchvision_source_reads_cifar_without_download(tmp_path, monkeypatch):
    import torchvision.datasets.cifar as cifar

    _fake_cifar10(tmp_path)
    # the fake files cannot match torchvision's MD5s; everything else is torchvision's real reader
    monkeypatch.setattr(cifar, "check_integrity", lambda *args, **kwargs: True)
    monkeypatch.setattr(cifar.CIFAR10, "_check_integrity", lambda self: True)
    config = DataConfig(source="torchvision", pretrain_path=str(tmp_path), download=False, validation_fraction=0.5)
    assert available_classes(config, "pretrain")[:2] == ["airplane", "automobile"]
    data = prepare_task(config, "pretrain", ["cat", "ship"])
    assert data.counts() == {"train": [5, 5], "val": [5, 5], "test": [2, 2]}


def test_torchvision_source_without_data_and_download_fails_clearly(tmp_path):
    config = DataConfig(source="torchvision", pretrain_path=str(tmp_path), download=False)
    with pytest.raises(DataSourceError, match="CIFAR10 .*download is false"):
        available_classes(config, "pretrain")

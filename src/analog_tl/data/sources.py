"""Read raw images from the three data sources: synthetic, image folder, torchvision.

Each reader returns the ``train`` and ``test`` images of the requested classes
(labels follow the order of ``classes``) for one role: ``pretrain`` (the
source task, CIFAR-10 in the paper) or ``finetune`` (the target pool,
CIFAR-100 in the paper).
"""

from __future__ import annotations

import io
import logging
import tarfile
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from analog_tl.config import DataConfig
from analog_tl.data import synthetic
from analog_tl.data.prepared import LabelledImages
from analog_tl.errors import DataSourceError
from analog_tl.vocabulary import DATA_ROLES, FOLDER, PRETRAIN_ROLE, SYNTHETIC, TORCHVISION, TORCHVISION_DATASETS

log = logging.getLogger(__name__)

TORCHVISION_ROLES = {dataset: role for role, dataset in TORCHVISION_DATASETS.items()}  # the role of each data set
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".ppm"}
IMAGE_SIZE = 32


def available_classes(config: DataConfig, role: str) -> list[str]:
    """Class names that ``role`` offers, in label order."""
    _check_role(role)
    if config.source == SYNTHETIC:
        return synthetic.source_classes() if role == PRETRAIN_ROLE else synthetic.target_classes()
    if config.source == FOLDER:
        return sorted(_scan_folder(_path_for(config, role)))
    if config.source == TORCHVISION:
        return list(_torchvision_dataset(config, role, train=False).classes)
    raise DataSourceError(f"unknown data source {config.source!r}; use synthetic, folder or torchvision")


def check_classes(requested: list[str], available: list[str], what: str) -> None:
    """Fail with the list of available names if a requested class is unknown or repeated."""
    unknown = [c for c in requested if c not in available]
    if unknown:
        raise DataSourceError(f"{what}: unknown class name(s) {unknown}; available classes: {available}")
    repeated = sorted({c for c in requested if requested.count(c) > 1})
    if repeated:
        raise DataSourceError(f"{what}: class name(s) listed more than once: {repeated}")


def load_split_images(
    config: DataConfig, role: str, classes: list[str]
) -> tuple[LabelledImages, LabelledImages]:
    """Train and test images of ``classes`` for ``role``; labels index into ``classes``."""
    check_classes(classes, available_classes(config, role), f"{role} classes")
    if config.source == SYNTHETIC:
        return _synthetic(config, role, classes)
    if config.source == FOLDER:
        return _folder(config, role, classes)
    return _torchvision(config, role, classes)


def _check_role(role: str) -> None:
    if role not in DATA_ROLES:
        raise ValueError(f"role must be one of {DATA_ROLES}, got {role!r}")


def _path_for(config: DataConfig, role: str) -> Path:
    raw = config.pretrain_path if role == PRETRAIN_ROLE else config.finetune_path
    if not raw:
        raise DataSourceError(f"data.{role}_path is not set (needed by data source {config.source!r})")
    path = Path(raw)
    if not path.exists():
        raise DataSourceError(f"data.{role}_path: {path} does not exist")
    return path


# --- synthetic -------------------------------------------------------------------------


def _synthetic(config: DataConfig, role: str, classes: list[str]) -> tuple[LabelledImages, LabelledImages]:
    spec = config.synthetic
    per_train = spec.source_train_per_class if role == PRETRAIN_ROLE else spec.target_train_per_class
    per_test = spec.source_test_per_class if role == PRETRAIN_ROLE else spec.target_test_per_class
    train = synthetic.generate(classes, per_train, spec.seed, spec.pixel_noise, "train")
    test = synthetic.generate(classes, per_test, spec.seed, spec.pixel_noise, "test")
    return LabelledImages(*train), LabelledImages(*test)


# --- image folder or .tar.gz of one ------------------------------------------------------


def _is_archive(path: Path) -> bool:
    return path.is_file() and (path.name.endswith(".tar.gz") or path.name.endswith(".tgz") or path.suffix == ".tar")


def _split_class_of(parts: tuple[str, ...]) -> tuple[str, str] | None:
    """(split, class) of a path ``.../<split>/<class>/<file>``, or None."""
    if len(parts) >= 3 and parts[-3] in ("train", "test"):
        return parts[-3], parts[-2]
    return None


def _iter_folder_files(root: Path) -> Iterator[tuple[str, str, str, bytes | Path]]:
    """Yield (split, class, file name, path or bytes) of every file in the folder or archive."""
    if _is_archive(root):
        try:
            with tarfile.open(root, "r:*") as archive:
                for member in archive:
                    if not member.isfile():
                        continue
                    parts = PurePosixPath(member.name).parts
                    found = _split_class_of(parts)
                    if found:
                        handle = archive.extractfile(member)
                        assert handle is not None
                        yield found[0], found[1], parts[-1], handle.read()
        except (tarfile.TarError, EOFError, OSError) as error:
            raise DataSourceError(f"{root}: cannot read the archive ({error})") from error
        return
    if not root.is_dir():
        raise DataSourceError(f"{root} is neither a folder nor a .tar.gz archive")
    for split in ("train", "test"):
        for file in sorted((root / split).glob("*/*")) if (root / split).is_dir() else []:
            if file.is_file():
                yield split, file.parent.name, file.name, file


def _scan_folder(root: Path) -> set[str]:
    """Class names present in the train split of an image folder (names only, fast)."""
    if _is_archive(root):
        names: set[str] = set()
        try:
            with tarfile.open(root, "r:*") as archive:
                for member in archive:
                    found = _split_class_of(PurePosixPath(member.name).parts)
                    if member.isfile() and found and found[0] == "train":
                        names.add(found[1])
        except (tarfile.TarError, EOFError, OSError) as error:
            raise DataSourceError(f"{root}: cannot read the archive ({error})") from error
    elif (root / "train").is_dir():
        names = {p.name for p in (root / "train").iterdir() if p.is_dir()}
    else:
        raise DataSourceError(f"{root}: expected an image folder with train/<class>/ and test/<class>/")
    if not names:
        raise DataSourceError(f"{root}: no classes found under train/<class>/")
    return names


def _decode(content: bytes | Path, where: str) -> np.ndarray:
    """Decode one image to (32, 32, 3) uint8, resizing other sizes."""
    try:
        with Image.open(io.BytesIO(content) if isinstance(content, bytes) else content) as image:
            image = image.convert("RGB")
            if image.size != (IMAGE_SIZE, IMAGE_SIZE):
                image = image.resize((IMAGE_SIZE, IMAGE_SIZE), Image.BILINEAR)
            return np.asarray(image, dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as error:
        raise DataSourceError(f"{where}: not a readable image ({error})") from error


def _folder(config: DataConfig, role: str, classes: list[str]) -> tuple[LabelledImages, LabelledImages]:
    root = _path_for(config, role)
    wanted = {name: label for label, name in enumerate(classes)}
    found: dict[str, dict[str, list[tuple[str, np.ndarray]]]] = {"train": defaultdict(list), "test": defaultdict(list)}
    skipped = 0
    for split, name, file_name, content in _iter_folder_files(root):
        if name not in wanted:
            continue
        if PurePosixPath(file_name).suffix.lower() not in IMAGE_SUFFIXES:
            skipped += 1
            continue
        found[split][name].append((file_name, _decode(content, f"{root}:{split}/{name}/{file_name}")))
    if skipped:
        log.warning("%s: skipped %d file(s) without an image suffix", root, skipped)
    splits = []
    for split in ("train", "test"):
        missing = [c for c in classes if not found[split][c]]
        if missing:
            raise DataSourceError(f"{root}: no {split} images for class(es) {missing}")
        images, labels = [], []
        for name in classes:
            for _, image in sorted(found[split][name], key=lambda item: item[0]):
                images.append(image)
                labels.append(wanted[name])
        splits.append(LabelledImages(np.stack(images), np.array(labels, dtype=np.int64)))
    return splits[0], splits[1]


# --- torchvision CIFAR ---------------------------------------------------------------------


def _torchvision_dataset(config: DataConfig, role: str, train: bool):  # type: ignore[no-untyped-def]
    """torchvision's data set of ``role`` (TORCHVISION_DATASETS: CIFAR-10, CIFAR-100), downloaded if allowed."""
    from torchvision.datasets import CIFAR10, CIFAR100

    dataset_class = {"cifar10": CIFAR10, "cifar100": CIFAR100}[TORCHVISION_DATASETS[role]]
    root = config.pretrain_path if role == PRETRAIN_ROLE else config.finetune_path
    root = root or "resources/torchvision"
    try:
        return dataset_class(root=root, train=train, download=config.download)
    except RuntimeError as error:
        hint = "" if config.download else " (data.download is false)"
        raise DataSourceError(f"{dataset_class.__name__} at {root}: {error}{hint}") from error


def fetch_torchvision(config: DataConfig, role: str) -> dict[str, Any]:
    """Download (if ``config.download``) or verify ``role``'s torchvision CIFAR in its root; return what is there.

    Raises:
        DataSourceError: when the data set is missing or corrupted and may not be downloaded.
    """
    import torchvision

    _check_role(role)
    splits = {"train": _torchvision_dataset(config, role, train=True), "test": _torchvision_dataset(config, role, train=False)}
    return {
        "dataset": type(splits["train"]).__name__,
        "root": str(Path(splits["train"].root).resolve()),
        "download_allowed": config.download,
        "images": {split: len(dataset) for split, dataset in splits.items()},
        "classes": list(splits["train"].classes),
        "torchvision": torchvision.__version__,
    }


def _torchvision(config: DataConfig, role: str, classes: list[str]) -> tuple[LabelledImages, LabelledImages]:
    splits = []
    for train in (True, False):
        dataset = _torchvision_dataset(config, role, train)
        index_of = {name: i for i, name in enumerate(dataset.classes)}
        targets = np.asarray(dataset.targets, dtype=np.int64)
        images, labels = [], []
        for label, name in enumerate(classes):
            members = np.flatnonzero(targets == index_of[name])
            images.append(np.asarray(dataset.data)[members])
            labels.append(np.full(len(members), label, dtype=np.int64))
        splits.append(LabelledImages(np.concatenate(images), np.concatenate(labels)))
    return splits[0], splits[1]

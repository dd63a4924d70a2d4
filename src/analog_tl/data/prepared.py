"""Prepared data sets: train / validation / test splits on disk with a checksum.

A prepared data set is an ``.npz`` file (images uint8 ``(N, 32, 32, 3)``,
labels int64 ``(N,)`` per split, and the class names) plus a JSON sidecar that
records its SHA-256, class names and counts. Every reader checks the checksum.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from analog_tl.errors import ChecksumError, DataError
from analog_tl.io import atomic_path, read_json, sha256_file, write_json

SPLITS = ("train", "val", "test")


@dataclass
class LabelledImages:
    """Images (N, H, W, 3) uint8 with labels (N,) int64."""

    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index: np.ndarray) -> "LabelledImages":
        """The images at ``index``."""
        return LabelledImages(self.images[index], self.labels[index])


@dataclass
class PreparedData:
    """Train / validation / test splits of one classification task."""

    classes: list[str]
    train: LabelledImages
    val: LabelledImages
    test: LabelledImages

    def split(self, name: str) -> LabelledImages:
        """The split called ``name`` (train, val or test)."""
        return {"train": self.train, "val": self.val, "test": self.test}[name]

    def counts(self) -> dict[str, list[int]]:
        """Images per class and split."""
        k = len(self.classes)
        return {s: np.bincount(self.split(s).labels, minlength=k).tolist() for s in SPLITS}


def split_validation(
    train: LabelledImages, fraction: float, seed: int, classes: list[str] | None = None
) -> tuple[LabelledImages, LabelledImages]:
    """Carve a stratified validation split of ``fraction`` from ``train`` (seeded).

    Returns (train, validation); every class keeps at least one training image.
    ``classes`` (names by label) only make error messages readable.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"validation_fraction must be in (0, 1), got {fraction}")
    val_index, train_index = [], []
    for label in np.unique(train.labels):
        members = np.flatnonzero(train.labels == label)
        members = members[np.random.default_rng([seed, int(label)]).permutation(len(members))]
        n_val = min(max(1, round(fraction * len(members))), len(members) - 1)
        if n_val < 1:
            name = classes[int(label)] if classes else int(label)
            raise DataError(
                f"class {name!r} has {len(members)} training image(s); need at least 2 "
                "(one for training, one for validation)"
            )
        val_index.append(members[:n_val])
        train_index.append(members[n_val:])
    return train.subset(np.sort(np.concatenate(train_index))), train.subset(np.sort(np.concatenate(val_index)))


def save_prepared(data: PreparedData, path: str | Path, provenance: dict[str, Any]) -> dict[str, Any]:
    """Write ``data`` to ``path`` (.npz) and its sidecar ``path.json``; return the sidecar."""
    path = Path(path)
    arrays: dict[str, np.ndarray] = {"classes": np.array(data.classes)}
    for name in SPLITS:
        arrays[f"x_{name}"] = data.split(name).images
        arrays[f"y_{name}"] = data.split(name).labels
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez_compressed(handle, **arrays)
        checksum = sha256_file(tmp)
    sidecar = {"file": path.name, "sha256": checksum, "classes": data.classes, "counts": data.counts(), **provenance}
    write_json(sidecar_path(path), sidecar)
    return sidecar


def sidecar_path(path: str | Path) -> Path:
    """The JSON sidecar that belongs to a prepared ``.npz``."""
    path = Path(path)
    return path.with_name(path.name + ".json")


def verify_checksum(path: str | Path) -> dict[str, Any]:
    """Check ``path`` against its sidecar's SHA-256; return the sidecar.

    Raises:
        ChecksumError: naming the file when the checksums differ or the sidecar is missing.
    """
    path = Path(path)
    meta_path = sidecar_path(path)
    if not meta_path.exists():
        raise ChecksumError(f"{path}: checksum sidecar {meta_path} is missing")
    meta = read_json(meta_path)
    actual = sha256_file(path)
    if actual != meta["sha256"]:
        raise ChecksumError(
            f"{path}: SHA-256 {actual} does not match {meta['sha256']} recorded in {meta_path}; "
            "the file changed after it was written; delete it and rerun the workflow"
        )
    return meta


def load_prepared(path: str | Path) -> PreparedData:
    """Read a prepared data set after verifying its checksum."""
    verify_checksum(path)
    with np.load(path, allow_pickle=False) as archive:
        splits = {s: LabelledImages(archive[f"x_{s}"], archive[f"y_{s}"]) for s in SPLITS}
        classes = [str(c) for c in archive["classes"]]
    return PreparedData(classes=classes, **splits)

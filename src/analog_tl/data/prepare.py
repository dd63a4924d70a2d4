"""Turn raw images into a prepared task: class selection, subsampling, validation split."""

from __future__ import annotations

import numpy as np

from analog_tl.config import DataConfig
from analog_tl.data.prepared import LabelledImages, PreparedData, split_validation
from analog_tl.data.sources import available_classes, load_split_images


def cap_per_class(data: LabelledImages, limit: int | None, seed: int) -> LabelledImages:
    """At most ``limit`` images of each class, drawn without replacement (seeded); None keeps all."""
    if limit is None:
        return data
    keep = []
    for label in np.unique(data.labels):
        members = np.flatnonzero(data.labels == label)
        rng = np.random.default_rng([seed, int(label), 1])
        keep.append(np.sort(rng.permutation(members)[:limit]))
    return data.subset(np.sort(np.concatenate(keep)))


def prepare_task(config: DataConfig, role: str, classes: list[str] | None = None) -> PreparedData:
    """The prepared data of ``classes`` (all classes of ``role`` when None).

    Labels follow the order of ``classes``. The validation split comes from the
    training images only; test images are kept apart for reporting.
    """
    classes = list(classes) if classes is not None else available_classes(config, role)
    train, test = load_split_images(config, role, classes)
    train = cap_per_class(train, config.max_train_per_class, config.split_seed)
    test = cap_per_class(test, config.max_test_per_class, config.split_seed)
    train, val = split_validation(train, config.validation_fraction, config.split_seed, classes)
    return PreparedData(classes=classes, train=train, val=val, test=test)

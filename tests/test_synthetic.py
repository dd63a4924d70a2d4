"""The embedded synthetic data: shape, determinism and the source / target class design."""

import numpy as np
import pytest

from analog_tl.data import synthetic


def test_images_are_cifar_shaped_uint8():
    images, labels = synthetic.generate(synthetic.source_classes()[:3], 4, seed=0, pixel_noise=12.0, split="train")
    assert images.shape == (12, 32, 32, 3) and images.dtype == np.uint8
    assert labels.tolist() == [0] * 4 + [1] * 4 + [2] * 4


def test_same_seed_same_bytes_other_seed_other_images():
    classes = synthetic.target_classes()[:2]
    a, _ = synthetic.generate(classes, 5, seed=1, pixel_noise=12.0, split="train")
    b, _ = synthetic.generate(classes, 5, seed=1, pixel_noise=12.0, split="train")
    c, _ = synthetic.generate(classes, 5, seed=2, pixel_noise=12.0, split="train")
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_train_and_test_images_differ():
    classes = synthetic.source_classes()[:1]
    train, _ = synthetic.generate(classes, 5, seed=0, pixel_noise=12.0, split="train")
    test, _ = synthetic.generate(classes, 5, seed=0, pixel_noise=12.0, split="test")
    assert not any(np.array_equal(x, y) for x in train for y in test)


def test_a_class_does_not_depend_on_the_other_classes_requested():
    name = synthetic.target_classes()[3]
    alone, _ = synthetic.generate([name], 3, seed=0, pixel_noise=12.0, split="train")
    with_others, _ = synthetic.generate(synthetic.target_classes()[:2] + [name], 3, seed=0, pixel_noise=12.0, split="train")
    assert np.array_equal(alone, with_others[6:])


def test_ten_source_classes_and_a_target_pool_of_at_least_twenty_new_combinations():
    source, target = synthetic.source_classes(), synthetic.target_classes()
    assert len(source) == 10 and len(target) >= 20
    assert not set(source) & set(target)
    # shared structure: every motif of every target class occurs in the source task
    source_motifs = {m for name in source for m in name.split("+")}
    assert source_motifs == set(synthetic.MOTIFS)
    assert all(set(name.split("+")) <= source_motifs for name in target)


def test_unknown_class_lists_the_available_ones():
    with pytest.raises(ValueError, match="available"):
        synthetic.generate(["unicorn"], 1, seed=0, pixel_noise=0.0, split="train")


def test_motifs_are_distinguishable_without_noise():
    """Without noise, the images of two classes are never identical and motifs cover real area."""
    rng = np.random.default_rng(0)
    for motif in synthetic.MOTIFS:
        yy, xx = np.meshgrid(np.arange(32) - 16.0, np.arange(32) - 16.0, indexing="ij")
        area = synthetic._motif_mask(motif, yy, xx, radius=7.0, phase=rng.uniform(0, 4)).sum()
        assert 15 < area < 250, (motif, area)

"""Synthetic CIFAR-shaped data in which transfer learning is real.

Every image is 32x32 RGB uint8: a smooth random colour background with pixel
noise and two coloured shapes ("motifs") at random positions, sizes and
colours. A class is a pair of motifs, e.g. ``disc+cross``. Eight motifs make
28 pairs of distinct motifs and 8 pairs of equal ones (36 classes):

* the **source task** (pre-training) uses 10 pairs of distinct motifs, chosen
  so that every motif occurs in it;
* the **target pool** (fine-tuning) holds the other 26 pairs, so every target
  class is a new combination of motifs that the source task taught.

Colours, positions and sizes carry no class information, so a classifier must
recognise the motifs' shapes; a network pre-trained on the source classes
already has those detectors, which is what makes fine-tuning on few target
images benefit from pre-training.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np

IMAGE_SIZE = 32
SPLITS = ("train", "test")
MOTIFS: tuple[str, ...] = ("disc", "ring", "square", "frame", "plus", "cross", "stripes", "triangle")
SOURCE_PAIRS: tuple[tuple[str, str], ...] = (
    ("disc", "square"),
    ("disc", "plus"),
    ("ring", "frame"),
    ("ring", "stripes"),
    ("square", "triangle"),
    ("frame", "cross"),
    ("plus", "stripes"),
    ("cross", "triangle"),
    ("disc", "cross"),
    ("ring", "triangle"),
)


def class_name(pair: tuple[str, str]) -> str:
    """Class label of a motif pair, e.g. ``disc+ring``."""
    return "+".join(pair)


def source_classes() -> list[str]:
    """The 10 pre-training classes, in label order."""
    return [class_name(p) for p in SOURCE_PAIRS]


def target_classes() -> list[str]:
    """The 26 fine-tuning classes (all pairs not in the source task), in label order."""
    pairs = list(combinations(MOTIFS, 2)) + [(m, m) for m in MOTIFS]
    return [class_name(p) for p in pairs if p not in SOURCE_PAIRS]


def _motif_mask(motif: str, yy: np.ndarray, xx: np.ndarray, radius: float, phase: float) -> np.ndarray:
    """Boolean mask (H, W) of ``motif`` centred at (0, 0) of the given coordinate grids."""
    ay, ax = np.abs(yy), np.abs(xx)
    r = np.hypot(yy, xx)
    thick = max(1.2, radius * 0.3)
    if motif == "disc":
        return r <= radius
    if motif == "ring":
        return (r <= radius) & (r >= radius - thick)
    if motif == "square":
        return (ay <= radius * 0.85) & (ax <= radius * 0.85)
    if motif == "frame":
        outer = (ay <= radius) & (ax <= radius)
        return outer & ~((ay <= radius - thick) & (ax <= radius - thick))
    if motif == "plus":
        return ((ay <= thick / 2) & (ax <= radius)) | ((ax <= thick / 2) & (ay <= radius))
    if motif == "cross":
        diag = (np.abs(yy - xx) <= thick * 0.75) | (np.abs(yy + xx) <= thick * 0.75)
        return diag & (ay <= radius * 0.8) & (ax <= radius * 0.8)
    if motif == "stripes":
        return (ay <= radius) & (ax <= radius) & (np.cos(np.pi * (yy + phase) / thick) > 0)
    if motif == "triangle":
        return (yy <= radius * 0.7) & (yy >= -radius) & (ax <= (yy + radius) * 0.6)
    raise ValueError(f"unknown motif {motif!r}")


def _random_colour(rng: np.random.Generator) -> np.ndarray:
    """A saturated RGB colour (3,) in [0, 255]."""
    colour = rng.uniform(0, 90, size=3)
    colour[rng.integers(3)] = rng.uniform(170, 255)
    return colour


def render_image(pair: tuple[str, str], rng: np.random.Generator, pixel_noise: float) -> np.ndarray:
    """One image (32, 32, 3) uint8 showing the two motifs of ``pair``."""
    size = IMAGE_SIZE
    grid = np.arange(size, dtype=np.float64)
    yy, xx = np.meshgrid(grid, grid, indexing="ij")
    # smooth background: a random linear colour gradient
    base = rng.uniform(30, 130, size=3)
    slope = rng.uniform(-1.5, 1.5, size=(2, 3))
    image = base + yy[..., None] * slope[0] + xx[..., None] * slope[1] - size / 2 * slope.sum(0)
    # the two motifs in opposite halves (left/right or top/bottom), order random
    halves = rng.permutation(2)
    vertical = rng.random() < 0.5
    for motif, half in zip(pair, halves):
        radius = rng.uniform(6.0, 7.5)
        along = rng.uniform(radius, size / 2 - radius) + half * size / 2
        across = rng.uniform(radius, size - radius)
        cy, cx = (along, across) if vertical else (across, along)
        mask = _motif_mask(motif, yy - cy, xx - cx, radius, phase=rng.uniform(0, 4))
        image[mask] = _random_colour(rng)
    image += rng.normal(0.0, pixel_noise, size=image.shape)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def generate(
    classes: list[str], per_class: int, seed: int, pixel_noise: float, split: str
) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 32, 32, 3) uint8 and labels (N,) int64, ``per_class`` of each class in order.

    Deterministic in ``seed``; each (class, split) draws from its own stream,
    so adding classes does not change the images of the others and the train
    and test images never coincide.
    """
    images = np.empty((len(classes) * per_class, IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
    labels = np.repeat(np.arange(len(classes), dtype=np.int64), per_class)
    all_names = source_classes() + target_classes()
    for label, name in enumerate(classes):
        if name not in all_names:
            raise ValueError(f"unknown synthetic class {name!r}; available: {all_names}")
        pair = tuple(name.split("+"))
        rng = np.random.default_rng([seed, all_names.index(name), SPLITS.index(split)])
        for i in range(per_class):
            images[label * per_class + i] = render_image(pair, rng, pixel_noise)  # type: ignore[arg-type]
    return images, labels

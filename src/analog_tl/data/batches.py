"""Mini-batches as float tensors, with seeded shuffling and augmentation.

The batch order of epoch ``e`` depends only on ``(seed, e)``, so a run is
reproducible and can be resumed at an epoch boundary with the same order.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from analog_tl.config import AugmentConfig
from analog_tl.data.prepared import LabelledImages


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> float32 (N, 3, H, W) scaled to [-1, 1]."""
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float()
    return x.div_(127.5).sub_(1.0)


def augment(x: torch.Tensor, config: AugmentConfig, generator: torch.Generator) -> torch.Tensor:
    """Random crop after zero padding by ``crop_padding`` pixels and random horizontal flip.

    x: (N, 3, H, W) float; returns a new tensor of the same shape.
    """
    n, _, h, w = x.shape
    pad = config.crop_padding
    if pad > 0:
        padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
        offsets = torch.randint(0, 2 * pad + 1, (n, 2), generator=generator)
        x = torch.stack([padded[i, :, dy : dy + h, dx : dx + w] for i, (dy, dx) in enumerate(offsets.tolist())])
    if config.horizontal_flip:
        flip = torch.rand(n, generator=generator) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    return x


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """The generator that orders and augments epoch ``epoch`` of a run seeded ``seed``."""
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch)


def train_batches(
    data: LabelledImages, batch_size: int, seed: int, epoch: int, config: AugmentConfig
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Shuffled, augmented batches (x (B, 3, H, W), y (B,)) of one epoch; the last one may be smaller."""
    generator = epoch_generator(seed, epoch)
    order = torch.randperm(len(data), generator=generator).numpy()
    for start in range(0, len(order), batch_size):
        index = order[start : start + batch_size]
        x = augment(to_tensor(data.images[index]), config, generator)
        yield x, torch.from_numpy(data.labels[index])


def eval_batches(data: LabelledImages, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Batches in file order, without augmentation."""
    for start in range(0, len(data), batch_size):
        yield to_tensor(data.images[start : start + batch_size]), torch.from_numpy(data.labels[start : start + batch_size])


def steps_per_epoch(n_images: int, batch_size: int) -> int:
    """Number of optimiser steps in one epoch."""
    return -(-n_images // batch_size)

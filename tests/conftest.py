"""Shared fixtures: tiny data sets and configs that need no external data."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import numpy as np
import pytest
import torch

if not torch.cuda.is_available():
    # the fast simulator's Triton kernels run in Triton's interpreter on CPU tensors (tests/test_simulator_gpu.py);
    # set before anything imports them (Triton reads it when a kernel is defined)
    os.environ.setdefault("TRITON_INTERPRET", "1")

from analog_tl.data.prepared import LabelledImages, PreparedData
from workflow_helpers import TINY, snakemake, write_config


@pytest.fixture(autouse=True)
def _single_thread():
    torch.set_num_threads(1)


def stripes_data(n_per_class: int, seed: int) -> PreparedData:
    """Two trivially separable classes (horizontal vs vertical stripes) with noise."""
    rng = np.random.default_rng(seed)

    def make(n: int) -> LabelledImages:
        grid = np.arange(32)
        horizontal = np.broadcast_to((grid[:, None] % 2) * 200.0, (32, 32))  # 1-pixel stripes: visible inside every patch
        images, labels = [], []
        for label in (0, 1):
            base = horizontal if label == 0 else horizontal.T
            for _ in range(n):
                img = base[..., None] + rng.normal(0, 20, (32, 32, 3))
                images.append(np.clip(img, 0, 255).astype(np.uint8))
                labels.append(label)
        return LabelledImages(np.stack(images), np.array(labels, dtype=np.int64))

    return PreparedData(classes=["h", "v"], train=make(n_per_class), val=make(8), test=make(8))


@pytest.fixture
def stripes() -> PreparedData:
    return stripes_data(24, seed=0)


@pytest.fixture(scope="session")
def tiny_config() -> dict:
    """The tiny workflow config (tests/data/tiny.yaml): the whole DAG in minutes; a copy each test may change."""
    return copy.deepcopy(TINY)


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory) -> Path:
    """A workflow folder where the whole DAG ran once on the tiny config (read-only: copy it to change it)."""
    workdir = tmp_path_factory.mktemp("tiny")
    write_config(workdir, TINY)
    snakemake(workdir, "--cores", "2")
    return workdir

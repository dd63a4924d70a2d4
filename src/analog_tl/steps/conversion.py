"""From the pre-trained model to the model that fine-tunes: head swap, analog conversion, transfer noise.

:func:`convert_pretrained` is the step of rule ``convert_analog``; the
fine-tuning steps load the pre-trained model (:func:`load_pretrained`) or
convert it themselves (:func:`analog_from_pretrained`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn

from analog_tl.analog.populations import population_seeds
from analog_tl.analog.rpu import build_rpu_config
from analog_tl.analog.transfer import apply_transfer_noise, convert
from analog_tl.config import ModelConfig
from analog_tl.data.prepared import verify_checksum
from analog_tl.io import atomic_path, write_json
from analog_tl.models.factory import build_model, head_name, swap_head
from analog_tl.steps.jobs import ConversionJob, Transfer
from analog_tl.training.artifacts import RunPaths, load_checked_model, save_model
from analog_tl.vocabulary import ALL_LAYERS, ANALOG_LAYER_SETS, BACKBONE_LAYERS, HEAD_LAYERS

log = logging.getLogger(__name__)


def load_pretrained(pretrained_dir: str | Path, model_cfg: ModelConfig, num_classes: int, head_seed: int) -> nn.Module:
    """The pre-trained model (checksum-checked) with a fresh ``num_classes`` head."""
    paths = RunPaths.in_folder(pretrained_dir)
    checkpoint = load_checked_model(paths.model, paths.final)
    model = build_model(model_cfg, len(checkpoint["classes"]), seed=0)
    model.load_state_dict(checkpoint["state_dict"])
    return swap_head(model, num_classes, seed=head_seed)


def noise_generator(noise_seed: int, seed: int) -> torch.Generator:
    """Generator of the transfer-noise draw; the same pattern, scaled by tau, for every tau."""
    return torch.Generator().manual_seed(noise_seed * 1_000_003 + seed)


def digital_layers(model: nn.Module, layers: str) -> list[str]:
    """Names of the ``nn.Linear`` layers that stay digital when ``layers`` (ANALOG_LAYER_SETS) are analog."""
    if layers not in ANALOG_LAYER_SETS:
        raise ValueError(f"analog layers must be one of {ANALOG_LAYER_SETS}, got {layers!r}")
    head = head_name(model)
    linear = [name for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    return {ALL_LAYERS: [], BACKBONE_LAYERS: [head], HEAD_LAYERS: [n for n in linear if n != head]}[layers]


def analog_from_pretrained(
    transfer: Transfer, model_cfg: ModelConfig, rpu_config: Any, num_classes: int, seed: int, layers: str = ALL_LAYERS
) -> tuple[nn.Module, pd.DataFrame]:
    """Head-swapped pre-trained model converted to analog with transfer noise ``transfer.tau`` programmed.

    ``seed`` (the run's) seeds the fresh head and, with ``transfer.noise_seed``,
    the noise draw. ``transfer.head_noise`` False programs the fresh head
    without noise (Eq. 1 read as noise on the pre-trained weights only).
    ``layers`` (ANALOG_LAYER_SETS) says which Linear layers become analog:
    ``all``, ``backbone`` (the head stays digital) or ``head`` (the backbone
    stays digital). Returns the analog model and the realised noise per analog
    layer (one row per layer).
    """
    tau = transfer.tau
    model = load_pretrained(transfer.pretrained_dir, model_cfg, num_classes, head_seed=seed)
    reference = {n: m.weight.detach().clone() for n, m in model.named_modules() if isinstance(m, nn.Linear)}
    skip = frozenset() if transfer.head_noise else frozenset({head_name(model)})
    analog = convert(model, rpu_config, exclude=digital_layers(model, layers))
    noise = apply_transfer_noise(analog, reference, tau, noise_generator(transfer.noise_seed, seed), skip)
    report = pd.DataFrame([r.as_dict() for r in noise])
    share = report.rows * report.cols / (report.rows * report.cols).sum()  # each layer's share of the weights
    log.info(
        "transfer noise tau=%g: realised std %.4g (weight-weighted mean over %d layers), clipped %.2f%%",
        tau, (report.realised_std * share).sum(), len(report), 100 * (report.clipped_fraction * share).sum(),
    )
    return analog, report


def init_record_path(model_path: str | Path) -> Path:
    """The JSON record (checksum, tau, seeds) written beside a converted analog model."""
    return Path(model_path).with_suffix(".json")


def convert_pretrained(job: ConversionJob) -> pd.DataFrame:
    """Head-swapped pre-trained model -> analog c-TTv2 model with transfer noise ``job.transfer.tau``.

    Writes the analog state (``job.out_model``), its record (checksum, seeds,
    the per-tile construction seeds) and the realised noise per layer
    (``job.out_noise``, CSV); returns the latter.
    """
    transfer, seed = job.transfer, job.seed
    classes = verify_checksum(job.data_path)["classes"]
    rpu_config = build_rpu_config(job.analog_cfg)
    analog, report = analog_from_pretrained(transfer, job.model_cfg, rpu_config, len(classes), seed)
    state = {
        "state_dict": analog.state_dict(), "classes": classes, "tau": transfer.tau, "noise_seed": transfer.noise_seed,
        "seed": seed,
    }
    with atomic_path(job.out_noise) as tmp:
        report.to_csv(tmp, index=False)
    checksum = save_model(state, Path(job.out_model))
    record = {
        "model_sha256": checksum, "tau": transfer.tau, "noise_seed": transfer.noise_seed, "seed": seed,
        "head_transfer_noise": transfer.head_noise,
        "tile_seeds": [t.as_dict() for t in population_seeds(analog, job.analog_cfg.construction_seed)],
    }
    write_json(init_record_path(job.out_model), record)
    return report

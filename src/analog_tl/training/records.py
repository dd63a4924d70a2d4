"""What a training run records: the ``run.json`` fields every run shares, the analog ones, the checkpoint extras."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from analog_tl.analog.devices import device_summary
from analog_tl.analog.parameters import parameter_counts
from analog_tl.analog.populations import population_seeds
from analog_tl.analog.symmetry import symmetry_points
from analog_tl.config import AnalogConfig, ModelConfig, TrainConfig, to_dict
from analog_tl.data.prepared import sidecar_path
from analog_tl.io import read_json
from analog_tl.models.factory import describe
from analog_tl.training.artifacts import RunPaths, recorded_sha256


def flat_train(config: TrainConfig) -> dict[str, Any]:
    """The training settings that the runs table shows, one column each."""
    return {
        "epochs": config.epochs,
        "batch_size": config.batch_size,
        "lr": config.lr,
        "optimizer": config.optimizer,
        "momentum": config.momentum,
        "seed": config.seed,
    }


def run_record(
    settings: dict[str, Any], model: nn.Module, model_cfg: ModelConfig, train_cfg: TrainConfig, data_path: str | Path
) -> dict[str, Any]:
    """The ``run.json`` fields of every training run (the data file was checksum-checked when loaded)."""
    meta = read_json(sidecar_path(data_path))
    return {
        "settings": {**settings, **flat_train(train_cfg)},
        "model": {**to_dict(model_cfg), **describe(model)},
        "parameters": parameter_counts(model),
        "train": to_dict(train_cfg),
        "data": {"path": str(data_path), "sha256": meta["sha256"], "classes": meta["classes"], "counts": meta["counts"]},
    }


def checkpoint_extras(classes: list[str], model_cfg: ModelConfig) -> dict[str, Any]:
    """What ``model.pt`` holds besides the weights: the class names and the model config."""
    return {"classes": classes, "model": to_dict(model_cfg)}


def pretrained_inputs(pretrained_dir: str | Path) -> dict[str, str]:
    """The ``inputs`` entry of a run record that starts from the pre-trained model: its recorded checksum."""
    return {"pretrained_model_sha256": recorded_sha256(RunPaths.in_folder(pretrained_dir).final)}


def analog_layout(model: nn.Module) -> list[dict[str, Any]]:
    """Analog layers with their shapes and tile counts (tile splitting made visible)."""
    layout = []
    for name, layer in model.named_analog_layers():
        weight, bias = layer.get_weights()
        tiles = list(layer.analog_tiles())
        layout.append(
            {"layer": name, "out": weight.shape[0], "in": weight.shape[1], "tiles": len(tiles),
             "digital_bias": bias is not None}
        )
    return layout


def analog_record(analog: nn.Module, analog_cfg: AnalogConfig) -> dict[str, Any]:
    """What ``run.json`` says about the simulated hardware: device figures, per-tile seeds, symmetry points."""
    return {
        "analog_device": device_summary(analog_cfg.device),
        "device_populations": {
            "construction_seed": analog_cfg.construction_seed,
            "rule": "seed of each tile = analog_tl.seeds.tile_seed(construction_seed, layer, tile)",
            "tiles": [t.as_dict() for t in population_seeds(analog, analog_cfg.construction_seed)],
        },
        "symmetry_points": [p.as_dict() for p in symmetry_points(analog)],
    }

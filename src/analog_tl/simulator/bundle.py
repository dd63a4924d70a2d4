"""A simulator model as one file, for machines without aihwkit (a GPU node, the benchmark machine).

Conversion needs aihwkit (it draws the device populations and programs the
weights); training on the simulator does not. :func:`save` writes what
:func:`.convert.from_aihwkit` produced (settings, the names of the analog
layers, every tensor) and :func:`load` rebuilds the same model from the
model config and the file with torch and this package only. Files hold
tensors, numbers and strings alone (``torch.load(weights_only=True)``).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch
from torch import nn

from analog_tl.config import ModelConfig, from_dict, to_dict
from analog_tl.errors import DataError
from analog_tl.io import atomic_path
from analog_tl.simulator.convert import simulated_layers
from analog_tl.simulator.layers import AnalogLinear
from analog_tl.simulator.settings import TileSettings

FORMAT = "analog_tl simulator bundle 1"


def pack(model: nn.Module, model_cfg: ModelConfig | None = None, n_classes: int | None = None,
         record: dict[str, Any] | None = None) -> dict[str, Any]:
    """The bundle of simulator model ``model`` as plain data (what :func:`save` writes).

    ``model_cfg`` and ``n_classes`` let :func:`unpack` rebuild the module
    structure; without them it needs a template. ``record`` (plain data) is
    stored as it is, e.g. what was converted and with which devices.
    """
    layers = simulated_layers(model)
    if not layers:
        raise ValueError("the model has no simulator layers (convert it with analog_tl.simulator.from_aihwkit)")
    return {
        "format": FORMAT,
        "model_config": to_dict(model_cfg) if model_cfg is not None else None,
        "n_classes": n_classes,
        "settings": layers[0][1].tiles[0].settings.as_dict(),
        "analog_layers": [name for name, _ in layers],
        "state_dict": {name: tensor.detach().clone() for name, tensor in model.state_dict().items()},  # a snapshot
        "record": record or {},
    }


def unpack(data: Any, template: nn.Module | None = None, source: str = "bundle") -> tuple[nn.Module, dict[str, Any]]:
    """The model (on the CPU) and the ``record`` of bundle ``data``.

    The module structure comes from ``template`` (copied, not changed) or,
    without one, from the saved model config (:func:`analog_tl.models.factory.build_model`).

    Raises:
        DataError: naming ``source``, if ``data`` is not a bundle or does not fit the structure.
    """
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise DataError(f"{source}: not a simulator bundle ({FORMAT!r})")
    if template is None:
        if data["model_config"] is None:
            raise DataError(f"{source}: saved without a model config; pass the module structure as template")
        from analog_tl.models.factory import build_model

        model = build_model(from_dict(ModelConfig, data["model_config"]), data["n_classes"], seed=0)
    else:
        model = copy.deepcopy(template)
    settings = from_dict(TileSettings, data["settings"])
    for name in data["analog_layers"]:
        linear = model.get_submodule(name)
        if not isinstance(linear, nn.Linear):
            raise DataError(f"{source}: analog layer {name} is a {type(linear).__name__} in the structure, not a Linear")
        model.set_submodule(name, AnalogLinear(linear.in_features, linear.out_features, linear.bias is not None,
                                               settings))
    try:
        model.load_state_dict(data["state_dict"])
    except RuntimeError as error:
        raise DataError(f"{source}: the saved tensors do not fit the model structure: {error}") from error
    return model, data["record"]


def save(path: str | Path, model: nn.Module, model_cfg: ModelConfig | None = None, n_classes: int | None = None,
         record: dict[str, Any] | None = None) -> None:
    """Write the bundle of ``model`` (:func:`pack`) to ``path``, atomically."""
    data = pack(model, model_cfg, n_classes, record)
    with atomic_path(Path(path)) as tmp:
        torch.save(data, tmp)


def load(path: str | Path, template: nn.Module | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """The model and record of the bundle file ``path`` (:func:`unpack`)."""
    return unpack(torch.load(path, map_location="cpu", weights_only=True), template, source=str(path))

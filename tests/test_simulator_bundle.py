"""Simulator bundles: a converted model as one file, loaded without aihwkit."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gpu_cases import cases, layer_template

from analog_tl.errors import DataError
from analog_tl.simulator import bundle


def test_a_bundle_restores_every_tensor_and_the_settings(tmp_path) -> None:
    model, _ = bundle.unpack(cases()["layer"]["bundle"], layer_template())
    bundle.save(tmp_path / "model.pt", model, record={"what": "layer case"})
    loaded, record = bundle.load(tmp_path / "model.pt", layer_template())
    assert record == {"what": "layer case"}
    assert loaded.state_dict().keys() == model.state_dict().keys()
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in model.state_dict().items())
    assert loaded[0].tiles[0].settings == model[0].tiles[0].settings and len(loaded[0].tiles) == 2


def test_a_bundle_is_a_snapshot_and_bad_files_fail_with_one_clear_error(tmp_path) -> None:
    model, _ = bundle.unpack(cases()["layer"]["bundle"], layer_template())
    data = bundle.pack(model)
    model[0].tiles[0].slow.add_(1.0)
    assert not torch.equal(data["state_dict"]["0.tiles.0.slow"], model[0].tiles[0].slow)
    with pytest.raises(DataError, match="not a simulator bundle"):
        bundle.unpack({"state_dict": {}}, layer_template())
    with pytest.raises(DataError, match="saved without a model config"):
        bundle.unpack(data)
    with pytest.raises(DataError, match="do not fit the model structure"):
        bundle.unpack(data, nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 2)))

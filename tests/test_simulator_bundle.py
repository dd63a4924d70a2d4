"""Simulator bundles (a converted model as one file, loaded without aihwkit) and the GPU benchmark's two scripts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from torch import nn

from gpu_cases import cases, layer_template

from analog_tl.errors import DataError
from analog_tl.simulator import bundle, simulated_layers

REPO = Path(__file__).resolve().parents[1]


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


def test_sampled_devices_are_the_sample_tiles_corner_and_weights_stay_within_the_bounds() -> None:
    model, _ = bundle.unpack(cases()["layer"]["bundle"], layer_template())
    sample = model[0].tiles[0]  # 4 x 3 crosspoints of converted devices
    torch.manual_seed(1)
    template = nn.Sequential(nn.Linear(5, 3), nn.Linear(3, 2))  # 5 inputs split 3 + 2 (max_input_size 4)
    with torch.no_grad():
        template[0].weight.mul_(10.0)  # beyond the bounds: clipped
    synthetic = bundle.with_sampled_devices(template, sample, seed=0)
    layers = dict(simulated_layers(synthetic))
    assert set(layers) == {"0", "1"} and [t.in_size for t in layers["0"].tiles] == [3, 2]
    keys = set()
    for layer in layers.values():
        for tile in layer.tiles:
            p, n = tile.out_size, tile.in_size
            assert torch.equal(tile.device_slow, sample.device_slow[:, :p, :n])
            assert torch.equal(tile.device_fast, sample.device_fast[:, :p, :n])
            reference = tile.device_slow[4]
            assert (tile.slow <= tile.device_slow[2] - reference).all()
            assert (tile.slow >= tile.device_slow[3] - reference).all()
            assert torch.equal(tile.fast, torch.zeros(p, n))
            keys.add(int(tile.key))
    assert len(keys) == 3
    assert torch.equal(layers["0"].tiles[1].slow, template[0].weight[:, 3:].clamp(
        sample.device_slow[3, :3, :2] - sample.device_slow[4, :3, :2],
        sample.device_slow[2, :3, :2] - sample.device_slow[4, :3, :2]))
    with pytest.raises(ValueError, match="larger than the 4x3 sample"):
        bundle.with_sampled_devices(nn.Sequential(nn.Linear(3, 5)), sample, seed=0)


def test_the_benchmark_runs_from_prepared_inputs_without_a_gpu(tmp_path) -> None:
    """prepare (with aihwkit) then benchmark (here on the CPU, C++ kernel): the tables and the epoch are written."""
    inputs, out = tmp_path / "inputs", tmp_path / "out"
    prepare = subprocess.run([sys.executable, str(REPO / "scripts" / "prepare_gpu_benchmark.py"), "--out", str(inputs),
                              "--models", "tiny"], capture_output=True, text=True, timeout=600)
    assert prepare.returncode == 0, prepare.stderr[-2000:]
    assert {p.name for p in inputs.iterdir()} == {"tiny.pt", "gpu_cases.pt"}
    run = subprocess.run([sys.executable, str(REPO / "scripts" / "benchmark_gpu.py"), "--device", "cpu", "--inputs",
                          str(inputs), "--out", str(out), "--models", "tiny", "--batches", "2", "--steps", "1",
                          "--epoch-model", "tiny", "--epoch-images", "20", "--no-tests"],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    steps = pd.read_csv(out / "gpu_benchmark.csv")
    assert steps[["model", "batch", "simulator"]].values.tolist() == [["tiny", 2, "digital"], ["tiny", 2, "fast"]]
    assert (steps["step_seconds"] > 0).all()
    report = json.loads((out / "gpu_benchmark.json").read_text())
    assert report["versions"]["torch"] == torch.__version__ and report["versions"]["triton"]
    assert report["epoch"]["train_images"] == 20 and report["epoch"]["epoch_seconds"] > 0
    assert report["inputs"]["tiny"]["kind"] == "converted"
    assert "| tiny | 2 | fast |" in run.stdout


def test_the_benchmark_names_missing_inputs_before_any_work(tmp_path) -> None:
    run = subprocess.run([sys.executable, str(REPO / "scripts" / "benchmark_gpu.py"), "--device", "cpu", "--inputs",
                          str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 1
    assert "missing inputs" in run.stderr and "prepare_gpu_benchmark.py" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1

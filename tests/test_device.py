"""compute.device: auto / cpu / cuda against what torch, Triton and aihwkit see (GPUs simulated where needed)."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import pytest
import torch

from analog_tl.steps.preflight import preflight
from analog_tl.training import device as device_module
from analog_tl.training.device import (
    DeviceError, aihwkit_cuda_compiled, devices_seen, float32_products, select_device,
)


@pytest.fixture
def gpu_machine(monkeypatch):
    """torch sees a GPU; aihwkit is the CPU build installed here (no CUDA simulator)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(device_module, "aihwkit_cuda_compiled", lambda: False)


@pytest.mark.parametrize("compiled", [0, 1])
def test_aihwkits_build_is_read_through_its_own_api(monkeypatch, compiled):
    """aihwkit answers with an int; the check and the report say True exactly when its CUDA simulator is built."""
    from aihwkit.simulator.rpu_base import cuda

    monkeypatch.setattr(cuda, "is_compiled", lambda: compiled)
    assert aihwkit_cuda_compiled() is bool(compiled)
    seen = devices_seen()
    assert seen["aihwkit_cuda_build"] is bool(compiled) and seen["torch"] == torch.__version__


def test_the_installed_aihwkit_is_the_cpu_build_that_setup_made():
    """scripts/setup.sh builds aihwkit for the CPU and records the build key in the environment."""
    marker = Path(sys.prefix) / ".aihwkit-build-key"
    if not marker.exists():
        pytest.skip(f"aihwkit was not installed by scripts/setup.sh here (no {marker})")
    assert "_cpu_build-" in marker.read_text() and aihwkit_cuda_compiled() is False


@pytest.mark.parametrize("trains", ["digital", "aihwkit", "fast"])
def test_cpu_is_always_cpu_and_unknown_settings_fail(trains):
    assert select_device("cpu", trains) == torch.device("cpu")
    with pytest.raises(ValueError, match="compute.device must be one of"):
        select_device("gpu", trains)
    with pytest.raises(ValueError, match="what trains must be one of"):
        select_device("cpu", "analog")


def test_cuda_without_a_visible_gpu_fails_and_names_the_likely_cause(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(DeviceError, match="torch sees no GPU.*--nv"):
        select_device("cuda", "digital")


def test_cuda_with_a_cpu_only_aihwkit_fails_for_aihwkit_runs_with_how_to_get_a_cuda_build(gpu_machine):
    assert select_device("cuda", "digital") == torch.device("cuda")
    with pytest.raises(DeviceError, match="aihwkit was built without CUDA.*USE_CUDA=ON.*aihwkit-gpu.*fast simulator"):
        select_device("cuda", "aihwkit")


def test_the_fast_simulator_uses_the_gpu_without_a_cuda_aihwkit(gpu_machine):
    assert select_device("cuda", "fast") == torch.device("cuda")
    assert select_device("auto", "fast") == torch.device("cuda")


def test_the_fast_simulator_on_cuda_needs_triton(gpu_machine, monkeypatch, caplog):
    monkeypatch.setattr(device_module, "triton_installed", lambda: False)
    with pytest.raises(DeviceError, match="Triton, which runs the fast simulator's GPU kernels, is not installed"):
        select_device("cuda", "fast")
    with caplog.at_level(logging.WARNING):
        assert select_device("auto", "fast") == torch.device("cpu")
    assert "Triton is not installed" in caplog.text


def test_auto_uses_the_gpu_for_digital_and_the_cpu_for_aihwkit_without_its_cuda_build(gpu_machine, caplog):
    assert select_device("auto", "digital") == torch.device("cuda")
    with caplog.at_level(logging.WARNING):
        assert select_device("auto", "aihwkit") == torch.device("cpu")
    assert "aihwkit has no CUDA build" in caplog.text


def test_auto_uses_cuda_for_aihwkit_with_its_cuda_build(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(device_module, "aihwkit_cuda_compiled", lambda: True)
    assert select_device("auto", "aihwkit") == torch.device("cuda")


@pytest.mark.parametrize("visible, allocated", [(None, False), ("", False), ("-1", False), ("0", True), ("0,1", True)])
def test_auto_fails_when_a_gpu_was_allocated_but_is_not_visible(monkeypatch, visible, allocated):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    if visible is None:
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    else:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    if allocated:
        with pytest.raises(DeviceError, match="GPU was allocated.*torch sees none.*--nv"):
            select_device("auto", "digital")
    else:
        assert select_device("auto", "digital") == torch.device("cpu")


def test_preflight_reports_and_writes_what_it_saw(tmp_path, monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    report = preflight("auto", tmp_path / "devices.json", simulators=["aihwkit", "fast"])
    assert json.loads((tmp_path / "devices.json").read_text()) == report
    assert report["selected"] == {"digital": "cpu", "aihwkit": "cpu", "fast": "cpu"}
    assert report["triton"] == __import__("triton").__version__


def test_preflight_on_a_gpu_machine_sends_only_aihwkit_without_its_cuda_build_to_the_cpu(tmp_path, gpu_machine):
    report = preflight("auto", tmp_path / "devices.json", simulators=["aihwkit", "fast"])
    assert report["selected"] == {"digital": "cuda", "aihwkit": "cpu", "fast": "cuda"}


def test_preflight_checks_only_the_simulators_the_runs_use(tmp_path, gpu_machine):
    report = preflight("cuda", tmp_path / "devices.json", simulators=["fast"])
    assert report["selected"] == {"digital": "cuda", "fast": "cuda"}
    with pytest.raises(DeviceError, match="aihwkit was built without CUDA"):
        preflight("cuda", tmp_path / "other.json", simulators=["aihwkit", "fast"])
    assert not (tmp_path / "other.json").exists()


def test_preflight_stops_before_writing_when_cuda_is_not_usable(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(DeviceError, match="torch sees no GPU"):
        preflight("cuda", tmp_path / "devices.json")
    assert not (tmp_path / "devices.json").exists()


def test_tf32_is_used_only_when_asked_and_torchs_flags_are_restored():
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    with float32_products(True):
        assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
    with float32_products(False):
        assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
    assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == saved

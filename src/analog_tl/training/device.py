"""Where training runs: the ``compute.device`` setting (auto, cpu, cuda) against what torch and aihwkit can do.

Digital models run on a GPU whenever torch sees one. Analog tiles run on a
GPU only when aihwkit was built with CUDA (``aihwkit.simulator.rpu_base.cuda.is_compiled()``);
a CPU-only aihwkit simulates on the CPU even when torch sees a GPU, so asking
for ``cuda`` with such a build is an error, never a silent CPU run.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import torch

from analog_tl.errors import AnalogTLError

log = logging.getLogger(__name__)

DEVICE_SETTINGS = ("auto", "cpu", "cuda")
CUDA_BUILD_HINT = (
    "build aihwkit with CUDA: use the project's container (containers/analog-tl.def), or build the source release "
    "with CMAKE_ARGS='-DUSE_CUDA=ON -DRPU_CUDA_ARCHITECTURES=80;90' pip install --no-build-isolation aihwkit-1.2.0.tar.gz, "
    "or install conda-forge's aihwkit-gpu"
)


class DeviceError(AnalogTLError, RuntimeError):
    """The requested compute device cannot be used."""


def aihwkit_cuda_compiled() -> bool:
    """Whether the installed aihwkit has its CUDA simulator (aihwkit's own check)."""
    from aihwkit.simulator.rpu_base import cuda

    return bool(cuda.is_compiled())


def devices_seen() -> dict[str, Any]:
    """What torch and aihwkit see: CUDA build, visible GPUs and their names (for logs, preflight and run records)."""
    visible = torch.cuda.is_available()
    report = {
        "torch": torch.__version__,
        "torch_cuda_build": torch.version.cuda,
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "torch_sees_gpu": visible,
        "gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if visible else [],
    }
    try:
        report["aihwkit_cuda_build"] = aihwkit_cuda_compiled()
    except ImportError as error:
        report["aihwkit_cuda_build"] = None
        report["aihwkit_import_error"] = str(error)
    return report


def gpu_allocated() -> bool:
    """Whether a scheduler or the user assigned GPUs to this process (CUDA_VISIBLE_DEVICES names some)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").strip()
    return visible not in ("", "-1", "NoDevFiles")


def _no_gpu_message(setting_name: str) -> str:
    seen = devices_seen()
    return (
        f"{setting_name} is 'cuda' but torch sees no GPU (torch CUDA build: {seen['torch_cuda_build']}, "
        f"CUDA_VISIBLE_DEVICES={seen['cuda_visible_devices']!r}); in Apptainer start the container with --nv, "
        "on SLURM request a GPU (profiles/slurm), or set compute.device: auto or cpu"
    )


def select_device(setting: str, analog: bool, setting_name: str = "compute.device") -> torch.device:
    """The torch device for a run: ``cpu``; ``cuda`` (or fail, saying why); ``auto`` = cuda if usable, else cpu.

    Raises:
        DeviceError: for ``cuda`` without a visible GPU, or for an analog run with a CPU-only aihwkit.
    """
    if setting not in DEVICE_SETTINGS:
        raise ValueError(f"{setting_name} must be one of {DEVICE_SETTINGS}, got {setting!r}")
    if setting == "cpu":
        return torch.device("cpu")
    gpu = torch.cuda.is_available()
    analog_gpu = not analog or aihwkit_cuda_compiled()
    if setting == "cuda":
        if not gpu:
            raise DeviceError(_no_gpu_message(setting_name))
        if not analog_gpu:
            raise DeviceError(
                f"{setting_name} is 'cuda' but the installed aihwkit was built without CUDA, so its analog tiles "
                f"would be simulated on the CPU; {CUDA_BUILD_HINT}; or set {setting_name}: auto to accept the CPU"
            )
        return torch.device("cuda")
    if gpu and analog_gpu:
        return torch.device("cuda")
    if not gpu and gpu_allocated():
        raise DeviceError(
            f"{setting_name} is 'auto' and a GPU was allocated to this job "
            f"(CUDA_VISIBLE_DEVICES={os.environ['CUDA_VISIBLE_DEVICES']!r}) but torch sees none; "
            "in Apptainer start the container with --nv (the profiles do), or set compute.device: cpu"
        )
    if gpu:
        log.warning("%s auto: torch sees a GPU but aihwkit has no CUDA build; analog training runs on the CPU", setting_name)
    return torch.device("cpu")

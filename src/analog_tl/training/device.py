"""Where training runs: the ``compute.device`` setting (auto, cpu, cuda) against what torch, Triton, aihwkit can do.

What trains decides what a GPU run needs (:data:`TRAINS`): digital models run
on a GPU whenever torch sees one; the project's fast simulator (``fast``)
whenever torch sees one and Triton is installed (it comes with torch's CUDA
wheels; no aihwkit CUDA build is needed); aihwkit's tiles (``aihwkit``) only
when aihwkit was built with CUDA (``aihwkit.simulator.rpu_base.cuda.is_compiled()``).
A CPU-only aihwkit simulates on the CPU even when torch sees a GPU, so asking
for ``cuda`` with such a build is an error, never a silent CPU run.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
from collections.abc import Iterator
from typing import Any

import torch

from analog_tl.errors import DeviceError
from analog_tl.vocabulary import AIHWKIT, FAST, SIMULATORS

log = logging.getLogger(__name__)

DEVICE_SETTINGS = ("auto", "cpu", "cuda")
TRAINS = ("digital", *SIMULATORS)  # a digital model, aihwkit's analog tiles, the fast simulator's tiles
CUDA_BUILD_HINT = (
    "build aihwkit with CUDA: use the project's container (containers/analog-tl.def), or build the source release "
    "with CMAKE_ARGS='-DUSE_CUDA=ON -DRPU_CUDA_ARCHITECTURES=80;90' pip install --no-build-isolation aihwkit-1.2.0.tar.gz, "
    "or install conda-forge's aihwkit-gpu"
)


def aihwkit_cuda_compiled() -> bool:
    """Whether the installed aihwkit has its CUDA simulator (aihwkit's own check)."""
    from aihwkit.simulator.rpu_base import cuda

    return bool(cuda.is_compiled())


def triton_installed() -> bool:
    """Whether Triton (the fast simulator's GPU kernels) can be imported."""
    return importlib.util.find_spec("triton") is not None


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
    report["triton"] = _triton_version()
    try:
        report["aihwkit_cuda_build"] = aihwkit_cuda_compiled()
    except ImportError as error:
        report["aihwkit_cuda_build"] = None
        report["aihwkit_import_error"] = str(error)
    return report


def _triton_version() -> str | None:
    if not triton_installed():
        return None
    import triton

    return triton.__version__


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


def _gpu_blocker(trains: str, setting_name: str) -> str | None:
    """Why ``trains`` cannot use the GPU torch sees (None if it can)."""
    if trains == AIHWKIT and not aihwkit_cuda_compiled():
        return (f"{setting_name} is 'cuda' but the installed aihwkit was built without CUDA, so its analog tiles "
                f"would be simulated on the CPU; {CUDA_BUILD_HINT}; or use the fast simulator (analog.simulator: "
                f"fast), which needs no aihwkit CUDA build; or set {setting_name}: auto to accept the CPU")
    if trains == FAST and not triton_installed():
        return (f"{setting_name} is 'cuda' but Triton, which runs the fast simulator's GPU kernels, is not installed "
                f"(torch's CUDA wheels bring it); or set {setting_name}: auto to accept the CPU")
    return None


def select_device(setting: str, trains: str, setting_name: str = "compute.device") -> torch.device:
    """The torch device for a run of ``trains`` (:data:`TRAINS`): ``cpu``; ``cuda`` (or fail, saying why); ``auto``.

    ``auto`` is cuda if torch sees a GPU and ``trains`` can use it, else cpu.

    Raises:
        DeviceError: for ``cuda`` without a visible GPU or with what ``trains`` lacks (module docstring), and
            for ``auto`` when a GPU was allocated but torch sees none.
    """
    if setting not in DEVICE_SETTINGS:
        raise ValueError(f"{setting_name} must be one of {DEVICE_SETTINGS}, got {setting!r}")
    if trains not in TRAINS:
        raise ValueError(f"what trains must be one of {TRAINS}, got {trains!r}")
    if setting == "cpu":
        return torch.device("cpu")
    gpu = torch.cuda.is_available()
    blocker = _gpu_blocker(trains, setting_name) if gpu else None
    if setting == "cuda":
        if not gpu:
            raise DeviceError(_no_gpu_message(setting_name))
        if blocker:
            raise DeviceError(blocker)
        return torch.device("cuda")
    if gpu and not blocker:
        return torch.device("cuda")
    if not gpu and gpu_allocated():
        raise DeviceError(
            f"{setting_name} is 'auto' and a GPU was allocated to this job "
            f"(CUDA_VISIBLE_DEVICES={os.environ['CUDA_VISIBLE_DEVICES']!r}) but torch sees none; "
            "in Apptainer start the container with --nv (the profiles do), or set compute.device: cpu"
        )
    if gpu:
        lacks = "aihwkit has no CUDA build" if trains == AIHWKIT else "Triton is not installed"
        log.warning("%s auto: torch sees a GPU but %s; %s training runs on the CPU", setting_name, lacks, trains)
    return torch.device("cpu")


@contextlib.contextmanager
def float32_products(tf32: bool) -> Iterator[None]:
    """GPU float32 matrix products and convolutions in TF32 only if ``tf32`` (torch's flags, restored after)."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = tf32
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved

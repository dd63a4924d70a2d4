"""Which kernels compute a tile's operations: the compiled C++ kernel on the CPU, the Triton kernels on CUDA.

Both compute the same float32 results from the same random streams
(``csrc/cttv2.cpp`` and :mod:`.gpu_kernels`). The choice follows the device of
the tile's state; ``ANALOG_TL_SIMULATOR_KERNEL=triton`` runs the Triton kernels
on CPU tensors too, which works only in Triton's interpreter
(``TRITON_INTERPRET=1``: how the test suite checks them without a GPU).

On the CPU the update has two implementations with the same results bit for
bit: the vector path (AVX2, where the CPU has it) and the scalar reference.
``ANALOG_TL_UPDATE_PATH=reference`` runs the reference (for benchmarks and
checks); ``auto`` (the default) the fastest the CPU has.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from types import ModuleType
from typing import Any

import torch

from analog_tl.errors import KernelChoiceError

KERNEL_ENV = "ANALOG_TL_SIMULATOR_KERNEL"
KERNELS = ("auto", "cpp", "triton")
UPDATE_PATH_ENV = "ANALOG_TL_UPDATE_PATH"
UPDATE_PATHS = ("auto", "reference")


def triton_interpreted() -> bool:
    """Whether Triton runs kernels in its interpreter (``TRITON_INTERPRET``, read as Triton reads it)."""
    return os.environ.get("TRITON_INTERPRET", "0").strip().lower() in ("1", "true", "yes", "on", "y")


def kernel_name(device: torch.device) -> str:
    """``cpp`` or ``triton``: the kernel for tensors on ``device`` (see the module docstring)."""
    choice = os.environ.get(KERNEL_ENV, "auto")
    if choice not in KERNELS:
        raise KernelChoiceError(f"{KERNEL_ENV}={choice!r}: use one of {KERNELS}")
    if device.type == "cuda":
        if choice == "cpp":
            raise KernelChoiceError(f"{KERNEL_ENV}=cpp: the C++ kernel computes on CPU tensors, the tile is on {device}")
        return "triton"
    if device.type != "cpu":
        raise KernelChoiceError(f"the simulator computes on cpu or cuda tensors, not {device}")
    if choice == "triton":
        if not triton_interpreted():
            raise KernelChoiceError(f"{KERNEL_ENV}=triton on CPU tensors needs Triton's interpreter (TRITON_INTERPRET=1)")
        return "triton"
    return "cpp"


def ops_for(device: torch.device) -> ModuleType:
    """The module with ``cttv2_update``, ``io_prepare``, ``io_finish`` and ``philox_draws`` for ``device``."""
    if kernel_name(device) == "cpp":
        from analog_tl.simulator import kernel

        return kernel.load()
    try:
        from analog_tl.simulator import gpu_ops
    except ImportError as error:
        raise KernelChoiceError(f"the simulator's GPU kernels need Triton (it comes with torch's CUDA wheels): "
                                f"{error}") from error
    return gpu_ops


def _update_path() -> str:
    choice = os.environ.get(UPDATE_PATH_ENV, "auto")
    if choice not in UPDATE_PATHS:
        raise KernelChoiceError(f"{UPDATE_PATH_ENV}={choice!r}: use one of {UPDATE_PATHS}")
    return choice


def update_for(device: torch.device) -> Callable[..., torch.Tensor]:
    """The c-TTv2 update for tensors on ``device``: ``cttv2_update`` of :func:`ops_for`, or the C++ reference."""
    module = ops_for(device)
    if kernel_name(device) == "cpp" and _update_path() == "reference":
        return module.cttv2_update_reference
    return module.cttv2_update


def agad_update_for(device: torch.device) -> Callable[..., torch.Tensor]:
    """The AGAD update for tensors on ``device``: ``update_for``'s arguments, then AGAD's four state tensors."""
    module = ops_for(device)
    if kernel_name(device) == "triton":
        return module.agad_update
    path = 1 if _update_path() == "reference" else 0
    return functools.partial(_cpp_agad, module.agad_update, path)


def _cpp_agad(update: Callable[..., torch.Tensor], path: int, *args: Any) -> torch.Tensor:
    return update(*args, path)


def describe(device: torch.device) -> dict[str, str]:
    """What a run record says about the kernels: which ones computed (and the CPU update's path), Triton's version."""
    name = kernel_name(device)
    record = {"kernel": name}
    if name == "cpp":
        record["update_path"] = "reference" if _update_path() == "reference" else ops_for(device).update_isa()
    if name == "triton":
        import triton

        record["triton"] = triton.__version__
        record["interpreted"] = str(triton_interpreted())
    return record

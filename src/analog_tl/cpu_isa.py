"""The CPU's vector instruction sets, and pinning every numerical library to one level (``compute.cpu_isa``).

Several layers pick their code path by CPU when they initialise, so one
config gives bit-identical CPU results on one machine but not across
machines: torch's vectorised ATen kernels (reductions, softmax, LayerNorm),
MKL (torch's BLAS: the linear layers and attention products), oneDNN
(torch's convolutions and GELU), OpenBLAS (aihwkit's CPU tiles, numpy) and
numpy's SIMD loops. Level ``avx2`` sets each library's own switch to its
AVX2 code (what every x86-64 CPU since about 2013 has); ``native`` lets
each pick. The switches are environment variables read once when a library
initialises: :func:`pin` must run before torch, numpy or aihwkit is
imported in the process (the workflow's steps do it first thing, in
:func:`analog_tl.steps.context.snakemake_step`). This module imports
neither at import time.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import os
import platform
import sys
import tempfile
from collections.abc import Iterator, Mapping, MutableMapping
from pathlib import Path
from typing import Any

from analog_tl.errors import ConfigError, CpuIsaError

LEVELS = ("avx2", "native")  # compute.cpu_isa (workflow/schemas/config.schema.yaml lists the same)
DEFAULT_LEVEL = "avx2"
SETTING = "compute.cpu_isa"
PIN_MARKER = "ANALOG_TL_CPU_ISA"  # the level this process was pinned to by pin(); absent: not pinned

# Level avx2: each library's own switch to its AVX2 code path. Measured on an AVX-512 machine: the ATen, MKL and oneDNN
# switches each change three SGD steps of the tiny Swin, OPENBLAS_CORETYPE an SGEMM, numpy's its sin/exp/log results.
AVX2_ENVIRONMENT = {
    "ATEN_CPU_CAPABILITY": "avx2",  # torch ATen kernels: default | avx2 | avx512
    "MKL_CBWR": "AVX2",  # MKL conditional numerical reproducibility, AVX2 branch (Intel: same results on its AVX2 CPUs)
    "MKL_ENABLE_INSTRUCTIONS": "AVX2",  # MKL's dispatcher: no instructions above AVX2
    "MKL_DYNAMIC": "FALSE",  # MKL CNR condition: the thread count asked for, not one MKL picks per call
    "ONEDNN_MAX_CPU_ISA": "AVX2",  # oneDNN (convolutions, GELU): JIT code for at most AVX2
    "OPENBLAS_CORETYPE": "Haswell",  # OpenBLAS (aihwkit, numpy): its AVX2+FMA kernels and blocking, whatever the CPU
    "NPY_ENABLE_CPU_FEATURES": "X86_V3",  # numpy >= 2.4 SIMD loops: the x86-64-v3 (AVX2) level only
}
PINNED_VARIABLES = tuple(AVX2_ENVIRONMENT)
# /proc/cpuinfo flags of x86-64-v3 (AVX2, FMA, BMI1/2, F16C, LZCNT, MOVBE): what every pinned library's AVX2 code uses.
AVX2_FLAGS = ("avx", "avx2", "fma", "bmi1", "bmi2", "f16c", "abm", "movbe")
AVX512_FLAGS = ("avx512f", "avx512bw", "avx512vl", "avx512dq")
REPORTED_FLAGS = AVX2_FLAGS + AVX512_FLAGS + ("avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile")
EXPECTED_ATEN = {"avx2": "AVX2"}  # torch.backends.cpu.get_cpu_capability() under each pinned level
INTEL_VENDOR = "GenuineIntel"  # /proc/cpuinfo vendor_id of the CPUs MKL's CNR branches other than COMPATIBLE exist on


def expected_mkl_branch(vendor: str) -> str:
    """The CNR branch MKL reports under the avx2 pin on a CPU of ``vendor`` (``vendor_id`` in /proc/cpuinfo).

    MKL honours ``MKL_CBWR=AVX2`` on Intel CPUs only; on others (measured on an
    AMD EPYC, oneMKL 2024.0) it reports ``AUTO`` and runs its own dispatch,
    capped at AVX2 by ``MKL_ENABLE_INSTRUCTIONS``, with the same bits as
    unpinned MKL there. Only ``COMPATIBLE`` is vendor-independent, at 2.5
    times the GEMM time (same measurement), so the pin does not use it.
    """
    return "AVX2" if vendor == INTEL_VENDOR else "AUTO"


def _cpuinfo_fields(cpuinfo: Path) -> dict[str, str]:
    """``key: value`` lines of the first processor in ``cpuinfo`` (empty where there is none, e.g. not Linux)."""
    fields: dict[str, str] = {}
    try:
        text = cpuinfo.read_text()
    except OSError:
        return fields
    for line in text.split("\n\n")[0].splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip(), value.strip())
    return fields


def cpu_capability(cpuinfo: Path = Path("/proc/cpuinfo")) -> dict[str, Any]:
    """The CPU's vendor, model, vector flags (of :data:`REPORTED_FLAGS`) and level: avx512, avx2 or below avx2."""
    fields = _cpuinfo_fields(cpuinfo)
    flags = set(fields.get("flags", "").split())
    level = "below avx2"
    if flags >= set(AVX2_FLAGS):
        level = "avx512" if flags >= set(AVX512_FLAGS) else "avx2"
    return {
        "machine": platform.machine(),
        "vendor": fields.get("vendor_id", "unknown"),
        "model": fields.get("model name", "unknown"),
        "flags": [f for f in REPORTED_FLAGS if f in flags],
        "level": level,
    }


def check_level(level: str) -> None:
    """ConfigError unless ``level`` is one of :data:`LEVELS`."""
    if level not in LEVELS:
        raise ConfigError(f"{SETTING} must be one of {list(LEVELS)}, got {level!r}")


def configured_level(config: Mapping[str, Any]) -> str:
    """The level a workflow config asks for (:data:`DEFAULT_LEVEL` where the config has no compute section)."""
    return config.get("compute", {}).get("cpu_isa", DEFAULT_LEVEL)


def pin_environment(level: str) -> dict[str, str]:
    """The environment variables that pin every library to ``level`` (none for ``native``)."""
    check_level(level)
    return dict(AVX2_ENVIRONMENT) if level == "avx2" else {}


def check_cpu(level: str, cpuinfo: Path = Path("/proc/cpuinfo")) -> None:
    """CpuIsaError if this CPU lacks what ``level`` needs (``native`` runs anywhere)."""
    if level == "native":
        return
    capability = cpu_capability(cpuinfo)
    missing = [f for f in AVX2_FLAGS if f not in capability["flags"]]
    if missing:
        raise CpuIsaError(
            f"{SETTING}: {level} needs an x86-64 CPU with AVX2 (x86-64-v3); this one ({capability['machine']}, "
            f"{capability['model']}) lacks {missing}. Set {SETTING}: native to run here; its CPU results will then "
            "not be bit-identical to runs pinned to avx2 on other machines"
        )


def pin(level: str, environ: MutableMapping[str, str] = os.environ, cpuinfo: Path = Path("/proc/cpuinfo")) -> None:
    """Pin every library to ``level`` in ``environ``: call before torch, numpy or aihwkit is imported.

    ``avx2`` sets :data:`AVX2_ENVIRONMENT` (CpuIsaError on a CPU without
    AVX2: no silent fallback); ``native`` removes those variables, so each
    library picks by CPU. Either way :data:`PIN_MARKER` records the level.
    """
    check_level(level)
    check_cpu(level, cpuinfo)
    for name in PINNED_VARIABLES:
        environ.pop(name, None)
    environ.update(pin_environment(level))
    environ[PIN_MARKER] = level


def check_pinned(level: str) -> None:
    """CpuIsaError if torch or numpy in this process did not take ``level`` (they were initialised before :func:`pin`).

    numpy reads its pin when imported (so does ``import torch``, which imports
    numpy); torch's ATen at its first operation.
    """
    if level == "native":
        return
    reported = {"torch ATen": aten_capability(), "numpy": numpy_simd()}
    expected = {"torch ATen": EXPECTED_ATEN[level], "numpy": [AVX2_ENVIRONMENT["NPY_ENABLE_CPU_FEATURES"]]}
    wrong = {name: value for name, value in reported.items() if value != expected[name]}
    if wrong:
        raise CpuIsaError(
            f"{SETTING}: {level} did not reach {wrong} (expected {expected}): the library was loaded or used before "
            "the pin was set; pin first thing in the process (analog_tl.cpu_isa.pin)"
        )


def aten_capability() -> str:
    """The vectorised code torch's ATen kernels run: DEFAULT, AVX2, AVX512 (imports torch)."""
    import torch

    return torch.backends.cpu.get_cpu_capability()


def numpy_simd() -> list[str]:
    """numpy's dispatched SIMD targets enabled in this process (imports numpy)."""
    umath = importlib.import_module("numpy._core._multiarray_umath")
    return [name for name in umath.__cpu_dispatch__ if umath.__cpu_features__.get(name)]


def openblas_cores() -> dict[str, str]:
    """The kernel set of each OpenBLAS loaded in this process (aihwkit's, numpy's), by file name; none loaded: {}."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return {}
    paths = sorted({line.split()[-1] for line in maps.splitlines() if "openblas" in line.rsplit("/", 1)[-1]})
    cores = {}
    for path in paths:
        library = ctypes.CDLL(path)  # already loaded: the same handle, nothing initialised again
        for symbol in ("openblas_get_corename", "scipy_openblas_get_corename64_", "openblas_get_corename64_"):
            if hasattr(library, symbol):
                getter = getattr(library, symbol)
                getter.restype = ctypes.c_char_p
                cores[Path(path).name] = getter().decode()
                break
    return cores


@contextlib.contextmanager
def _captured_stdout() -> Iterator[list[str]]:
    """Collect what C code writes to file descriptor 1 in the block (the lines, once the block ends)."""
    lines: list[str] = []
    if sys.stdout is not None:  # what Python buffered belongs before the block
        sys.stdout.flush()
    libc = ctypes.CDLL(None)
    with tempfile.TemporaryFile() as capture:
        saved = os.dup(1)
        os.dup2(capture.fileno(), 1)
        try:
            yield lines
        finally:
            libc.fflush(None)
            os.dup2(saved, 1)
            os.close(saved)
            capture.seek(0)
            lines.extend(capture.read().decode(errors="replace").splitlines())


def _verbose_field(lines: list[str], marker: str, offset: int) -> str | None:
    """The comma-separated field ``offset`` places after ``marker`` in the first line that has it."""
    for line in lines:
        fields = line.split(",")
        if marker in fields and fields.index(marker) + offset < len(fields):
            return fields[fields.index(marker) + offset]
    return None


def _mkl_cnr(lines: list[str]) -> str | None:
    """MKL's reproducibility branch (``CNR:...``) in its verbose line of a GEMM call."""
    words = [word for line in lines if line.startswith("MKL_VERBOSE") for word in line.split()]
    return next((word.removeprefix("CNR:") for word in words if word.startswith("CNR:")), None)


def _verbose_probe() -> list[str]:
    """oneDNN's and MKL's verbose lines for a tiny convolution, GELU and matrix product (none without a stdout)."""
    import torch

    backends = torch.backends
    try:
        with _captured_stdout() as lines, contextlib.ExitStack() as verbose:
            if backends.mkldnn.is_available():
                verbose.enter_context(backends.mkldnn.verbose(backends.mkldnn.VERBOSE_ON))
            if backends.mkl.is_available():
                verbose.enter_context(backends.mkl.verbose(backends.mkl.VERBOSE_ON))
            torch.nn.functional.gelu(torch.nn.functional.conv2d(torch.ones(1, 3, 8, 8), torch.ones(8, 3, 4, 4)))
            torch.ones(64, 64) @ torch.ones(64, 64)
    except OSError:  # file descriptor 1 closed: nothing to read the libraries' choices from
        return []
    return lines


def onednn_and_mkl() -> dict[str, str | None]:
    """The code oneDNN and MKL run, read from their verbose output (torch offers no other way to ask them).

    oneDNN's implementation names carry the ISA (``jit:avx2``,
    ``jit:avx512_core``); MKL's verbose line carries its CNR branch (``OFF``
    unless pinned). None where the torch build lacks the library.
    """
    lines = _verbose_probe()
    return {
        "onednn_convolution": _verbose_field(lines, "convolution", 1),
        "onednn_gelu": _verbose_field(lines, "eltwise", 1),
        "mkl_cnr": _mkl_cnr(lines),
    }


def library_report() -> dict[str, Any]:
    """What each library in this process runs: torch ATen, oneDNN, MKL, OpenBLAS, numpy (imports torch, numpy)."""
    return {"aten": aten_capability(), **onednn_and_mkl(), "openblas": openblas_cores(), "numpy": numpy_simd()}


def cpu_record() -> dict[str, Any]:
    """``run.json``'s ``cpu_isa``: the CPU's capability, the pin asked for, the variables set, each library's choice."""
    return {
        "cpu": cpu_capability(),
        "pin": os.environ.get(PIN_MARKER),  # None: the library was called directly, not by a workflow step
        "environment": {name: os.environ.get(name) for name in PINNED_VARIABLES},
        "reported": library_report(),
    }

"""Building and loading the compiled c-TTv2 kernel (``csrc/cttv2.cpp``).

The kernel is compiled once with torch's C++ extension mechanism into a cache
folder named by :func:`build_key`: a hash of the source's content, the
compiler flags, the compiler's version, torch's version and the Python version, so that a
change to any of them builds a new binary and an old binary is never loaded
against a new torch. The source is copied into that folder and compiled there,
so the binary does not depend on where the checkout lives: two checkouts of one
source share a build, and a build made elsewhere (the container image's) is
found by its key. The cache root is ``$ANALOG_TL_CACHE/kernels``
(default ``${XDG_CACHE_HOME:-~/.cache}/analog-tl/kernels``, as ``scripts/setup.sh``);
``$ANALOG_TL_KERNELS`` lists further, possibly read-only, folders of prebuilt
kernels that are searched first. ``python -m analog_tl.simulator.kernel``
builds it (the set-up script does); it needs a C++ compiler and ninja, no network.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import importlib.util
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import torch

from analog_tl.errors import KernelBuildError
from analog_tl.io import atomic_path

log = logging.getLogger(__name__)

SOURCE = Path(__file__).resolve().parent / "csrc" / "cttv2.cpp"
# -ffp-contract=off: no fused multiply-add, so float32 results match aihwkit's expression by expression
CFLAGS = ("-O3", "-std=c++20", "-fopenmp", "-ffp-contract=off", "-fno-fast-math", "-fvisibility=hidden")
LDFLAGS = ("-fopenmp",)
NORMAL_TABLE_SIZE = 2**16


def _compiler_version() -> str:
    compiler = os.environ.get("CXX", "c++")
    try:
        return subprocess.run([compiler, "--version"], capture_output=True, text=True, check=True).stdout.splitlines()[0]
    except (OSError, subprocess.CalledProcessError, IndexError) as error:
        raise KernelBuildError(f"no working C++ compiler {compiler!r} to build the c-TTv2 kernel: {error}") from error


def build_key() -> str:
    """Hash of everything the binary and its build command depend on (16 hex digits).

    Source content, flags, compiler, torch's version and install folder (its
    headers are on the command line: another environment builds its own), Python.
    Not the source's location: the source is compiled from a copy in the build folder.
    """
    parts = [SOURCE.read_bytes(), " ".join(CFLAGS + LDFLAGS).encode(), _compiler_version().encode(),
             torch.__version__.encode(), str(Path(torch.__file__).resolve().parent).encode(), sys.version.encode()]
    digest = hashlib.sha256()
    for part in parts:
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()[:16]


def cache_root() -> Path:
    """Where compiled kernels live."""
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "analog-tl"
    return Path(os.environ.get("ANALOG_TL_CACHE", default)) / "kernels"


def _ninja_on_path() -> None:
    """torch runs ``ninja`` from PATH: add this interpreter's bin folder (the venv's pinned ninja) if it is not there."""
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = os.pathsep.join([bin_dir, os.environ.get("PATH", "")])


def prebuilt_roots() -> list[Path]:
    """Folders of prebuilt kernels from ``$ANALOG_TL_KERNELS`` (``os.pathsep``-separated), searched before the cache."""
    return [Path(p) for p in os.environ.get("ANALOG_TL_KERNELS", "").split(os.pathsep) if p]


def _import_binary(name: str, binary: Path) -> ModuleType:
    """Import a compiled extension module from ``binary`` (no build step, no lock: works on read-only folders)."""
    spec = importlib.util.spec_from_file_location(name, binary)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _build(name: str, folder: Path) -> ModuleType:
    """Compile the source, copied into ``folder``, there (torch's extension builder; it locks the folder)."""
    from torch.utils import cpp_extension

    _ninja_on_path()
    folder.mkdir(parents=True, exist_ok=True)
    source = folder / SOURCE.name
    if not source.exists() or source.read_bytes() != SOURCE.read_bytes():
        with atomic_path(source) as tmp:
            shutil.copyfile(SOURCE, tmp)
    log.info("compiling the c-TTv2 kernel into %s (once; about a minute)", folder)
    try:
        return cpp_extension.load(
            name=name, sources=[str(source)], extra_cflags=list(CFLAGS), extra_ldflags=list(LDFLAGS),
            build_directory=str(folder), verbose=False,
        )
    except (RuntimeError, OSError, subprocess.CalledProcessError) as error:
        raise KernelBuildError(f"building the c-TTv2 kernel in {folder} failed: {error}") from error


def _after_any_build(folder: Path) -> None:
    """Wait until no process is building in ``folder`` (torch's builder holds an OS lock on ``folder/lock``)."""
    lock = folder / "lock"
    if not lock.exists() or not os.access(lock, os.W_OK):
        return  # never built here, or a read-only (prebuilt) folder where nothing builds
    with open(lock, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_SH)  # blocks while a build holds the exclusive lock
        fcntl.flock(handle, fcntl.LOCK_UN)


@functools.lru_cache(maxsize=1)
def load() -> ModuleType:
    """The compiled kernel module: a prebuilt or cached binary of this key, else built into the cache first."""
    key = build_key()
    name = f"analog_tl_cttv2_{key}"
    for root in [*prebuilt_roots(), cache_root()]:
        folder = root / f"cttv2-{key}"
        _after_any_build(folder)
        if (folder / f"{name}.so").is_file():
            module = _import_binary(name, folder / f"{name}.so")
            break
    else:
        module = _build(name, cache_root() / f"cttv2-{key}")
    module.set_normal_table(normal_table())
    return module


def normal_table() -> torch.Tensor:
    """The kernel's 2^16 standard normals: quantiles at (k + 0.5) / 2^16, rescaled to SD 1 (float32).

    Symmetric, so the mean is 0 exactly; the tails end at 4.3 SD. A Philox word
    indexes it 16 bits at a time.
    """
    levels = (torch.arange(NORMAL_TABLE_SIZE, dtype=torch.float64) + 0.5) / NORMAL_TABLE_SIZE
    table = torch.special.ndtri(levels)
    return (table / table.pow(2).mean().sqrt()).to(torch.float32)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    module = load()
    print(f"c-TTv2 kernel ready: {module.__file__}")

"""The fast simulator's kernel cache: keyed by content (not location), prebuilt read-only binaries found by key."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from analog_tl.simulator import kernel


def test_the_key_depends_on_the_source_content_not_its_location(tmp_path, monkeypatch):
    key = kernel.build_key()
    moved = tmp_path / "elsewhere" / "cttv2.cpp"
    moved.parent.mkdir()
    shutil.copyfile(kernel.SOURCE, moved)
    monkeypatch.setattr(kernel, "SOURCE", moved)
    assert kernel.build_key() == key  # another checkout of the same source shares the build
    moved.write_text(moved.read_text() + "\n// changed\n")
    assert kernel.build_key() != key


def test_a_prebuilt_kernel_loads_from_a_read_only_folder_without_building(tmp_path):
    """What the container image relies on: its kernels are read-only, found through ANALOG_TL_KERNELS."""
    module = kernel.load()  # built by the set-up; the test copies its binary
    folder = Path(module.__file__).parent
    prebuilt = tmp_path / "image" / "kernels" / folder.name
    prebuilt.mkdir(parents=True)
    shutil.copy2(module.__file__, prebuilt / Path(module.__file__).name)
    for path in (prebuilt, prebuilt.parent):
        path.chmod(0o555)
    empty_cache = tmp_path / "cache"
    code = (
        "import torch; from analog_tl.simulator import kernel; m = kernel.load(); print(m.__file__)"
    )
    env = {**os.environ, "ANALOG_TL_KERNELS": str(prebuilt.parent), "ANALOG_TL_CACHE": str(empty_cache)}
    try:
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    finally:
        for path in (prebuilt.parent, prebuilt):
            path.chmod(0o755)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.splitlines()[0] == str(prebuilt / Path(module.__file__).name)
    assert not empty_cache.exists()  # nothing built, nothing written

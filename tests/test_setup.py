"""scripts/setup.sh: the aihwkit wheel cache key and the system-package check."""

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _bash(script: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


def _key(requirements: Path) -> str:
    result = _bash("source scripts/setup.sh && aihwkit_key", {"ANALOG_TL_REQUIREMENTS": str(requirements)})
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_wheel_cache_key_names_aihwkit_torch_and_python_and_changes_with_torch(tmp_path):
    pins = (REPO / "envs" / "requirements.txt").read_text()
    assert "torch==2.14.1\n" in pins
    key = _key(REPO / "envs" / "requirements.txt")
    assert key.startswith("aihwkit-1.2.0_torch-2.14.1_cp311_")
    other = tmp_path / "requirements.txt"
    other.write_text(pins.replace("torch==2.14.1", "torch==2.15.0"))
    assert _key(other) != key and "torch-2.15.0" in _key(other)


def test_missing_system_packages_stop_a_non_root_setup_with_their_names(tmp_path):
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "id").write_text("#!/bin/sh\necho 1000\n")  # not root
    (fake_bin / "dpkg-query").write_text("#!/bin/sh\necho 'deinstall ok config-files'\n")  # nothing installed
    for tool in fake_bin.iterdir():
        tool.chmod(0o755)
    venv = tmp_path / "venv"
    result = _bash("bash scripts/setup.sh", {"PATH": f"{fake_bin}:{os.environ['PATH']}", "ANALOG_TL_VENV": str(venv)})
    assert result.returncode == 1
    assert "missing system packages: g++ libopenblas-dev" in result.stderr
    assert not venv.exists()  # stopped before doing anything

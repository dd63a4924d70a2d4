"""scripts/setup.sh: the aihwkit wheel cache key, the system-package check, the reuse or rebuild of an
existing venv (its Python and its pins), and the requirements file's header."""

import ast
import os
import re
import subprocess
import tomllib
from pathlib import Path

import pytest

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


# --- an existing venv: reused, rebuilt or refused ------------------------------------------------

def _setup(function: str, venv: Path, **env: str) -> subprocess.CompletedProcess:
    """Source the script and run one of its functions on the venv `venv` (nothing is pip-installed)."""
    return _bash(f"source scripts/setup.sh && {function}",
                 {"ANALOG_TL_VENV": str(venv), "PYTHON": "python3.11", **env})


def _state(venv: Path, **env: str) -> str:
    result = _setup("venv_state", venv, **env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def _real_venv(venv: Path) -> Path:
    """A real Python 3.11 venv whose pins marker matches the present requirements files."""
    subprocess.run(["python3.11", "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    result = _setup("record_pins", venv)
    assert result.returncode == 0, result.stderr
    return venv


def _pyvenv_version(venv: Path) -> str:
    return re.search(r"^version\s*=\s*(\S+)", (venv / "pyvenv.cfg").read_text(), re.M).group(1)


def test_absent_or_empty_venv_folder_is_created(tmp_path):
    assert _state(tmp_path / "none") == "absent"
    (tmp_path / "empty").mkdir()
    assert _state(tmp_path / "empty") == "absent"


def test_up_to_date_venv_is_kept_as_it_is(tmp_path):
    venv = _real_venv(tmp_path / "venv")
    (venv / "sentinel").write_text("kept")
    assert _state(venv) == "ok"
    result = _setup("ensure_venv", venv)
    assert result.returncode == 0, result.stderr
    assert f"reusing {venv} (Python 3.11, installed from the present pins)" in result.stderr
    assert "rebuilding" not in result.stderr and "creating" not in result.stderr
    assert (venv / "sentinel").read_text() == "kept"


def test_venv_made_with_another_python_is_rebuilt_with_a_message(tmp_path):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text("home = /usr/local/bin\ninclude-system-site-packages = false\n"
                                     "version = 3.12.1\n")
    (venv / "bin" / "python").write_text("#!/bin/sh\necho 3.12\n")
    (venv / "bin" / "python").chmod(0o755)
    stale = venv / "lib" / "python3.12" / "site-packages" / "stale.py"
    stale.parent.mkdir(parents=True)
    stale.write_text("")
    assert _state(venv) == "other-python"
    result = _setup("ensure_venv", venv)
    assert result.returncode == 0, result.stderr
    assert f"[setup] {venv} was made with Python 3.12, not 3.11: rebuilding it" in result.stderr
    assert not stale.exists()
    assert _pyvenv_version(venv).startswith("3.11.")
    version = subprocess.run([str(venv / "bin" / "python"), "-c", "import sys; print(sys.version_info[:2])"],
                             capture_output=True, text=True, check=True).stdout
    assert version.strip() == "(3, 11)"
    assert _state(venv) == "other-pins"  # a new venv holds no pins until main() has installed them all


def test_venv_from_other_pins_is_detected_and_rebuilt_from_scratch(tmp_path):
    venv = _real_venv(tmp_path / "venv")
    marker = venv / ".requirements-sha256"
    lines = marker.read_text().splitlines()
    assert [line.split()[1] for line in lines] == ["envs/requirements.txt", "envs/requirements-build.txt"]

    # envs/requirements.txt changed since the venv was installed
    marker.write_text("0" * 64 + "  envs/requirements.txt\n" + lines[1] + "\n")
    assert _state(venv) == "other-pins"
    difference = _setup("pins_difference", venv)
    assert difference.stdout.strip() == "was installed from other pins (envs/requirements.txt changed)"

    # no marker at all (an older setup.sh, or an interrupted set-up)
    marker.unlink()
    assert _state(venv) == "other-pins"
    assert "has no record of the pins" in _setup("pins_difference", venv).stdout

    # other pins than those recorded: the venv is emptied and made again, so no stale package stays
    _setup("record_pins", venv)
    pins = tmp_path / "requirements.txt"
    pins.write_text((REPO / "envs" / "requirements.txt").read_text() + "six==1.17.0\n")
    stale = next((venv / "lib").glob("python3.11/site-packages")) / "stale_package.py"
    stale.write_text("")
    assert _state(venv, ANALOG_TL_REQUIREMENTS=str(pins)) == "other-pins"
    result = _setup("ensure_venv", venv, ANALOG_TL_REQUIREMENTS=str(pins))
    assert result.returncode == 0, result.stderr
    assert f"[setup] {venv} was installed from other pins ({pins} changed): rebuilding it from scratch" in result.stderr
    assert not stale.exists() and not marker.exists()
    assert _pyvenv_version(venv).startswith("3.11.")


@pytest.mark.parametrize("kind", ["folder", "file", "pyvenv.cfg without home"])
def test_folder_that_is_not_a_venv_is_refused_and_left_untouched(tmp_path, kind):
    venv = tmp_path / "venv"
    if kind == "file":
        venv.write_text("not a venv")
    else:
        (venv / "bin").mkdir(parents=True)
        (venv / "data.txt").write_text("precious")
        (venv / "bin" / "python").write_text("#!/bin/sh\n")
        if kind == "pyvenv.cfg without home":
            (venv / "pyvenv.cfg").write_text("version = 3.11.7\n")

    def snapshot():
        if venv.is_file():
            return venv.read_text()
        return sorted((str(path.relative_to(venv)), path.read_text() if path.is_file() else None)
                      for path in venv.rglob("*"))

    before = snapshot()
    assert _state(venv) == "not-a-venv"
    result = _setup("ensure_venv", venv)
    assert result.returncode == 1
    assert f"{venv} exists but is not a Python virtual environment" in result.stderr
    assert "not touching it" in result.stderr
    refused = _setup("rebuild_venv 'forced'", venv)  # the deleting step checks again by itself
    assert refused.returncode == 1 and "refusing to delete" in refused.stderr
    assert snapshot() == before


# --- envs/requirements.txt ------------------------------------------------------------------------

def _project_version() -> str:
    """pyproject.toml's version: static, or dynamic from a module attribute (read, not imported)."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    if "version" in pyproject["project"]:
        return pyproject["project"]["version"]
    assert "version" in pyproject["project"].get("dynamic", [])
    module, attr = pyproject["tool"]["setuptools"]["dynamic"]["version"]["attr"].rsplit(".", 1)
    source = REPO / "src" / Path(*module.split("."))
    source = source / "__init__.py" if source.is_dir() else source.with_suffix(".py")
    tree = ast.parse(source.read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == attr for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{attr} not found in {source}")


def test_requirements_file_names_no_other_analog_tl_version_than_pyproject():
    version = _project_version()
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", version), version
    text = (REPO / "envs" / "requirements.txt").read_text()
    named = re.findall(r"analog[-_.]tl\s*(?:==|===|~=|>=|<=|@)\s*([^\s;,)#]+)", text, re.I)
    assert all(found == version for found in named), (named, version)
    requirement_lines = [line.split("#")[0].strip() for line in text.splitlines()]
    pinned_project = [line for line in requirement_lines if re.match(r"(?i)analog[-_.]tl\b|-e\b|--editable\b", line)]
    assert pinned_project == [], "the project is installed by scripts/setup.sh with `pip install -e .`, not pinned"

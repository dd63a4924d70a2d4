"""analog_tl.provenance: the project's version, git state and library origin recorded in every run.json."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import analog_tl
from analog_tl.provenance import PACKAGE, checkout_root, git_state, project_record

REPO = Path(__file__).resolve().parents[1]
GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]


def _repo(tmp_path: Path) -> tuple[Path, str]:
    root = tmp_path / "checkout"
    root.mkdir()
    (root / "tracked.txt").write_text("a\n")
    subprocess.run([*GIT, "init", "-q", str(root)], check=True)
    subprocess.run([*GIT, "-C", str(root), "add", "tracked.txt"], check=True)
    subprocess.run([*GIT, "-C", str(root), "commit", "-q", "-m", "one"], check=True)
    head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    return root, head


def test_the_record_names_version_library_path_and_source():
    record = project_record()
    version = re.search(r'__version__ = "([^"]+)"', (REPO / "src" / "analog_tl" / "__init__.py").read_text()).group(1)
    assert record["version"] == version == analog_tl.__version__
    assert record["library_path"] == str(PACKAGE) == str((REPO / "src" / "analog_tl").resolve())
    assert record["source"] == "checkout" and record["checkout"] == str(REPO.resolve())


@pytest.mark.skipif(not (REPO / ".git").exists(), reason="not a git checkout (e.g. a source archive)")
def test_the_record_gives_this_checkouts_commit():
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert project_record()["git"]["commit"] == head


def test_dirty_means_tracked_files_differ_from_the_commit(tmp_path):
    root, head = _repo(tmp_path)
    assert git_state(root) == {"commit": head, "dirty": False, "changed_files": 0}
    (root / "untracked.txt").write_text("new\n")  # untracked files do not count
    assert git_state(root)["dirty"] is False
    (root / "tracked.txt").write_text("b\n")
    assert git_state(root) == {"commit": head, "dirty": True, "changed_files": 1}


def test_without_git_the_commit_is_read_from_the_repository_files(tmp_path, monkeypatch):
    root, head = _repo(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))  # no git executable, as in a minimal container
    assert shutil.which("git") is None
    assert git_state(root) == {"commit": head, "dirty": "unknown (no git executable)"}
    subprocess.run(["/usr/bin/git", "-C", str(root), "pack-refs", "--all"], check=True, env={**os.environ, "PATH": "/usr/bin"})
    assert git_state(root)["commit"] == head  # from packed-refs


def test_a_folder_without_git_and_an_installed_copy_say_so(tmp_path):
    assert git_state(tmp_path) == "not a git checkout"
    site = tmp_path / "site-packages" / "analog_tl"
    site.mkdir(parents=True)
    assert checkout_root(site) is None
    assert checkout_root(REPO.resolve() / "src" / "analog_tl") == REPO.resolve()


def test_software_versions_of_libraries_the_job_did_not_load_come_from_metadata_without_importing_them():
    """Libraries a job has not loaded are not imported to learn their version (timm and torchvision: 0.8 s), yet recorded."""
    names = ("torchvision", "aihwkit", "timm", "snakemake")
    code = (
        "import sys, json, importlib.metadata as m\n"
        "from analog_tl.training.artifacts import software_versions\n"
        "v = software_versions()\n"
        f"print(json.dumps({{'versions': v, 'loaded': [n for n in {names} if n in sys.modules],\n"
        f"                  'dist': {{n: m.version(n) for n in {names}}}}}))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    report = json.loads(out)
    assert report["loaded"] == []
    assert {n: report["versions"][n] for n in names} == report["dist"]
    import torch

    assert report["versions"]["torch"] == torch.__version__  # loaded: its own __version__, build suffix included

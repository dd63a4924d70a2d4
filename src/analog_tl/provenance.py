"""Which code made a result: the project's version, its git state and where the library was imported from."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import analog_tl

PACKAGE = Path(analog_tl.__file__).resolve().parent


def checkout_root(package: Path = PACKAGE) -> Path | None:
    """The project checkout holding ``package`` as ``<root>/src/analog_tl``, or None for an installed copy."""
    root = package.parent.parent
    if package.parent.name == "src" and (root / "pyproject.toml").is_file() and (root / "workflow").is_dir():
        return root
    return None


def _git(root: Path, *args: str) -> str:
    command = ["git", "-c", f"safe.directory={root}", "-C", str(root), *args]
    return subprocess.run(command, capture_output=True, text=True, check=True, timeout=60).stdout.strip()


def _head_without_git(git_dir: Path) -> str:
    """The commit of HEAD read from the repository files (no git executable, e.g. in a minimal container)."""
    head = (git_dir / "HEAD").read_text().strip()
    if not head.startswith("ref: "):
        return head
    ref = head.removeprefix("ref: ")
    if (git_dir / ref).is_file():
        return (git_dir / ref).read_text().strip()
    for line in (git_dir / "packed-refs").read_text().splitlines():
        if line.endswith(f" {ref}"):
            return line.split()[0]
    raise FileNotFoundError(f"{ref} not found in {git_dir}")


def git_state(root: Path) -> dict[str, Any] | str:
    """HEAD's commit and whether tracked files differ from it (untracked files are not counted).

    Returns "not a git checkout" when ``root`` has no ``.git``.
    """
    if not (root / ".git").exists():
        return "not a git checkout"
    try:
        commit = _git(root, "rev-parse", "HEAD")
        changed = _git(root, "status", "--porcelain", "--untracked-files=no")
    except FileNotFoundError:  # no git executable
        git_dir = root / ".git"
        return {"commit": _head_without_git(git_dir), "dirty": "unknown (no git executable)"}
    except subprocess.CalledProcessError as error:
        return f"git failed: {error.stderr.strip()}"
    return {"commit": commit, "dirty": bool(changed), "changed_files": len(changed.splitlines())}


def project_record() -> dict[str, Any]:
    """Version, library path, whether it is a checkout's ``src/`` or an installed copy, and the git state."""
    root = checkout_root()
    record: dict[str, Any] = {"version": analog_tl.__version__, "library_path": str(PACKAGE)}
    if root is None:
        return {**record, "source": "installed copy", "git": "not a git checkout"}
    return {**record, "source": "checkout", "checkout": str(root), "git": git_state(root)}

"""Resumable training state: save at epoch boundaries, restore exactly, survive crashes.

A run's state lives in its own folder (not among the rule's outputs) as
``epoch-NNNN.pt`` plus ``epoch-NNNN.json`` (SHA-256, fingerprint). The payload is
written to a temporary name, its checksum recorded, and only then renamed into
place, so a kill at any moment leaves either a complete, verifiable state or
none. The newest state that verifies and belongs to the same run (same
fingerprint) is restored; a corrupted or foreign one is skipped with a warning.

Analog models need one more step than ``load_state_dict``: aihwkit resets the
fast matrix A of c-TTv2 when it loads a tile (the load ends with
``set_weights``), so :func:`restore_model` puts every tile's saved hidden
parameters back afterwards.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from analog_tl.io import atomic_path, read_json, sha256_file, write_json

log = logging.getLogger(__name__)

FORMAT = 1
TILE_STATE_SUFFIX = ".analog_tile_state"
HIDDEN_PARAMETERS = "analog_tile_hidden_parameters"
_STATE_NAME = re.compile(r"^epoch-(\d{4,})\.pt$")


@dataclass(frozen=True)
class ResumeConfig:
    """Where and how often a training run saves resumable state.

    ``folder`` is the root of all runs' states (each run gets a sub-folder named
    after its output folder); ``every_epochs`` is the interval in epochs; the
    last ``keep`` states are kept until the run succeeds.
    """

    folder: str = "results/resume"
    every_epochs: int = 1
    keep: int = 2
    enabled: bool = True


def fingerprint(identity: dict[str, Any]) -> str:
    """SHA-256 of a run's identity (configs, input checksums): a state is restored only into the same run."""
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()


def state_folder(root: str | Path, out_dir: str | Path) -> Path:
    """The state folder of the run writing ``out_dir``: ``root`` + ``out_dir`` without a leading ``results/``."""
    parts = Path(out_dir).parts
    if parts and parts[0] == "results":
        parts = parts[1:]
    return Path(root).joinpath(*parts)


def rng_state() -> dict[str, Any]:
    """The random generators the project does not seed per epoch: torch (CPU, CUDA), numpy, python."""
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`rng_state`."""
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def restore_model(model: nn.Module, state_dict: dict[str, Any]) -> int:
    """Load ``state_dict`` into ``model`` and put back each analog tile's hidden parameters.

    aihwkit's tile loading resets the c-TTv2 fast matrix A; this restores A
    (and re-applies every other hidden parameter) bit for bit. Call it before
    building the optimiser: loading replaces the tiles' parameters.
    Returns the number of analog tiles restored.
    """
    model.load_state_dict(state_dict)
    restored = 0
    for name, module in model.named_modules():
        saved = state_dict.get(f"{name}{TILE_STATE_SUFFIX}")
        if saved is not None:
            module.tile.set_hidden_parameters(saved[HIDDEN_PARAMETERS])
            restored += 1
    return restored


class ResumeStore:
    """Resumable states of one run in ``folder``, tagged with the run's ``fingerprint``."""

    def __init__(self, folder: str | Path, run_fingerprint: str, every_epochs: int = 1, keep: int = 2) -> None:
        if every_epochs < 1 or keep < 1:
            raise ValueError(f"resume.every_epochs and resume.keep must be >= 1, got {every_epochs}, {keep}")
        self.folder = Path(folder)
        self.fingerprint = run_fingerprint
        self.every_epochs = every_epochs
        self.keep = keep

    def due(self, epoch: int, last_epoch: int) -> bool:
        """Whether to save after ``epoch`` (every ``every_epochs`` epochs and after the last one)."""
        return epoch > 0 and (epoch % self.every_epochs == 0 or epoch == last_epoch)

    def _paths(self, epoch: int) -> tuple[Path, Path]:
        stem = self.folder / f"epoch-{epoch:04d}"
        return stem.with_suffix(".pt"), stem.with_suffix(".json")

    def saved_epochs(self) -> list[int]:
        """Epochs with a state file present, newest first (not yet verified)."""
        if not self.folder.is_dir():
            return []
        found = (_STATE_NAME.match(p.name) for p in self.folder.iterdir())
        return sorted((int(m.group(1)) for m in found if m), reverse=True)

    def save(self, epoch: int, payload: dict[str, Any]) -> Path:
        """Write ``payload`` as the state after ``epoch``; drop states beyond the newest ``keep``."""
        state_path, meta_path = self._paths(epoch)
        with atomic_path(state_path) as tmp:
            torch.save({"format": FORMAT, "fingerprint": self.fingerprint, "epoch": epoch, **payload}, tmp)
            write_json(meta_path, {"epoch": epoch, "sha256": sha256_file(tmp), "fingerprint": self.fingerprint})
        for old in self.saved_epochs()[self.keep :]:
            self._remove(old)
        log.info("saved resumable state %s", state_path)
        return state_path

    def load(self) -> dict[str, Any] | None:
        """The newest state that verifies and belongs to this run, or None (warning about each one skipped)."""
        for epoch in self.saved_epochs():
            state_path, meta_path = self._paths(epoch)
            problem = self._problem(state_path, meta_path)
            if problem is None:
                try:
                    state = torch.load(state_path, map_location="cpu", weights_only=False)
                except Exception as error:  # noqa: BLE001 - any unreadable state is skipped, never fatal
                    problem = f"cannot be read ({type(error).__name__}: {error})"
                else:
                    log.info("resuming from %s (after epoch %d)", state_path, epoch)
                    return state
            log.warning("ignoring resumable state %s: %s", state_path, problem)
        return None

    def _problem(self, state_path: Path, meta_path: Path) -> str | None:
        """Why a state cannot be used, or None if its checksum and fingerprint match."""
        if not meta_path.exists():
            return f"its record {meta_path.name} is missing (interrupted while saving)"
        try:
            meta = read_json(meta_path)
        except ValueError as error:
            return f"its record {meta_path.name} is unreadable ({error})"
        if meta.get("fingerprint") != self.fingerprint:
            return "it belongs to a run with other settings or inputs"
        if sha256_file(state_path) != meta.get("sha256"):
            return "its SHA-256 does not match the one recorded when it was saved (truncated or corrupted)"
        return None

    def _remove(self, epoch: int) -> None:
        for path in self._paths(epoch):
            path.unlink(missing_ok=True)

    def clear(self) -> None:
        """Remove every state of this run (after its outputs are written) and the folder if empty."""
        if not self.folder.is_dir():
            return
        for path in self.folder.iterdir():
            if _STATE_NAME.match(path.name) or path.name.endswith(".json") or ".tmp-" in path.name:
                path.unlink()
        try:
            self.folder.rmdir()
        except OSError:
            pass

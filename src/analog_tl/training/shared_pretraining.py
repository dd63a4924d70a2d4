"""Restore a kept pre-training into a new workflow folder, so that grid parts made on other machines share it.

Pre-training is bit-reproducible on one kind of CPU but not between Intel and AMD CPUs (their MKL
branches differ, ``docs/reproducibility.md``), and a grid run in parts over sittings on different
machines would otherwise fine-tune its parts from different pre-trained models. A kept pre-training
run folder (its four files, ``vocabulary.RUN_FILES``) is copied into ``<workflow>/results/pretrain/``
after checking that it is what the workflow would compute there up to the CPU's last bits: the
model's SHA-256 against its record, the config's ``model`` and ``pretrain`` sections against the
ones it was made with, and the prepared source data against the data it read. Snakemake then finds
the pre-training done (its files are newer than the data) and fine-tunes from it.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from analog_tl.errors import ChecksumError, ConfigError, DataError
from analog_tl.io import atomic_path, read_json, sha256_file
from analog_tl.training.artifacts import RunPaths, recorded_sha256
from analog_tl.vocabulary import PRETRAIN_DATA, PRETRAIN_RUN, RUN_FILES

CONFIG_SECTIONS = ("model", "pretrain")  # what decides the pre-trained model besides its data


@dataclass(frozen=True)
class Restored:
    """What ``restore_pretraining`` did: the model's SHA-256 and whether it copied (False: already there)."""

    model_sha256: str
    copied: bool


def checked_model_sha256(source: Path) -> str:
    """The model SHA-256 of a kept pre-training run folder, after checking its files; DataError/ChecksumError."""
    missing = [name for name in RUN_FILES if not (source / name).is_file()]
    if missing:
        raise DataError(f"{source}: not a pre-training run folder, missing {', '.join(missing)}")
    paths = RunPaths.in_folder(source)
    recorded, actual = recorded_sha256(paths.final), sha256_file(paths.model)
    if recorded != actual:
        raise ChecksumError(f"{paths.model}: SHA-256 {actual[:12]}…, its final.json records {recorded[:12]}…")
    return recorded


def config_differences(record: dict[str, Any], config: dict[str, Any]) -> list[str]:
    """The ``model`` and ``pretrain`` keys (dotted) whose values differ between a run record's config and ``config``."""

    def differences(made: Any, wanted: Any, where: str) -> list[str]:
        if isinstance(made, dict) and isinstance(wanted, dict):
            return [found for key in sorted(set(made) | set(wanted))
                    for found in differences(made.get(key), wanted.get(key), f"{where}.{key}")]
        return [] if made == wanted else [f"{where} ({made!r} there, {wanted!r} here)"]

    made_with = record["workflow_config"]
    return [found for section in CONFIG_SECTIONS
            for found in differences(made_with.get(section), config.get(section), section)]


def restore_pretraining(source: str | Path, workflow: str | Path, config: dict[str, Any]) -> Restored:
    """Copy the kept pre-training run folder ``source`` into ``workflow``'s results/pretrain/ after checking it.

    ``config`` is the workflow's config with the schema's defaults (``read_workflow_config``). The
    workflow folder must hold the prepared source data already (``snakemake results/data/pretrain.npz``),
    so that the copied files are newer than it. final.json is copied last, each file atomically.

    Raises:
        DataError: a file missing, no prepared data, or data other than the run read.
        ChecksumError: the model does not match its record, or another pre-training is there.
        ConfigError: the config's model or pre-training settings differ from the run's.
    """
    source, workflow = Path(source), Path(workflow)
    sha = checked_model_sha256(source)
    record = read_json(RunPaths.in_folder(source).record)
    differences = config_differences(record, config)
    if differences:
        raise ConfigError(f"{source}: made with other settings than the config's: {'; '.join(differences)}")
    data = workflow / PRETRAIN_DATA
    if not data.is_file():
        raise DataError(f"{data}: missing; prepare the data first (snakemake {PRETRAIN_DATA}), then restore")
    if (actual := sha256_file(data)) != (read := record["data"]["sha256"]):
        raise DataError(f"{data}: SHA-256 {actual[:12]}…, the kept pre-training read {read[:12]}…")
    target = RunPaths.in_folder(workflow / PRETRAIN_RUN)
    if target.final.is_file():
        if (there := recorded_sha256(target.final)) != sha:
            raise ChecksumError(f"{target.final.parent}: holds another pre-training (model {there[:12]}…), "
                                f"not {sha[:12]}…")
        return Restored(sha, copied=False)
    for name in sorted(RUN_FILES, key=lambda name: name == target.final.name):  # final.json last: marks it done
        with atomic_path(target.final.parent / name) as tmp:
            shutil.copyfile(source / name, tmp)
    return Restored(sha, copied=True)

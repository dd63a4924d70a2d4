"""Restore a kept pre-training into a new workflow folder, so that grid parts made on other machines share it.

Pre-training is bit-reproducible on one kind of CPU but not between Intel and AMD CPUs (their MKL
branches differ, ``docs/reproducibility.md``), and a grid run in parts over sittings on different
machines would otherwise fine-tune its parts from different pre-trained models. A kept pre-training
run folder (its four files, ``vocabulary.RUN_FILES``) is copied into ``<workflow>/results/pretrain/``
after checking that it is what the workflow would compute there up to the CPU's last bits: the
model's SHA-256 against its record, the config's ``model`` and ``pretrain`` sections (the pre-training
rule's params) against the ones it was made with, and the prepared source data against the data it
read. The ``compute`` section (device, GPUs, CPU instruction set) is not compared: it is what may differ
between the machines. Snakemake then finds the pre-training done (its files are newer than the data, and no mark
of an unfinished job) and fine-tunes from it.
"""

from __future__ import annotations

import filecmp
import shutil
from base64 import urlsafe_b64encode
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from analog_tl.errors import ChecksumError, ConfigError, DataError
from analog_tl.io import atomic_path, read_json, sha256_file
from analog_tl.training.artifacts import RunPaths
from analog_tl.vocabulary import PRETRAIN_DATA, PRETRAIN_MODE, PRETRAIN_RUN, RUN_FILES, without_execution_keys

CONFIG_SECTIONS = ("model", "pretrain")  # what decides the pre-trained model besides its data (the rule's params)
SNAKEMAKE_INCOMPLETE = Path(".snakemake") / "incomplete"  # Snakemake's marks of outputs whose job did not finish


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
    if (mode := _recorded(paths.record, "settings", "mode")) != PRETRAIN_MODE:
        raise DataError(f"{source}: not a pre-training run folder, its run.json records mode {mode!r}")
    recorded, actual = _recorded(paths.final, "model_sha256"), sha256_file(paths.model)
    if recorded != actual:
        raise ChecksumError(f"{paths.model}: SHA-256 {actual[:12]}…, its final.json records {recorded[:12]}…")
    return recorded


def _recorded(path: Path, *keys: str) -> Any:
    """The value at ``keys`` in the JSON record ``path``; DataError when it is not JSON or lacks them."""
    try:
        value = read_json(path)
        for key in keys:
            value = value[key]
    except (ValueError, KeyError, TypeError) as error:
        raise DataError(f"{path}: no {'.'.join(keys)} ({type(error).__name__}: {error}); "
                        "not a run record the workflow wrote") from error
    return value


def config_differences(made_with: dict[str, Any], config: dict[str, Any]) -> list[str]:
    """The ``model`` and ``pretrain`` keys (dotted) whose values differ between a run's config ``made_with`` (its
    record's ``workflow_config``) and ``config``, the execution keys aside."""

    def differences(made: Any, wanted: Any, where: str) -> list[str]:
        if isinstance(made, dict) and isinstance(wanted, dict):
            return [found for key in sorted(set(made) | set(wanted))
                    for found in differences(made.get(key), wanted.get(key), f"{where}.{key}")]
        return [] if made == wanted else [f"{where} ({made!r} there, {wanted!r} here)"]

    return [found for section in CONFIG_SECTIONS
            for found in differences(_decisive(made_with, section), _decisive(config, section), section)]


def _decisive(config: dict[str, Any], section: str) -> Any:
    """A config section without the EXECUTION_KEYS (how a run evaluates and logs), as the pre-training rule's params."""
    values = config.get(section)
    return without_execution_keys(values) if isinstance(values, dict) else values


def snakemake_incomplete_mark(workflow: Path, path: Path) -> Path:
    """Where Snakemake (5 to 9) marks the output ``path`` (relative to ``workflow``) incomplete while its job runs, a
    mark that stays when the job is killed: a file named by the URL-safe base64 of the path in
    ``.snakemake/incomplete/``, split into folders of at most 254 characters with ``@`` before each folder's name."""
    name = urlsafe_b64encode(str(path).encode()).decode()
    parts = [name[i:i + 254] for i in range(0, len(name), 254)]
    return workflow / SNAKEMAKE_INCOMPLETE / Path(*[f"@{part}" for part in parts[:-1]], parts[-1])


def snakemake_unfinished(workflow: Path, paths: list[Path]) -> list[Path]:
    """Those of ``paths`` (relative to ``workflow``) that Snakemake marks incomplete there: a job writing them was
    killed, and ``--rerun-incomplete`` would run it again whatever is copied in."""
    return [path for path in paths if snakemake_incomplete_mark(workflow, path).is_file()]


def restore_pretraining(source: str | Path, workflow: str | Path, config: dict[str, Any],
                        discard_unfinished: bool = False) -> Restored:
    """Copy the kept pre-training run folder ``source`` into ``workflow``'s results/pretrain/ after checking it.

    ``config`` is the workflow's config with the schema's defaults (``read_workflow_config``). The
    workflow folder must hold the prepared source data already (``snakemake results/data/pretrain.npz``),
    so that the copied files are newer than it. final.json is copied last, each file atomically and the
    model checked against its SHA-256 before it takes its name; an interrupted copy leaves no final.json.
    ``discard_unfinished``: delete the files of a pre-training that was started there and did not finish,
    and Snakemake's marks of its outputs, instead of refusing.

    Raises:
        DataError: a file missing or not the workflow's record, no prepared data, data other than the
            run read, another or an unfinished pre-training in the folder.
        ChecksumError: the model does not match its record (before or after copying).
        ConfigError: the config's model or pre-training settings differ from the run's.
    """
    source, workflow = Path(source), Path(workflow)
    sha = checked_model_sha256(source)
    record = RunPaths.in_folder(source).record
    differences = config_differences(_recorded(record, "workflow_config"), config)
    if differences:
        raise ConfigError(f"{source}: made with other settings than the config's: {'; '.join(differences)}")
    _check_prepared_data(workflow, _recorded(record, "data", "sha256"))
    target = RunPaths.in_folder(workflow / PRETRAIN_RUN)
    if _already_there(workflow, target, sha, source, discard_unfinished):
        return Restored(sha, copied=False)
    for name in sorted(RUN_FILES, key=lambda name: name == target.final.name):  # final.json last: marks it done
        with atomic_path(target.final.parent / name) as tmp:
            shutil.copyfile(source / name, tmp)
            if name == target.model.name and (copied := sha256_file(tmp)) != sha:
                raise ChecksumError(f"{target.model}: copied with SHA-256 {copied[:12]}…, not {sha[:12]}…")
    return Restored(sha, copied=True)


def _check_prepared_data(workflow: Path, read: str) -> None:
    """DataError unless ``workflow`` holds the prepared source data whose SHA-256 is ``read``."""
    data = workflow / PRETRAIN_DATA
    if not data.is_file():
        raise DataError(f"{data}: missing; prepare the data first (snakemake {PRETRAIN_DATA}), then restore")
    if (actual := sha256_file(data)) != read:
        raise DataError(f"{data}: SHA-256 {actual[:12]}…, the kept pre-training read {read[:12]}…")


def _already_there(workflow: Path, target: RunPaths, sha: str, source: Path, discard_unfinished: bool) -> bool:
    """True when ``target`` holds the pre-training ``sha`` already; DataError when it holds another one, or files or
    Snakemake marks of one that did not finish (deleted instead with ``discard_unfinished``). Files equal to the
    kept ones (an interrupted restore's) are left for the copy to finish."""
    folder = target.final.parent
    if target.final.is_file():
        if (there := _recorded(target.final, "model_sha256")) != sha:
            raise DataError(f"{folder}: holds another pre-training (model {there[:12]}…), not {sha[:12]}…; delete "
                            "it, and the runs fine-tuned from it, to restore this one")
        return True
    outputs = [Path(PRETRAIN_RUN) / name for name in RUN_FILES]
    marked = snakemake_unfinished(workflow, outputs)
    stray = [path for path in (folder.iterdir() if folder.is_dir() else [])
             if not (path.name in RUN_FILES and filecmp.cmp(path, source / path.name, shallow=False))]
    if not marked and not stray:
        return False
    if not discard_unfinished:
        raise DataError(f"{folder}: a pre-training started here did not finish ({len(marked)} of its outputs marked "
                        f"incomplete by Snakemake, which would run it again; {len(stray)} file(s) of it); rerun with "
                        "--discard-unfinished to delete them and restore")
    shutil.rmtree(folder, ignore_errors=True)
    for path in marked:
        snakemake_incomplete_mark(workflow, path).unlink()
    return False

"""The algorithm comparison (``docs/protocol.md``, section 9) made in parts: tabulate a part, merge the parts.

A part is a folder of tables (``compare/runs.csv``, ``compare/epochs.csv``,
``compare/digital_runs.csv``, ``compare/pairs.csv``: :func:`write_compare_part`)
or a workflow folder whose ``results/compare`` holds finished comparison runs.
The merge stacks the parts (a run in two parts must agree, as
:func:`analog_tl.results.parts.stack` checks), checks that together they hold
every run the design plans (every task, buildable arm, grid point and seed,
and the digital TL reference) and no other grid point, that they share one
budget, data split and pre-trained model per task, and makes the comparison's tables again from the merged runs: the grid-point
selection, the summary and the questions beyond the paper.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from analog_tl.errors import PartsError
from analog_tl.results.compare import EPOCH_COLUMNS, CompareTables, pairs_table, tables_from_runs
from analog_tl.results.design import CompareDesign
from analog_tl.results.parts import _finished_runs, _roundtrip, _tabulate, PAIRING_SETTINGS, one_value_per_task, stack
from analog_tl.results.tables import epochs_table, runs_table, write_csv
from analog_tl.vocabulary import DIGITAL_MODES, DIGITAL_TL

PART_TABLES = ("runs", "epochs", "digital_runs", "pairs")  # compare/<name>.csv of a part
PAIRS_FILE = Path("results") / "compare" / "pairs.json"


def _digital_runs(folder: Path) -> list[str]:
    """The finished digital runs (digital TL and scratch) of workflow folder ``folder``."""
    return [r for r in _finished_runs(folder, "runs") if any(f"/{mode}/" in f"/{r}/" for mode in DIGITAL_MODES)]


def tabulate_compare_part(folder: str | Path) -> dict[str, pd.DataFrame]:
    """The part tables (:data:`PART_TABLES`) of workflow folder ``folder``; PartsError without comparison runs."""
    folder = Path(folder)
    runs = _finished_runs(folder, "compare")
    if not runs:
        raise PartsError(f"{folder}: no finished runs under {folder / 'results' / 'compare'}")
    if not (folder / PAIRS_FILE).is_file():
        raise PartsError(f"{folder}: no pair check {folder / PAIRS_FILE}")
    digital = _digital_runs(folder)
    tables = {
        "runs": _tabulate(folder, runs, runs_table),
        "epochs": _tabulate(folder, runs, epochs_table)[EPOCH_COLUMNS],
        "digital_runs": _tabulate(folder, digital, runs_table) if digital else pd.DataFrame(columns=["run"]),
        "pairs": pairs_table(str(folder / PAIRS_FILE)),
    }
    return {name: _roundtrip(table) for name, table in tables.items()}


def write_compare_part(folder: str | Path, out: str | Path) -> list[Path]:
    """Tabulate workflow folder ``folder``'s comparison as a part: ``out/compare/<name>.csv``; the paths written."""
    paths = []
    for name, table in tabulate_compare_part(folder).items():
        path = Path(out) / "compare" / f"{name}.csv"
        write_csv(table, path)
        paths.append(path)
    return paths


def read_compare_part(folder: str | Path) -> dict[str, pd.DataFrame]:
    """The part tables of one part: its ``compare/*.csv`` tables, or a tabulation of its workflow folder."""
    folder = Path(folder)
    tables = folder / "compare"
    if (tables / "runs.csv").is_file():
        missing = [n for n in PART_TABLES if not (tables / f"{n}.csv").is_file()]
        if missing:
            listed = ", ".join(f"compare/{m}.csv" for m in missing)
            raise PartsError(f"part {folder}: no {listed} beside compare/runs.csv")
        return {name: pd.read_csv(tables / f"{name}.csv") for name in PART_TABLES}
    if not (folder / "results" / "compare").is_dir():
        raise PartsError(f"part {folder}: neither compare/runs.csv nor finished runs under "
                         f"{folder / 'results' / 'compare'}")
    return tabulate_compare_part(folder)


def _planned(design: CompareDesign, pairs: pd.DataFrame) -> list[tuple[str, str, str, str]]:
    """(task, algorithm, device, layers) of every arm the design runs whose pair the pair check built."""
    ok = set(zip(pairs.loc[pairs["status"] == "ok", "algorithm"], pairs.loc[pairs["status"] == "ok", "device"]))
    return [(t, a.algorithm, a.device, a.layers) for t in design.tasks for a in design.arms
            if (a.algorithm, a.device) in ok]


def check_complete(runs: pd.DataFrame, design: CompareDesign, pairs: pd.DataFrame) -> None:
    """PartsError naming the first planned arm that lacks a grid point or a seed, or holds a point the design does
    not plan (a choice among fewer or other points is not the planned choice)."""
    seeds = set(design.seeds)
    for task, algorithm, device, layers in _planned(design, pairs):
        arm = runs[(runs["task"] == task) & (runs["algorithm"] == algorithm) & (runs["compare_device"] == device)
                   & (runs["analog_layers"] == layers)]
        where = f"{task} {algorithm} on {device} (layers {layers})"
        points = arm.groupby("hyperparameters")["seed"].agg(lambda s: set(s.astype(int)))
        planned = design.points[algorithm]
        lacking, other = sorted(set(planned) - set(points.index)), sorted(set(points.index) - set(planned))
        if lacking or other:
            raise PartsError(f"the parts hold grid points {sorted(points.index)} of {where}, the design plans "
                             f"{list(planned)} (lacking {lacking}, not planned {other})")
        for point, found in points.items():
            if not seeds <= found:
                raise PartsError(f"the parts lack {where} at {point}, seed(s) {sorted(seeds - found)}")


def check_digital_complete(digital: pd.DataFrame, design: CompareDesign) -> None:
    """PartsError naming the first task and seeds without a digital TL run, where questions need that reference."""
    if design.ablation_device is None:  # only the layer questions compare with digital TL
        return
    for task in design.tasks:
        found = set() if digital.empty else set(
            digital.loc[(digital["task"] == task) & (digital["mode"] == DIGITAL_TL), "seed"].astype(int))
        lacking = sorted(set(design.seeds) - found)
        if lacking:
            raise PartsError(f"the parts lack the digital TL reference of {task}, seed(s) {lacking} "
                             "(the layer questions pair the ablation arms with it)")


BUDGET_SETTINGS = ("epochs", "batch_size", "transfer_noise")  # one value per task among the arms, and among the
# digital TL runs (the comparison's budget may differ from the digital reference's: compare.epochs)


def check_settings(runs: pd.DataFrame, digital: pd.DataFrame) -> None:
    """PartsError naming two runs of one task whose settings differ where they must not, or an arm on two simulators.

    The comparison's runs share one budget per task, the digital TL runs
    another, and all of them one data split and pre-trained model (the
    questions pair them by seed).
    """
    reference = digital[digital["mode"] == DIGITAL_TL] if not digital.empty else digital
    for task, rows in runs.groupby("task"):
        one_value_per_task(rows, BUDGET_SETTINGS, task)
        ref = reference[reference["task"] == task] if not reference.empty else reference
        if not ref.empty:
            one_value_per_task(ref, BUDGET_SETTINGS, task)
        one_value_per_task(pd.concat([rows, ref], ignore_index=True), PAIRING_SETTINGS, task)
    for arm, rows in runs.groupby(["task", "algorithm", "compare_device", "analog_layers"]):
        if rows["simulator"].nunique() > 1:
            raise PartsError(f"{' '.join(map(str, arm))}: runs on simulators {sorted(rows['simulator'].unique())}")


def _in_design(runs: pd.DataFrame, design: CompareDesign) -> pd.DataFrame:
    """The rows of ``runs`` of the design's tasks and seeds."""
    return runs[runs["task"].isin(design.tasks) & runs["seed"].astype(int).isin(design.seeds)]


def _of_arms(runs: pd.DataFrame, design: CompareDesign) -> pd.DataFrame:
    """The rows of ``runs`` of the design's arms (a part from another design may hold others)."""
    arms = {(a.algorithm, a.device, a.layers) for a in design.arms}
    keys = zip(runs["algorithm"], runs["compare_device"], runs["analog_layers"])
    return runs[[key in arms for key in keys]]


def merge_compare_parts(parts: Sequence[str | Path], design: CompareDesign) -> tuple[CompareTables, pd.DataFrame]:
    """The comparison's tables from ``parts`` (the selection, summary and questions made over the merged runs) and
    the digital runs (digital TL and scratch) of the design's tasks and seeds, the figures' references."""
    read = [(str(p), read_compare_part(p)) for p in parts]
    stacked = {name: stack(f"compare_{name}", [(label, t[name]) for label, t in read if not t[name].empty])
               for name in PART_TABLES}
    pairs = stacked["pairs"]
    if pairs.empty:
        raise PartsError("no part has the pair check (compare/pairs.csv)")
    runs = _of_arms(_in_design(stacked["runs"], design), design)  # tables_from_runs makes the selection again
    check_complete(runs, design, pairs)
    digital = stacked["digital_runs"]
    digital = _in_design(digital, design) if not digital.empty else digital
    check_digital_complete(digital, design)
    check_settings(runs, digital)
    epochs = stacked["epochs"]
    return tables_from_runs(runs, epochs[epochs["run"].isin(runs["run"])], digital, pairs, design), digital


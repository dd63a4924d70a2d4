"""The paper's claims scored under the comparison protocol, from committed tables (not a workflow step).

For a results folder made before the workflow wrote the protocol's tables
(``docs/results/real-small/``: runs and epochs tables, optionally the device
sweeps' runs tables), writes per run the protocol's scores, per claim, task
and metric the difference with its intervals, and per claim and task the
verdicts (``docs/protocol.md``)::

    .venv/bin/python scripts/score_claims.py --runs RUNS.csv --epochs EPOCHS.csv [--sweeps DIR [DIR ...] [--axes A ..] [--tasks T ..] [--lrs LR ..]] --out OUT
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from analog_tl.results.parts import stack
from analog_tl.results.selection import check_candidates_complete, select_learning_rates
from analog_tl.results.tables import with_protocol_scores, write_claim_tables, write_csv


def _stacked_runs(folders: list[Path]) -> dict[str, pd.DataFrame]:
    """Per sweep axis, the runs of every folder's ``<axis>_runs.csv``; a run in two folders must agree (kept once)."""
    found: dict[str, list[tuple[str, pd.DataFrame]]] = {}
    for folder in folders:
        for path in sorted(folder.glob("*_runs.csv")):
            found.setdefault(path.name.removesuffix("_runs.csv"), []).append((str(folder), pd.read_csv(path)))
    return {axis: stack("runs", frames) for axis, frames in sorted(found.items())}


def read_sweeps(
    folders: list[Path] | None, axes: list[str] | None, tasks: list[str] | None, lrs: list[float] | None
) -> dict[str, pd.DataFrame]:
    """Per sweep axis, its runs table (``<axis>_runs.csv`` in each of ``folders``, the parts of one grid, stacked;
    only ``axes`` and ``tasks`` if given).

    A table without the learning-rate choice (a part's, ``scripts/tabulate_sweep_part.py``) gets it here, after
    a check that every point has a run at every learning rate of ``lrs`` (the config's ``sweeps.lrs``).
    """
    tables = {}
    for axis, table in _stacked_runs(folders or []).items():
        if axes and axis not in axes:
            continue
        path = f"{axis}_runs.csv of {', '.join(str(f) for f in folders or [])}"
        table = table[table["task"].isin(tasks)] if tasks else table
        if "selected" not in table.columns:
            if not lrs:
                raise ValueError(f"{path} has no learning-rate choice: give the grid's learning rates (--lrs)")
            check_candidates_complete(table, lrs)
            table = select_learning_rates(table)
        tables[axis] = table
    return tables


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", required=True, type=Path, help="runs table (runs.csv)")
    parser.add_argument("--epochs", type=Path, help="epochs table (epochs.csv), to score runs tables without scores")
    parser.add_argument("--sweeps", nargs="+", type=Path,
                        help="folders with the sweeps' <axis>_runs.csv tables (several: the parts of one grid)")
    parser.add_argument("--axes", nargs="+", help="score only these sweep axes (default: every table)")
    parser.add_argument("--tasks", nargs="+", help="score the sweeps of these tasks only (default: all)")
    parser.add_argument("--lrs", nargs="+", type=float,
                        help="the sweeps' learning-rate grid, to choose among a part's runs (sweeps.lrs)")
    parser.add_argument("--out", required=True, type=Path, help="folder for run_scores.csv, claims.csv, verdicts.csv")
    args = parser.parse_args(argv)
    try:
        epochs = pd.read_csv(args.epochs) if args.epochs else None
        runs = with_protocol_scores(pd.read_csv(args.runs), epochs)
        sweeps = {axis: with_protocol_scores(table, epochs)
                  for axis, table in read_sweeps(args.sweeps, args.axes, args.tasks, args.lrs).items()}
        args.out.mkdir(parents=True, exist_ok=True)
        write_csv(runs, args.out / "run_scores.csv")
        verdicts = write_claim_tables(runs, sweeps, args.out / "claims.csv", args.out / "verdicts.csv")
    except (OSError, ValueError) as error:
        print(f"score_claims: {error}", file=sys.stderr)
        return 2
    print(verdicts[["claim", "task", "verdict", "reason"]].to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The Snakemake targets of a device-sweep grid that its parts do not hold yet (not a workflow step; run by hand).

A grid run in parts (``docs/results/real-cifar.md``, "A grid in parts") needs, at the start of each
sitting, the runs that no earlier part finished. This script reads the config's sweep grid and the
parts made so far (committed ``sweeps/<axis>_runs.csv`` tables, or workflow folders with finished
runs, as ``scripts/merge_table_parts.py --grid sweeps`` reads them) and prints one target per line,
``results/sweeps/<task>/<axis>~<value>/fast_lr~<fast_lr>/lr~<lr>/seed~<seed>/final.json``, in grid
order (axis, task, value, learning rate, seed), ready for Snakemake::

    .venv/bin/python scripts/list_missing_runs.py --config CONFIG [OVERLAY] [--task T ...] [--axis A ...] \\
        [--fast-lr F] [PART ...]
    targets=$(.venv/bin/python scripts/list_missing_runs.py ...) && \\
        .venv/bin/snakemake --configfile CONFIG --cores 2 --keep-going --rerun-incomplete -- $targets

With no PART it lists the whole grid. A count goes to standard error. Exit status 0 when it listed
runs, 1 when every run is in a part (so that the ``&&`` above never starts Snakemake without
targets, which would run the whole workflow), 2 on bad input (one line naming it).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from analog_tl.errors import AnalogTLError, first_line
from analog_tl.results.parts import SweepGrid, missing_sweep_runs
from analog_tl.vocabulary import CONFIG_SCHEMA, FINAL_FILE
from analog_tl.workflow_config import read_workflow_config, restrict_tasks

SCHEMA = Path(__file__).resolve().parents[1] / CONFIG_SCHEMA


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, type=Path, nargs="+",
                        help="the workflow config of the grid (several: merged in order, as Snakemake does)")
    parser.add_argument("--task", action="append", dest="tasks", help="list only this task's runs (repeatable)")
    parser.add_argument("--axis", action="append", dest="axes", help="list only this sweep axis's runs (repeatable)")
    parser.add_argument("--fast-lr", type=float,
                        help="the sweeps' c-TTv2 fast_lr (default: the config's only candidate; needed with several)")
    parser.add_argument("parts", nargs="*", type=Path, help="the parts made so far: table folders or workflow folders")
    args = parser.parse_args(argv)
    try:
        config = read_workflow_config(args.config, SCHEMA)
        grid = SweepGrid.from_config(restrict_tasks(config, args.tasks) if args.tasks else config)
        grid = grid.with_axes(args.axes) if args.axes else grid
        missing = missing_sweep_runs(args.parts, grid, args.fast_lr)
    except (AnalogTLError, OSError, yaml.YAMLError) as error:
        print(f"list_missing_runs: {first_line(error)}", file=sys.stderr)
        return 2
    planned = sum(len(grid.expected(axis)) for axis in grid.axes)
    print("\n".join(f"{run}/{FINAL_FILE}" for run in missing), end="\n" if missing else "")
    print(f"list_missing_runs: {len(missing)} of the grid's {planned} sweep runs are in no part", file=sys.stderr)
    return 0 if missing else 1


if __name__ == "__main__":
    sys.exit(main())

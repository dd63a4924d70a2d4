"""The Snakemake targets of a device-sweep grid that its parts do not hold yet (not a workflow step; run by hand).

A grid run in parts (``docs/results/real-cifar.md``, "A grid in parts") needs, at the start of each
sitting, the runs that no earlier part finished. This script reads the config's sweep grid and the
parts made so far (committed ``sweeps/<axis>_runs.csv`` tables, or workflow folders with finished
runs, as ``scripts/merge_table_parts.py --grid sweeps`` reads them) and prints one target per line,
``results/sweeps/<task>/<axis>~<value>/fast_lr~<fast_lr>/lr~<lr>/seed~<seed>/final.json``, in grid
order (axis, task, value, learning rate, seed), ready for Snakemake::

    .venv/bin/python scripts/list_missing_runs.py --config CONFIG [OVERLAY] [--task T ...] [--axis A ...] [PART ...]
    .venv/bin/snakemake --configfile CONFIG --cores 2 --keep-going -- $(.venv/bin/python scripts/list_missing_runs.py ...)

With no PART it lists the whole grid. A count goes to standard error.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import yaml

from analog_tl.errors import AnalogTLError, ConfigError, first_line
from analog_tl.results.parts import SweepGrid, missing_sweep_runs
from analog_tl.vocabulary import FINAL_FILE
from analog_tl.workflow_config import read_workflow_config, restrict_tasks

SCHEMA = Path(__file__).resolve().parents[1] / "workflow" / "schemas" / "config.schema.yaml"


def restrict_axes(grid: SweepGrid, axes: list[str]) -> SweepGrid:
    """``grid`` with only ``axes`` (in the grid's order); ConfigError naming an axis the grid lacks."""
    unknown = sorted(set(axes) - set(grid.axes))
    if unknown:
        raise ConfigError(f"axis/axes {unknown} are not sweep axes of the config (it has {list(grid.axes)})")
    return replace(grid, values=tuple((a, v) for a, v in grid.values if a in axes))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, type=Path, nargs="+",
                        help="the workflow config of the grid (several: merged in order, as Snakemake does)")
    parser.add_argument("--task", action="append", dest="tasks", help="list only this task's runs (repeatable)")
    parser.add_argument("--axis", action="append", dest="axes", help="list only this sweep axis's runs (repeatable)")
    parser.add_argument("parts", nargs="*", type=Path, help="the parts made so far: table folders or workflow folders")
    args = parser.parse_args(argv)
    try:
        config = read_workflow_config(args.config, SCHEMA)
        grid = SweepGrid.from_config(restrict_tasks(config, args.tasks) if args.tasks else config)
        grid = restrict_axes(grid, args.axes) if args.axes else grid
        missing = missing_sweep_runs(args.parts, grid)
    except (AnalogTLError, OSError, yaml.YAMLError) as error:
        print(f"list_missing_runs: {first_line(error)}", file=sys.stderr)
        return 2
    planned = sum(len(grid.expected(axis)) for axis in grid.axes)
    print("\n".join(f"{run}/{FINAL_FILE}" for run in missing), end="\n" if missing else "")
    print(f"list_missing_runs: {len(missing)} of the grid's {planned} sweep runs are in no part", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

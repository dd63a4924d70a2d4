"""A part of the device sweeps as tables, from a workflow folder whose results/ will not be kept (by hand).

Writes ``OUT/sweeps/<axis>_runs.csv`` (one row per finished run, with the protocol's scores) and
``<axis>_epochs.csv`` (every run's curve) for the finished sweep runs under ``WORKFLOW/results/sweeps``,
to be committed and merged later with the other parts (``scripts/merge_table_parts.py --grid sweeps``)::

    .venv/bin/python scripts/tabulate_sweep_part.py --workflow WORKFLOW --out OUT
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from analog_tl.errors import AnalogTLError, first_line
from analog_tl.results.parts import write_sweep_part


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workflow", required=True, type=Path, help="workflow folder with finished sweep runs")
    parser.add_argument("--out", required=True, type=Path, help="folder for sweeps/<axis>_{runs,epochs}.csv")
    args = parser.parse_args(argv)
    try:
        paths = write_sweep_part(args.workflow, args.out)
    except (AnalogTLError, OSError, ValueError) as error:
        print(f"tabulate_sweep_part: {first_line(error)}", file=sys.stderr)
        return 2
    for path in paths:
        print(f"wrote {path} ({sum(1 for _ in path.open()) - 1} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

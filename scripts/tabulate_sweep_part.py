"""A part of the device sweeps (or of the algorithm comparison) as tables, from a workflow folder whose results/
will not be kept (by hand).

``--grid sweeps`` (the default) writes ``OUT/sweeps/<axis>_runs.csv`` (one row per finished run, with the
protocol's scores) and ``<axis>_epochs.csv`` (every run's curve) for the finished sweep runs under
``WORKFLOW/results/sweeps``; ``--grid compare`` writes ``OUT/compare/runs.csv``, ``epochs.csv``,
``digital_runs.csv`` (the folder's finished digital runs, the references) and ``pairs.csv`` (the pair
check) for the finished comparison runs under ``WORKFLOW/results/compare``. Both are committed and merged
later with the other parts (``scripts/merge_table_parts.py --grid sweeps`` or ``--grid compare``)::

    .venv/bin/python scripts/tabulate_sweep_part.py --workflow WORKFLOW --out OUT [--grid sweeps|compare]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from analog_tl.errors import AnalogTLError, first_line
from analog_tl.results.compare_parts import write_compare_part
from analog_tl.results.parts import write_sweep_part

WRITERS = {"sweeps": write_sweep_part, "compare": write_compare_part}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workflow", required=True, type=Path, help="workflow folder with finished runs")
    parser.add_argument("--out", required=True, type=Path, help="folder for the part's tables")
    parser.add_argument("--grid", choices=tuple(WRITERS), default="sweeps",
                        help="sweeps: sweeps/<axis>_{runs,epochs}.csv; compare: compare/*.csv (default: sweeps)")
    args = parser.parse_args(argv)
    try:
        paths = WRITERS[args.grid](args.workflow, args.out)
    except (AnalogTLError, OSError, ValueError) as error:
        print(f"tabulate_sweep_part: {first_line(error)}", file=sys.stderr)
        return 2
    for path in paths:
        print(f"wrote {path} ({sum(1 for _ in path.open()) - 1} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

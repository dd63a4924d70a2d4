"""A part of the algorithm comparison as tables, from a workflow folder whose results/ will not be kept (by hand).

Writes ``OUT/compare/runs.csv`` (one row per finished comparison run, with the protocol's scores),
``epochs.csv`` (their curves), ``digital_runs.csv`` (the folder's finished digital runs, the references)
and ``pairs.csv`` (the pair check), to be committed and merged later with the other parts
(``scripts/merge_table_parts.py --grid compare``)::

    .venv/bin/python scripts/tabulate_compare_part.py --workflow WORKFLOW --out OUT
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from analog_tl.errors import AnalogTLError, first_line
from analog_tl.results.compare_parts import write_compare_part


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workflow", required=True, type=Path, help="workflow folder with finished comparison runs")
    parser.add_argument("--out", required=True, type=Path, help="folder for compare/{runs,epochs,digital_runs,pairs}.csv")
    args = parser.parse_args(argv)
    try:
        paths = write_compare_part(args.workflow, args.out)
    except (AnalogTLError, OSError, ValueError) as error:
        print(f"tabulate_compare_part: {first_line(error)}", file=sys.stderr)
        return 2
    for path in paths:
        print(f"wrote {path} ({sum(1 for _ in path.open()) - 1} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

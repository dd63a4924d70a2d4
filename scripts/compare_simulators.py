"""The fast simulator against aihwkit on the same runs: paired differences per metric and the curves (by hand).

Compares the runs of two parts (table folders with ``runs.csv`` and ``epochs.csv``, or workflow folders
with finished runs; the protocol's scores are computed where a table predates them) that share a task,
mode, transfer noise and ``fast_lr`` and differ in the simulator (docs/protocol.md, section 7.6)::

    .venv/bin/python scripts/compare_simulators.py --reference PART --other PART --out OUT

writes ``OUT/simulator_agreement.csv`` and ``OUT/simulator_curves.png`` (and ``.pdf``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from analog_tl.errors import AnalogTLError, first_line
from analog_tl.results.crosscheck import plot_simulator_curves, simulator_agreement
from analog_tl.results.figures import save_figure
from analog_tl.results.parts import read_part
from analog_tl.results.tables import with_protocol_scores, write_csv


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference", required=True, type=Path, help="part with the fast simulator's runs")
    parser.add_argument("--other", required=True, type=Path, help="part with aihwkit's runs of the same arms")
    parser.add_argument("--out", required=True, type=Path, help="folder for the table and the figure")
    parser.add_argument("--caption", default="", help="settings line under the figure")
    args = parser.parse_args(argv)
    try:
        parts = [read_part(args.reference), read_part(args.other)]
        runs = [with_protocol_scores(p["runs"], p["epochs"]) for p in parts]
        table = simulator_agreement(*runs)
        write_csv(table, args.out / "simulator_agreement.csv")
        figure = plot_simulator_curves(parts[0]["epochs"], parts[1]["epochs"], args.caption)
        save_figure(figure, args.out / "simulator_curves.png", args.out / "simulator_curves.pdf")
    except (AnalogTLError, OSError, ValueError) as error:
        print(f"compare_simulators: {first_line(error)}", file=sys.stderr)
        return 2
    print(table[["task", "mode", "metric", "n_seeds", "mean", "low", "high", "reference_seed_std", "agree"]]
          .to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())

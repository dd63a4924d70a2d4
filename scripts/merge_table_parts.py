"""Figs. 2 and 3 and their tables from a run grid made in parts (not a workflow step; run by hand).

A grid too long for one sitting (config/real-small.yaml: about 7 h on 2 cores) can be run in parts,
each part's tables kept (a results documentation folder) or its workflow folder still at hand. This
script stacks the parts' tidy tables, checks that a run found in two parts is the same in both (bit
for bit: model hash, every metric; wall-clock times aside) and that together they hold every run of
the config's grid (rows off the grid are left out), and writes what the workflow's rules
aggregate_tables, headline_tables, plot_fig2 and plot_fig3 would write, with the same library calls
and captions, to ``OUT/results/tables/`` and ``OUT/results/figures/``::

    .venv/bin/python scripts/merge_table_parts.py --config CONFIG --out OUT PART [PART ...]

A PART is a folder with the workflow's ``runs.csv``, ``epochs.csv``, ``transfer_noise.csv`` (and
``fast_lr.csv``), or a workflow folder whose ``results/runs`` hold finished runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from analog_tl.errors import AnalogTLError, ConfigError, first_line
from analog_tl.results.captions import settings_caption
from analog_tl.results.figures import write_fig2, write_fig3
from analog_tl.results.parts import Grid, merge_parts, write_merged
from analog_tl.results.tables import write_headline_tables
from analog_tl.workflow_config import read_workflow_config

SCHEMA = Path(__file__).resolve().parents[1] / "workflow" / "schemas" / "config.schema.yaml"


def write_outputs(config: dict, parts: list[Path], out: Path) -> None:
    """Merged tables, headline tables and Figs. 2 and 3 under ``out/results``."""
    tables, figures = out / "results" / "tables", out / "results" / "figures"
    for path in write_merged(merge_parts(parts, Grid.from_config(config)), tables):
        print(f"wrote {path} ({sum(1 for _ in path.open()) - 1} rows)")
    write_headline_tables(str(tables / "runs.csv"), str(tables / "critical_noise.csv"), str(tables / "summary.csv"))
    caption, device = settings_caption(config), config["analog"]["device"]
    write_fig2(tables / "epochs.csv", min(float(t) for t in config["analog"]["transfer_noise"]), caption, device,
               figures / "fig2_test_error_vs_epoch.png", figures / "fig2_test_error_vs_epoch.pdf")
    write_fig3(tables / "runs.csv", tables / "transfer_noise.csv", tables / "critical_noise.csv", caption, device,
               figures / "fig3_test_error_vs_transfer_noise.png", figures / "fig3_test_error_vs_transfer_noise.pdf")
    print(f"wrote {tables / 'critical_noise.csv'}, {tables / 'summary.csv'} and Figs. 2 and 3 under {figures}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, type=Path, help="the workflow config the grid was run with")
    parser.add_argument("--out", required=True, type=Path, help="folder to write results/tables and results/figures in")
    parser.add_argument("parts", nargs="+", type=Path, help="table folders or workflow folders")
    args = parser.parse_args(argv)
    try:
        write_outputs(read_workflow_config(args.config, SCHEMA), args.parts, args.out)
    except (AnalogTLError, OSError, yaml.YAMLError) as error:
        print(f"merge_table_parts: {first_line(error)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Figs. 2 to 5 and their tables from a run grid made in parts (not a workflow step; run by hand).

A grid too long for one sitting (config/real-small.yaml: about 7 h on 2 cores) can be run in parts,
each part's tables kept (a results documentation folder) or its workflow folder still at hand. This
script stacks the parts' tidy tables, checks that a run found in two parts is the same in both (bit
for bit: model hash, every metric; wall-clock times aside) and that together they hold every run of
the config's grid (rows off the grid are left out), and writes what the workflow's rules
aggregate_tables, headline_tables, plot_fig2 and plot_fig3 would write, with the same library calls
and captions, to ``OUT/results/tables/`` and ``OUT/results/figures/``::

    .venv/bin/python scripts/merge_table_parts.py --config CONFIG [OVERLAY] --out OUT [--grid main|sweeps|all|compare] [--task TASK ...] [--axis AXIS ...] PART [PART ...]

``--grid main`` (the default): Figs. 2 and 3. A PART is a folder with the workflow's ``runs.csv``,
``epochs.csv``, ``transfer_noise.csv`` (and ``fast_lr.csv``), or a workflow folder whose
``results/runs`` hold finished runs. ``--grid sweeps``: the device sweeps (``tables/sweeps/`` and
Figs. 4, 5 and SpV). A PART is a folder with ``sweeps/<axis>_runs.csv`` tables, or a workflow folder
whose ``results/sweeps`` hold finished runs. ``--grid all``: both, from the same parts; these
also score the paper's claims that the merged tables allow (``claims.csv``, ``verdicts.csv``:
``docs/protocol.md``). ``--grid compare``: the algorithm comparison (``compare_*.csv`` with the
questions beyond the paper, Fig. 6 and the layers figure); a PART is a folder with
``compare/runs.csv`` and its siblings (``scripts/tabulate_sweep_part.py --grid compare``), or a
workflow folder whose ``results/compare`` holds finished runs. ``--task T`` (repeatable): merge only these tasks
(a grid whose other tasks still run); ``--axis A`` (repeatable, sweeps): only these sweep axes, and the
figures whose axes they are.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd
import yaml

from analog_tl.analog.devices import device_caption
from analog_tl.errors import AnalogTLError, first_line
from analog_tl.results.captions import compare_caption, settings_caption, sweep_caption
from analog_tl.results.compare import COMPARE_TABLES, plot_ablation, plot_fig6
from analog_tl.results.compare_parts import merge_compare_parts
from analog_tl.results.design import CompareDesign
from analog_tl.results.figures import plot_sweeps, save_figure, write_fig2, write_fig3
from analog_tl.results.parts import Grid, SweepGrid, merge_parts, merge_sweep_parts, write_merged, write_merged_sweeps
from analog_tl.results.selection import summarise_sweeps
from analog_tl.results.tables import (
    relative_noise_table,
    with_protocol_scores,
    write_claim_tables,
    write_csv,
    write_headline_tables,
)
from analog_tl.vocabulary import CONFIG_SCHEMA
from analog_tl.workflow_config import read_workflow_config, restrict_tasks

SCHEMA = Path(__file__).resolve().parents[1] / CONFIG_SCHEMA


# The sweep figures: (file stem, axes, title), as the workflow's rules plot_fig4, plot_fig_spv and plot_fig5 make them.
SWEEP_FIGURES = (
    ("fig4_test_error_vs_sps", "sps", "Fig. 4: analog TL against symmetry point skew, one panel per reading "
     "(bottom: measured symmetry point)"),
    ("fig_spv_test_error_vs_spv", "spv", "Symmetry point variability: analog TL against SpV"),
    ("fig5_test_error_vs_pulse_noise_and_dtod", "pulse", "Fig. 5: analog TL against pulse update noise and "
     "device-to-device variability"),
)


def write_main(config: dict, parts: list[Path], tables: Path, figures: Path) -> pd.DataFrame:
    """Merged main-grid tables, headline tables and Figs. 2 and 3; returns the merged runs table."""
    for path in write_merged(merge_parts(parts, Grid.from_config(config)), tables):
        print(f"wrote {path} ({sum(1 for _ in path.open()) - 1} rows)")
    write_headline_tables(str(tables / "runs.csv"), str(tables / "critical_noise.csv"), str(tables / "summary.csv"))
    write_csv(relative_noise_table(pd.read_csv(tables / "transfer_noise.csv")), tables / "transfer_noise_relative.csv")
    caption, device = settings_caption(config), config["analog"]["device"]
    write_fig2(tables / "epochs.csv", min(float(t) for t in config["analog"]["transfer_noise"]), caption, device,
               figures / "fig2_test_error_vs_epoch.png", figures / "fig2_test_error_vs_epoch.pdf")
    write_fig3(tables / "runs.csv", tables / "transfer_noise.csv", tables / "critical_noise.csv", caption, device,
               figures / "fig3_test_error_vs_transfer_noise.png", figures / "fig3_test_error_vs_transfer_noise.pdf")
    print(f"wrote {tables / 'critical_noise.csv'}, {tables / 'summary.csv'} and Figs. 2 and 3 under {figures}")
    return with_protocol_scores(pd.read_csv(tables / "runs.csv"), pd.read_csv(tables / "epochs.csv"))


def _figure_axes(group: str, axes: tuple[str, ...]) -> list[str]:
    """The axes a sweep figure shows: those of ``axes`` in its group; none unless all it needs are merged."""
    if group == "sps":
        return [a for a in axes if a.startswith("sps_")]
    wanted = ["spv"] if group == "spv" else ["pulse_noise", "dtod"]
    return wanted if set(wanted) <= set(axes) else []


def write_sweeps(config: dict, parts: list[Path], tables: Path, figures: Path,
                 axes: list[str] | None = None) -> dict[str, pd.DataFrame]:
    """Merged sweep tables (learning rates selected again over all parts) and Figs. 4, 5 and SpV.

    ``axes``: merge only these sweep axes (default: all of the config's); a figure is drawn when
    its axes are merged (Fig. 4: any SpS reading; Fig. 5: pulse noise and device-to-device).
    """
    grid = SweepGrid.from_config(config)
    grid = grid.with_axes(axes) if axes else grid
    merged = merge_sweep_parts(parts, grid)
    for path in write_merged_sweeps(merged, tables / "sweeps"):
        print(f"wrote {path} ({sum(1 for _ in path.open()) - 1} rows)")
    device = device_caption(config["analog"]["device"])
    for stem, group, title in SWEEP_FIGURES:
        shown = _figure_axes(group, grid.axes)
        if not shown:
            print(f"not drawn: {stem} (its axes are not merged)")
            continue
        summary = pd.concat([summarise_sweeps(merged[a]) for a in shown], ignore_index=True)
        figure = plot_sweeps(summary, shown, title, sweep_caption(config, shown) + "; nominal " + device)
        save_figure(figure, figures / f"{stem}.png", figures / f"{stem}.pdf")
    print(f"wrote the sweep figures under {figures}")
    return merged


def write_compare(config: dict, parts: list[Path], tables: Path, figures: Path) -> None:
    """Merged comparison tables (grid points selected again over all parts), the questions, Fig. 6 and the layers."""
    merged, digital = merge_compare_parts(parts, CompareDesign.from_config(config))
    merged.write({name: tables / f"compare_{name}.csv" for name in COMPARE_TABLES})
    caption = compare_caption(config)
    for stem, figure in (("fig6_test_error_by_algorithm_and_device",
                          plot_fig6(merged.summary, merged.pairs, digital, caption)),
                         ("fig_layers_test_error_by_analog_layers", plot_ablation(merged.summary, digital, caption))):
        save_figure(figure, figures / f"{stem}.png", figures / f"{stem}.pdf")
    print(f"wrote the comparison tables ({len(merged.runs)} runs, {len(merged.answers)} questions answered) under "
          f"{tables} and Fig. 6 and the layers figure under {figures}")


def write_outputs(config: dict, parts: list[Path], out: Path, grid: str = "main",
                  axes: list[str] | None = None) -> None:
    """Merged tables and figures of ``grid`` (main, sweeps, all or compare) under ``out/results``; the claims.

    ``axes``: with sweeps, only these sweep axes (default: all)."""
    tables, figures = out / "results" / "tables", out / "results" / "figures"
    if grid == "compare":
        write_compare(config, parts, tables, figures)
        return
    runs = write_main(config, parts, tables, figures) if grid in ("main", "all") else pd.DataFrame()
    sweeps = write_sweeps(config, parts, tables, figures, axes) if grid in ("sweeps", "all") else {}
    verdicts = write_claim_tables(runs, sweeps, tables / "claims.csv", tables / "verdicts.csv")
    print(f"wrote {tables / 'claims.csv'} and {tables / 'verdicts.csv'} ({len(verdicts)} claims scored)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, type=Path, nargs="+",
                        help="the workflow config the grid was run with (several: merged in order, as Snakemake does)")
    parser.add_argument("--out", required=True, type=Path, help="folder to write results/tables and results/figures in")
    parser.add_argument("--grid", choices=("main", "sweeps", "all", "compare"), default="main",
                        help="main: Figs. 2 and 3; sweeps: the device sweeps; all: both; compare: the algorithm "
                             "comparison (Fig. 6, the layers; default: main)")
    parser.add_argument("--task", action="append", dest="tasks",
                        help="merge only this task (repeat for several: their runs complete while others run)")
    parser.add_argument("--axis", action="append", dest="axes",
                        help="with --grid sweeps or all: merge only this sweep axis (repeatable: the complete axes "
                             "while others run)")
    parser.add_argument("parts", nargs="+", type=Path, help="table folders or workflow folders")
    args = parser.parse_args(argv)
    if args.axes and args.grid not in ("sweeps", "all"):
        parser.error("--axis needs --grid sweeps or --grid all")
    try:
        config = read_workflow_config(args.config, SCHEMA)
        write_outputs(restrict_tasks(config, args.tasks) if args.tasks else config, args.parts, args.out, args.grid,
                      args.axes)
    except (AnalogTLError, OSError, yaml.YAMLError) as error:
        print(f"merge_table_parts: {first_line(error)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

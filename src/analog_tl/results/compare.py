"""Tables and figures of the comparison experiments (algorithms x devices, analog-layer ablations).

Selection is on validation only (``docs/protocol.md``, sections 4 and 9): for
every (task, algorithm, device, analog layers) the grid point with the lowest
mean over seeds of the validation error at the selected epoch
(``best_val_error``) is selected; ties go to the lower mean validation loss
there, then to the point of smaller values (compared as numbers); means of equal
error counts tie exactly (:func:`analog_tl.results.selection.rank_mean`). Its runs' three test-error
metrics (:data:`analog_tl.results.protocol.METRICS`) are the result, with their
spread over seeds.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from analog_tl.io import read_json  # noqa: E402
from analog_tl.results.design import CompareDesign  # noqa: E402
from analog_tl.results.figures import _caption  # noqa: E402
from analog_tl.results.protocol import METRIC_COLUMNS  # noqa: E402
from analog_tl.results.questions import answers_table, questions_table  # noqa: E402
from analog_tl.results.selection import RESULT, SELECTION_SCORE, TIE_BREAK, rank_mean, with_tie_break  # noqa: E402
from analog_tl.results.tables import epochs_table, runs_table, write_csv  # noqa: E402
from analog_tl.vocabulary import (  # noqa: E402
    ALL_LAYERS, BACKBONE_LAYERS, DIGITAL_SCRATCH, DIGITAL_TL, HEAD_LAYERS, MODE_LABELS, PAPER_ALGORITHM,
    grid_point_values,
)

ARM_KEYS = ["task", "algorithm", "compare_device", "analog_layers"]
POINT_KEYS = [*ARM_KEYS, "hyperparameters"]
PAIR_COLUMNS = ["algorithm", "device", "status", "stage", "reason", "weights_moved", "compound_class", "has_fast_lr",
                "table_i_applied", "table_i_not_applicable"]
DEVICE_FIGURES = ["device_class", "device_preset", "states", "dw_min", "dw_min_std", "dw_min_dtod", "write_noise_std"]
LAYER_TEXT = {ALL_LAYERS: "all layers analog", BACKBONE_LAYERS: "backbone analog, head digital",
              HEAD_LAYERS: "head analog, backbone digital"}
REFERENCE_STYLE = {DIGITAL_TL: "-", DIGITAL_SCRATCH: ":"}  # the digital reference lines of Figs. 6 and layers


def select_points(candidates: pd.DataFrame) -> pd.DataFrame:
    """``candidates`` (one row per run) plus ``val_error_mean`` of its grid point and ``selected`` (the point chosen)."""
    missing = [c for c in [*POINT_KEYS, "seed", SELECTION_SCORE, RESULT] if c not in candidates.columns]
    if missing:
        raise ValueError(f"comparison runs lack column(s) {missing}")
    grouped = with_tie_break(candidates).groupby(POINT_KEYS)
    means = pd.concat([grouped[SELECTION_SCORE].agg(rank_mean).rename("val_error_mean"),
                       grouped[TIE_BREAK].mean().rename("val_loss_mean")], axis=1).reset_index()
    values = means.assign(_values=means["hyperparameters"].map(grid_point_values))  # last tie-break: smaller values
    order = values.sort_values([*ARM_KEYS, "val_error_mean", "val_loss_mean", "_values"], kind="stable")
    chosen = order.groupby(ARM_KEYS, sort=False).head(1)[POINT_KEYS]
    table = candidates.merge(means, on=POINT_KEYS, how="left")
    marks = table[POINT_KEYS].merge(chosen.assign(selected=True), on=POINT_KEYS, how="left")["selected"]
    return table.assign(selected=marks.fillna(False).astype(bool).to_numpy())


def summarise(selected: pd.DataFrame) -> pd.DataFrame:
    """One row per (task, algorithm, device, analog layers): the selected point's test errors over seeds.

    ``test_error_*``: the ``selected`` metric (mean, std, min, max; fractions);
    ``test_error_<metric>_mean`` for each of the three metrics; ``converged``:
    how many of the seeds' runs converged (section 3), where the runs say.
    """
    rows = selected[selected["selected"]]
    grouped = rows.groupby(ARM_KEYS, sort=True)
    result = METRIC_COLUMNS["selected"] if METRIC_COLUMNS["selected"] in rows.columns else RESULT
    summary = grouped[result].agg(n_seeds="count", test_error_mean="mean", test_error_std="std",
                                  test_error_min="min", test_error_max="max").reset_index()
    for column in METRIC_COLUMNS.values():
        if column in rows.columns:
            summary[f"{column}_mean"] = grouped[column].mean().to_numpy()
    if "converged" in rows.columns:
        summary["converged"] = grouped["converged"].sum().astype(int).to_numpy()
    firsts = grouped.first().reset_index()
    keep = ["n_classes", "hyperparameters", "val_error_mean", "val_loss_mean", "simulator", "epochs", "gamma",
            "weight_scaling_omega", *DEVICE_FIGURES]
    return summary.merge(firsts[ARM_KEYS + [c for c in keep if c in firsts.columns]], on=ARM_KEYS)


def pairs_table(pairs_path: str) -> pd.DataFrame:
    """Every configured (algorithm, device) pair: built and trained one step, or why not; device figures."""
    report = read_json(pairs_path)
    rows = []
    for pair in report["pairs"]:
        device = report["devices"].get(pair["device"], {})
        row = {c: pair.get(c, "") for c in PAIR_COLUMNS}
        row["table_i_applied"] = " ".join(pair.get("table_i_applied", []))
        row["table_i_not_applicable"] = " ".join(pair.get("table_i_not_applicable", []))
        rows.append({**row, "device_name": device.get("device"), **{k: device.get(k) for k in DEVICE_FIGURES}})
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class CompareTables:
    """The comparison's tables (``results/tables/compare_<name>.csv``, :data:`COMPARE_TABLES`).

    ``runs``: every comparison run with the grid-point selection; ``epochs``:
    their curves (:data:`EPOCH_COLUMNS`); ``summary``: the selected arms over
    seeds; ``pairs``: the pair check; ``questions`` and ``answers``: the
    questions beyond the paper per metric and per question
    (:mod:`analog_tl.results.questions`).
    """

    runs: pd.DataFrame
    epochs: pd.DataFrame
    summary: pd.DataFrame
    pairs: pd.DataFrame
    questions: pd.DataFrame
    answers: pd.DataFrame

    def write(self, paths: Mapping[str, str | Path]) -> None:
        """Write every table to ``paths[name]`` (atomically)."""
        for name in COMPARE_TABLES:
            write_csv(getattr(self, name), paths[name])


COMPARE_TABLES = tuple(f.name for f in fields(CompareTables))
# Per-epoch columns kept for the comparison runs (their settings are in the runs table, joined on ``run``).
EPOCH_COLUMNS = ["run", "epoch", "train_loss", "train_error", "val_error", "val_loss", "test_error", "seconds"]


def tables_from_runs(runs: pd.DataFrame, epochs: pd.DataFrame, digital: pd.DataFrame, pairs: pd.DataFrame,
                     design: CompareDesign) -> CompareTables:
    """The comparison's tables from its runs (with the protocol's scores), their curves, the digital runs
    (digital TL of the same pre-training and seeds) and the pair table."""
    candidates = select_points(runs.drop(columns=["selected", "val_error_mean", "val_loss_mean"], errors="ignore"))
    questions = questions_table(candidates, digital, design)
    return CompareTables(runs=candidates, epochs=epochs[[c for c in EPOCH_COLUMNS if c in epochs.columns]],
                         summary=summarise(candidates), pairs=pairs, questions=questions,
                         answers=answers_table(questions, len(design.seeds)))


def compare_tables(run_folders: list[str], pairs_path: str, digital_folders: list[str],
                   design: CompareDesign) -> CompareTables:
    """The comparison's tables from its run folders, the pair report and the digital runs' folders."""
    epochs = epochs_table(run_folders) if run_folders else pd.DataFrame(columns=EPOCH_COLUMNS)
    return tables_from_runs(runs_table(run_folders), epochs, runs_table(digital_folders), pairs_table(pairs_path),
                            design)


def _reference(runs: pd.DataFrame, task: str, mode: str) -> float:
    rows = runs[(runs["task"] == task) & (runs["mode"] == mode)]
    return 100 * rows[METRIC_COLUMNS["selected"]].mean() if len(rows) else math.nan


def _reference_lines(ax: plt.Axes, runs: pd.DataFrame, task: str) -> None:
    """The digital runs' mean test error of ``task`` as horizontal reference lines (REFERENCE_STYLE)."""
    for mode, style in REFERENCE_STYLE.items():
        level = _reference(runs, task, mode)
        if not math.isnan(level):
            ax.axhline(level, color="tab:blue", linestyle=style, linewidth=1,
                       label=f"{MODE_LABELS[mode].short} ({level:.1f} %)")


def plot_fig6(summary: pd.DataFrame, pairs: pd.DataFrame, runs: pd.DataFrame, caption: str) -> plt.Figure:
    """Selected test error (%) per algorithm (bars) and device (groups), one panel per task; digital references."""
    rows = summary[summary["analog_layers"] == ALL_LAYERS]
    tasks = sorted(summary["task"].unique()) or ["no comparison runs"]
    devices = list(dict.fromkeys(pairs["device"]))
    algorithms = list(dict.fromkeys(pairs["algorithm"]))
    failed = set(zip(pairs.loc[pairs["status"] != "ok", "algorithm"], pairs.loc[pairs["status"] != "ok", "device"]))
    fig, axes = plt.subplots(1, len(tasks), figsize=(max(6.5, 3.6 * len(tasks)), 6.0), squeeze=False)
    width = 0.8 / max(len(algorithms), 1)
    colours = plt.get_cmap("tab10").colors
    for ax, task in zip(axes[0], tasks):
        for a, algorithm in enumerate(algorithms):
            for d, device in enumerate(devices):
                x = d + (a - (len(algorithms) - 1) / 2) * width
                match = rows[(rows.task == task) & (rows.algorithm == algorithm) & (rows.compare_device == device)]
                if match.empty:  # not an arm, or the pair cannot be built (compare_pairs.csv says why)
                    if (algorithm, device) in failed:
                        ax.text(x, 1, "n/a", rotation=90, ha="center", va="bottom", fontsize=7)
                    continue
                row = match.iloc[0]
                spread = [[100 * (row.test_error_mean - row.test_error_min)], [100 * (row.test_error_max - row.test_error_mean)]]
                ax.bar(x, 100 * row.test_error_mean, width, color=colours[a % 10], yerr=spread, capsize=2,
                       label=algorithm if d == 0 else None)
        _reference_lines(ax, runs, task)
        ax.set_xticks(range(len(devices)), devices, rotation=20, ha="right")
        ax.set_xlabel("device")
        ax.set_ylabel("test error at the selected epoch (%)")
        ax.set_title(task)
        ax.legend(fontsize=7)
    fig.suptitle("Fig. 6: analog TL by training algorithm and device (bars: mean, whiskers: min-max over seeds)",
                 fontsize=10)
    fig.tight_layout(rect=(0, _caption(fig, caption), 1, 1))
    return fig


def plot_ablation(summary: pd.DataFrame, runs: pd.DataFrame, caption: str) -> plt.Figure:
    """Test error (%) of c-TTv2 analog TL with all layers, only the backbone or only the head analog; references."""
    rows = summary[summary["algorithm"] == PAPER_ALGORITHM]
    ablated = rows.loc[rows["analog_layers"] != ALL_LAYERS, "compare_device"].unique()
    rows = rows[rows["compare_device"].isin(ablated)]  # the ablation device only (all three layer sets on it)
    tasks = sorted(summary["task"].unique()) or ["no comparison runs"]
    fig, axes = plt.subplots(1, len(tasks), figsize=(max(6.5, 3.6 * len(tasks)), 6.0), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        labels, values, spreads = [], [], []
        for layers, text in LAYER_TEXT.items():
            match = rows[(rows.task == task) & (rows.analog_layers == layers)]
            if match.empty:
                continue
            row = match.iloc[0]
            labels.append(text.replace(", ", ",\n"))
            values.append(100 * row.test_error_mean)
            spreads.append((100 * (row.test_error_mean - row.test_error_min), 100 * (row.test_error_max - row.test_error_mean)))
        ax.bar(range(len(values)), values, color="tab:red", yerr=list(zip(*spreads)) if spreads else None, capsize=3)
        _reference_lines(ax, runs, task)
        ax.set_xticks(range(len(labels)), labels, fontsize=7)
        ax.set_ylabel("test error at the selected epoch (%)")
        ax.set_title(f"{task}, device {', '.join(ablated)}")
        ax.legend(fontsize=7)
    fig.suptitle("\n".join(textwrap.wrap(
        "Where the analog-digital gap comes from: c-TTv2 analog TL with all, backbone-only or head-only analog layers "
        "(bars: mean, whiskers: min-max over seeds)", 90)), fontsize=10)
    fig.tight_layout(rect=(0, _caption(fig, caption), 1, 1))
    return fig

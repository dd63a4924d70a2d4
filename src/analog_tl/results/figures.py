"""The paper's figures from the tidy tables (matplotlib, PNG and PDF)."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from analog_tl.analog.sweeps import SWEEPS  # noqa: E402
from analog_tl.io import atomic_path  # noqa: E402

MODE_STYLE = {
    "analog_tl": ("Analog TL (c-TTv2)", "tab:red", "-"),
    "digital_tl": ("Digital TL (SGD)", "tab:blue", "-"),
    "analog_scratch": ("Analog from scratch (c-TTv2)", "tab:red", ":"),
    "digital_scratch": ("Digital from scratch (SGD)", "tab:blue", ":"),
}
SELECTED = "test_error_at_best_val"


def _caption(fig: plt.Figure, text: str) -> None:
    """Settings text at the bottom left, wrapped to the figure width (about 17 characters per inch at 7 pt)."""
    width = int(fig.get_figwidth() * 17)
    fig.text(0.01, 0.01, "\n".join(textwrap.wrap(text, width)), fontsize=7, va="bottom", ha="left")


def _band(ax: plt.Axes, x: pd.Series, stats: pd.DataFrame, label: str, color: str, style: str) -> None:
    """Mean line with a min-max band over seeds."""
    ax.plot(x, 100 * stats["mean"], linestyle=style, color=color, marker="o", markersize=3, label=label)
    if (stats["max"] > stats["min"]).any():
        ax.fill_between(x, 100 * stats["min"], 100 * stats["max"], color=color, alpha=0.15, linewidth=0)


def plot_fig2(epochs: pd.DataFrame, tl_noise: float, caption: str) -> plt.Figure:
    """Test error (%) against epoch, four training modes, one panel per task.

    Analog TL is shown at transfer noise ``tl_noise``; lines are the mean over
    seeds, bands the min-max range.
    """
    tasks = list(dict.fromkeys(epochs["task"]))
    fig, axes = plt.subplots(1, len(tasks), figsize=(5.2 * len(tasks), 4.4), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        for mode, (label, color, style) in MODE_STYLE.items():
            rows = epochs[(epochs.task == task) & (epochs["mode"] == mode)]
            if mode == "analog_tl":
                rows = rows[rows.transfer_noise.astype(float).sub(tl_noise).abs() < 1e-12]
                label = f"{label}, tau={tl_noise:g}"
            if rows.empty:
                continue
            stats = rows.groupby("epoch")["test_error"].agg(["mean", "min", "max"])
            _band(ax, stats.index.to_series(), stats, label, color, style)
        n_classes = int(epochs.loc[epochs.task == task, "n_classes"].iloc[0])
        ax.axhline(100 * (1 - 1 / n_classes), color="grey", linewidth=0.8, linestyle="--", label="chance")
        ax.set(title=f"{task} ({n_classes} classes)", xlabel="fine-tuning epoch", ylabel="test error (%)")
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("Fig. 2: test error during fine-tuning (epoch 0 = before any update)")
    _caption(fig, caption)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def plot_fig3(runs: pd.DataFrame, noise: pd.DataFrame, critical: pd.DataFrame, caption: str) -> plt.Figure:
    """Test error (%) of analog TL against weight transfer noise tau, one line per task.

    The error is the test error at the epoch of lowest validation error; the
    dashed line of the same colour is digital TL; the dotted vertical line is the
    critical transfer noise (elbow of the hinge fit, ``critical``) with a band of
    +-1 std of the per-seed elbows. The top axis gives the realised noise (std of
    W_analog - W_pre, after device clipping).
    """
    fig, ax = plt.subplots(figsize=(9.0, 4.8))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for colour, task in zip(colours, dict.fromkeys(runs["task"])):
        rows = runs[(runs.task == task) & (runs["mode"] == "analog_tl")]
        stats = rows.groupby("transfer_noise")[SELECTED].agg(["mean", "min", "max"]).sort_index()
        n_classes = int(rows["n_classes"].iloc[0])
        _band(ax, stats.index.to_series(), stats, f"{task} ({n_classes} classes), analog TL", colour, "-")
        digital = runs[(runs.task == task) & (runs["mode"] == "digital_tl")][SELECTED].mean()
        ax.axhline(100 * digital, color=colour, linestyle="--", linewidth=1, label=f"{task}, digital TL")
        _mark_elbow(ax, critical[critical.task == task], task, colour)
    realised = noise.assign(n=noise.rows * noise.cols)
    realised = realised.assign(w=realised.realised_std * realised.n).groupby("tau")[["w", "n"]].sum()
    ax.set(xlabel="weight transfer noise tau (weight units, device range -1..1)", ylabel="test error (%)")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
    top = ax.secondary_xaxis("top")
    top.set_xticks(list(realised.index), [f"{v:.3g}" for v in realised.w / realised.n])
    top.set_xlabel("realised noise std after device clipping (weight units)", fontsize=8)
    ax.set_title("Fig. 3: analog TL against weight transfer noise\n(test error at best validation epoch)", fontsize=10)
    _caption(fig, caption)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    return fig


def _mark_elbow(ax: plt.Axes, critical: pd.DataFrame, task: str, colour: str) -> None:
    """Dotted line at the critical transfer noise, band of +-1 std over per-seed elbows."""
    if critical.empty or not math.isfinite(critical["elbow"].iloc[0]):
        return
    elbow, std = float(critical["elbow"].iloc[0]), float(critical["seed_elbow_std"].iloc[0])
    spread = f" +- {std:.3g}" if math.isfinite(std) else " (1 seed: no spread)"
    if bool(critical["at_grid_end"].iloc[0]):
        spread += ", no rise within the grid"
    ax.axvline(elbow, color=colour, linestyle=":", linewidth=1.5, label=f"{task}, critical noise {elbow:.3g}{spread}")
    if math.isfinite(std) and std > 0:
        ax.axvspan(elbow - std, elbow + std, color=colour, alpha=0.08, linewidth=0)


def plot_sweeps(summary: pd.DataFrame, sweeps: list[str], title: str, caption: str) -> plt.Figure:
    """Test error (%) of the selected analog TL model against each sweep in ``sweeps``, one panel each.

    ``summary`` is the sweep summary table (one row per task, sweep and value):
    lines are the mean over seeds of the selected model's test error, bands
    the min-max range over seeds; dashed lines of the task colour are chance level.
    """
    fig, axes = plt.subplots(1, len(sweeps), figsize=(max(7.5, 5.6 * len(sweeps)), 4.8), squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, sweep in zip(axes[0], sweeps):
        rows = summary[summary.sweep == sweep]
        for colour, task in zip(colours, dict.fromkeys(summary["task"])):
            task_rows = rows[rows.task == task].sort_values("sweep_value")
            if task_rows.empty:
                continue
            stats = task_rows.rename(columns=lambda c: c.removeprefix("test_error_")).set_index("sweep_value")
            n_classes = int(task_rows["n_classes"].iloc[0])
            _band(ax, stats.index.to_series(), stats, f"{task} ({n_classes} classes)", colour, "-")
            ax.axhline(100 * (1 - 1 / n_classes), color=colour, linewidth=0.8, linestyle="--", alpha=0.6,
                       label=f"{task}, chance")
        ax.set(xlabel=SWEEPS[sweep].label, ylabel="test error (%)", title=SWEEPS[sweep].label.split(" (")[0])
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    subtitle = (
        "test error of the model selected on validation error over the learning-rate grid; "
        "mean over seeds, band = min-max"
    )
    fig.suptitle("\n".join([title, *textwrap.wrap(f"({subtitle})", int(fig.get_figwidth() * 12))]), fontsize=10)
    _caption(fig, caption)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    return fig


def save_figure(fig: plt.Figure, png: str | Path, pdf: str | Path) -> None:
    """Save ``fig`` as PNG (150 dpi) and PDF, atomically."""
    for path, kwargs in ((png, {"dpi": 150}), (pdf, {})):
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=Path(path).suffix[1:], **kwargs)
    plt.close(fig)

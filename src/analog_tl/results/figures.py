"""The paper's figures from the tidy tables (matplotlib, PNG and PDF)."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from analog_tl.analog.devices import device_caption  # noqa: E402
from analog_tl.analog.sweeps import SPS_READING_TEXT, SWEEPS  # noqa: E402
from analog_tl.io import atomic_path  # noqa: E402
from analog_tl.vocabulary import (  # noqa: E402
    ANALOG_MODES, ANALOG_SCRATCH, ANALOG_TL, ANALOG_TL_FROZEN_DIGITAL, ANALOG_TL_MODES, DIGITAL_SCRATCH, DIGITAL_TL,
    MODE_LABELS, split_axis,
)

# Colour and line style of each mode's line in Fig. 2, in legend order (labels: MODE_LABELS[mode].figure).
MODE_STYLE = {
    ANALOG_TL: ("tab:red", "-"),
    ANALOG_TL_FROZEN_DIGITAL: ("tab:orange", "--"),
    DIGITAL_TL: ("tab:blue", "-"),
    ANALOG_SCRATCH: ("tab:red", ":"),
    DIGITAL_SCRATCH: ("tab:blue", ":"),
}
SELECTED = "test_error_at_best_val"


CAPTION_PT = 7  # caption font size (points)


def _caption(fig: plt.Figure, text: str) -> float:
    """Settings text at the bottom left, wrapped to the figure width (about 17 characters per inch at 7 pt).

    Returns the fraction of the figure's height the caption takes (the bottom of
    ``tight_layout``'s rect), so that the panels stay above it however many lines it wraps to.
    """
    lines = textwrap.wrap(text, int(fig.get_figwidth() * 17))
    fig.text(0.01, 0.01, "\n".join(lines), fontsize=CAPTION_PT, va="bottom", ha="left")
    inches = len(lines) * CAPTION_PT * 1.2 / 72 + 0.15  # line spacing 1.2, plus the margin below
    return min(inches / fig.get_figheight(), 0.5)


def _band(ax: plt.Axes, x: pd.Series, stats: pd.DataFrame, label: str, color: str, style: str) -> None:
    """Mean line with a min-max band over seeds."""
    ax.plot(x, 100 * stats["mean"], linestyle=style, color=color, marker="o", markersize=3, label=label)
    if (stats["max"] > stats["min"]).any():
        ax.fill_between(x, 100 * stats["min"], 100 * stats["max"], color=color, alpha=0.15, linewidth=0)


def _trained_parameters(epochs: pd.DataFrame) -> str:
    """Caption text: how many parameters trained on analog tiles and digitally, per analog mode."""
    parts = []
    for mode in ANALOG_MODES:
        rows = epochs[epochs["mode"] == mode]
        if rows.empty or "analog_parameters" not in rows.columns:
            continue
        row = rows.iloc[0]
        parts.append(
            f"{MODE_LABELS[mode].figure}: {int(row.analog_parameters):,} analog tile weights, "
            f"{int(row.digital_trained_parameters):,} digital parameters trained by SGD "
            f"({int(row.digital_frozen_parameters):,} frozen)"
        )
    if not parts:
        return ""
    return "; ".join(parts) + " (digital: LayerNorms, biases, relative-position tables)"


def plot_fig2(epochs: pd.DataFrame, tl_noise: float, caption: str) -> plt.Figure:
    """Test error (%) against epoch, one line per training mode, one panel per task.

    Analog TL (and its frozen-digital ablation) is shown at transfer noise
    ``tl_noise``; lines are the mean over seeds, bands the min-max range. The
    caption gets the analog and digital parameter counts.
    """
    tasks = list(dict.fromkeys(epochs["task"]))
    fig, axes = plt.subplots(1, len(tasks), figsize=(max(9.0, 5.2 * len(tasks)), 4.4), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        for mode, (color, style) in MODE_STYLE.items():
            rows = epochs[(epochs.task == task) & (epochs["mode"] == mode)]
            label = MODE_LABELS[mode].figure
            if mode in ANALOG_TL_MODES:
                rows = rows[rows.transfer_noise.astype(float).sub(tl_noise).abs() < 1e-12]
                label = f"{label}, tau={tl_noise:g}"
            if mode in ANALOG_MODES and not rows.empty and "fast_lr" in rows.columns:
                label = f"{label}, fast_lr {rows.fast_lr.iloc[0]:g}"
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
    trained = _trained_parameters(epochs)
    bottom = _caption(fig, f"{caption}; {trained}" if trained else caption)
    fig.tight_layout(rect=(0, bottom, 1, 1))
    return fig


def plot_fig3(runs: pd.DataFrame, noise: pd.DataFrame, critical: pd.DataFrame, caption: str) -> plt.Figure:
    """Test error (%) of analog TL against weight transfer noise tau, one line per task.

    The error is the test error at the epoch of lowest validation error; the
    dashed line of the same colour is digital TL; the shaded band of the task
    colour is the interval ``(elbow_low, elbow_high]`` of the rise test
    (``critical``; an open end is clipped at the axis end), the dotted vertical
    line the hinge-fit ``elbow_fit`` where one is reported, and the legend
    carries the flags. The top axis gives the realised noise (std of
    W_analog - W_pre, after device clipping).
    """
    fig, ax = plt.subplots(figsize=(9.0, 4.8))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    task_colours = list(zip(colours, dict.fromkeys(runs["task"])))
    for colour, task in task_colours:
        rows = runs[(runs.task == task) & (runs["mode"] == ANALOG_TL)]
        stats = rows.groupby("transfer_noise")[SELECTED].agg(["mean", "min", "max"]).sort_index()
        n_classes = int(rows["n_classes"].iloc[0])
        label = f"{task} ({n_classes} classes), {MODE_LABELS[ANALOG_TL].short}"
        _band(ax, stats.index.to_series(), stats, label, colour, "-")
        digital = runs[(runs.task == task) & (runs["mode"] == DIGITAL_TL)][SELECTED].mean()
        ax.axhline(100 * digital, color=colour, linestyle="--", linewidth=1,
                   label=f"{task}, {MODE_LABELS[DIGITAL_TL].short}")
    right = ax.get_xlim()[1]
    for colour, task in task_colours:
        _mark_elbow(ax, critical[critical.task == task], task, colour, right)
    ax.set_xlim(right=right)
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
    fig.tight_layout(rect=(0, _caption(fig, caption), 1, 1))
    return fig


def _elbow_label(task: str, c: pd.Series) -> str:
    """Legend text: interval of the rise test, fitted point with its seed spread, flags."""
    low, high, fit = float(c["elbow_low"]), float(c["elbow_high"]), float(c["elbow_fit"])
    parts = [f"critical noise in ({low:.3g}, {high:.3g}]"] if math.isfinite(high) else []
    if math.isfinite(fit):
        std = float(c["seed_elbow_fit_std"])
        parts.append(f"fit {fit:.3g}" + (f" (seed std {std:.2g})" if math.isfinite(std) else ""))
    flag = c["flag"] if isinstance(c["flag"], str) else ""  # "" reads back from CSV as NaN
    if flag:
        parts.append(flag.replace("no rise within the grid", f"no rise within the grid (tau <= {low:.3g})"))
    return f"{task}: " + "; ".join(parts)


def _mark_elbow(ax: plt.Axes, critical: pd.DataFrame, task: str, colour: str, right: float) -> None:
    """Band over the rise-test interval (an open end clipped at ``right``), dotted line at a reported fit."""
    if critical.empty:
        return
    c = critical.iloc[0]
    low, high, fit = float(c["elbow_low"]), min(float(c["elbow_high"]), right), float(c["elbow_fit"])
    if math.isfinite(low):
        ax.axvspan(low, max(high, low), color=colour, alpha=0.12, linewidth=0, label=_elbow_label(task, c))
    if math.isfinite(fit):
        ax.axvline(fit, color=colour, linestyle=":", linewidth=1.5)


def _axis_rows(summary: pd.DataFrame, name: str) -> pd.DataFrame:
    """The summary rows of sweep axis ``name``."""
    sweep, reading = split_axis(name)
    rows = summary[summary.sweep == sweep]
    return rows[rows.sps_reading == reading] if reading is not None else rows


def _plot_symmetry_points(ax: plt.Axes, rows: pd.DataFrame, colours: list[str]) -> None:
    """Measured visible symmetry point (mean +- std over the devices) against the sweep value, per task."""
    for colour, task in zip(colours, dict.fromkeys(rows["task"])):
        task_rows = rows[rows.task == task].sort_values("sweep_value")
        x, mean, std = task_rows.sweep_value, task_rows.symmetry_point_mean, task_rows.symmetry_point_std
        ax.errorbar(x, mean, yerr=std, color=colour, marker="s", markersize=3, capsize=3, label=f"{task} devices")
    ax.axhline(0.0, color="grey", linewidth=0.8)
    ax.set(ylabel="measured symmetry point\n(weight units, mean +- std)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def _error_axis_top(rows: pd.DataFrame) -> float:
    """Upper limit (%) of a sweep panel's error axis: 30 % above its largest band, in steps of 5, at most 100."""
    largest = 100 * float(rows["test_error_max"].max()) if len(rows) else 100.0
    return float(min(100.0, max(10.0, 5 * math.ceil(1.3 * largest / 5))))


def plot_sweeps(summary: pd.DataFrame, sweeps: list[str], title: str, caption: str) -> plt.Figure:
    """Test error (%) of the selected analog TL model against each sweep axis in ``sweeps``, one panel each.

    ``summary`` is the sweep summary table (one row per task, sweep, reading and
    value): lines are the mean over seeds of the selected model's test error,
    bands the min-max range over seeds; dashed lines of the task colour are
    chance level. The error axis ends 30 % above the largest band
    (:func:`_error_axis_top`), so that effects of a few points show; a chance
    level above it is named in its task's legend entry. An SpS axis (``sps_<reading>``) names what its reading varies
    and gets a second row with the measured symmetry point of its devices.
    """
    with_sp = any(split_axis(name)[1] for name in sweeps)
    nrows = 2 if with_sp else 1
    fig, axes = plt.subplots(nrows, len(sweeps), figsize=(max(7.5, 5.6 * len(sweeps)), 4.8 + 2.6 * (nrows - 1)),
                             squeeze=False, sharex="col", gridspec_kw={"height_ratios": [2, 1][:nrows]})
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for column, name in enumerate(sweeps):
        ax, (sweep, reading) = axes[0][column], split_axis(name)
        rows = _axis_rows(summary, name)
        top = _error_axis_top(rows)
        for colour, task in zip(colours, dict.fromkeys(summary["task"])):
            task_rows = rows[rows.task == task].sort_values("sweep_value")
            if task_rows.empty:
                continue
            stats = task_rows.rename(columns=lambda c: c.removeprefix("test_error_")).set_index("sweep_value")
            n_classes = int(task_rows["n_classes"].iloc[0])
            chance = 100 * (1 - 1 / n_classes)
            off_scale = f", chance {chance:.0f} % above the axis" if chance > top else ""
            _band(ax, stats.index.to_series(), stats, f"{task} ({n_classes} classes{off_scale})", colour, "-")
            if not off_scale:
                ax.axhline(chance, color=colour, linewidth=0.8, linestyle="--", alpha=0.6, label=f"{task}, chance")
        heading = SWEEPS[sweep].label.split(" (")[0]
        if reading is not None:
            heading = f"{heading}, reading '{reading}':\n{SPS_READING_TEXT[reading]}"
        ax.set(ylabel="test error (%)", title=heading)
        ax.set_ylim(0, top)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        if with_sp and reading is not None:
            _plot_symmetry_points(axes[1][column], rows, colours)
        elif with_sp:
            axes[1][column].set_visible(False)
        bottom = axes[1][column] if with_sp and reading is not None else ax  # the lowest visible panel
        bottom.set_xlabel(SWEEPS[sweep].label)
        ax.tick_params(labelbottom=True)
    subtitle = (
        "test error of the model selected on validation error over the learning-rate grid; "
        "mean over seeds, band = min-max"
    )
    fig.suptitle("\n".join([title, *textwrap.wrap(f"({subtitle})", int(fig.get_figwidth() * 12))]), fontsize=10)
    fig.tight_layout(rect=(0, _caption(fig, caption), 1, 1))
    return fig


def save_figure(fig: plt.Figure, png: str | Path, pdf: str | Path) -> None:
    """Save ``fig`` as PNG (150 dpi) and PDF, atomically."""
    for path, kwargs in ((png, {"dpi": 150}), (pdf, {})):
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=Path(path).suffix[1:], **kwargs)
    plt.close(fig)


def write_fig2(epochs_csv: str | Path, tl_noise: float, caption: str, device: dict, png: str | Path,
               pdf: str | Path) -> None:
    """Fig. 2 from ``epochs.csv``: analog TL at transfer noise ``tl_noise``; ``device`` is the config's analog.device."""
    figure = plot_fig2(pd.read_csv(epochs_csv), float(tl_noise), caption + "; " + device_caption(device))
    save_figure(figure, png, pdf)


def write_fig3(runs_csv: str | Path, noise_csv: str | Path, critical_csv: str | Path, caption: str, device: dict,
               png: str | Path, pdf: str | Path) -> None:
    """Fig. 3 from ``runs.csv``, ``transfer_noise.csv`` and ``critical_noise.csv``."""
    figure = plot_fig3(pd.read_csv(runs_csv), pd.read_csv(noise_csv), pd.read_csv(critical_csv),
                       caption + "; " + device_caption(device))
    save_figure(figure, png, pdf)

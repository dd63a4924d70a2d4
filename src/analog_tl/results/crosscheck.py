"""Cross-check of two simulators on the same runs: the fast simulator against aihwkit on a real task.

Every real-CIFAR analog number comes from the project's own simulator; this
compares runs that differ only in ``analog.simulator`` (same task, mode,
transfer noise, ``fast_lr``, seed) under the comparison protocol
(``docs/protocol.md``, section 7.6): per metric the paired difference
``other - reference`` over seeds with its verdict interval. The simulators
agree on a metric when that interval contains 0; the table also gives the
reference's spread over seeds, so a difference can be read against it.
"""

from __future__ import annotations

import math

import pandas as pd

from analog_tl.results.protocol import METRIC_COLUMNS, METRICS, paired_difference

ARM = ["task", "mode", "transfer_noise", "fast_lr"]


def _arm_key(runs: pd.DataFrame) -> pd.Series:
    noise = runs["transfer_noise"].astype(float).fillna(-1.0)
    return pd.Series(list(zip(runs["task"], runs["mode"], noise, runs["fast_lr"].astype(float))), index=runs.index)


def simulator_agreement(reference: pd.DataFrame, other: pd.DataFrame) -> pd.DataFrame:
    """One row per arm both tables hold and metric: ``other - reference`` (points) over their shared seeds.

    ``reference`` and ``other`` are runs tables with the protocol's metric
    columns and ``n_test``. Columns: the arm, ``simulator`` of each side,
    ``metric``, the :class:`~analog_tl.results.protocol.Difference` fields,
    ``reference_seed_std`` and ``other_seed_std`` (points, ddof 1), ``agree``.
    Raises ValueError when the tables share no arm.
    """
    ref_keys, other_keys = _arm_key(reference), _arm_key(other)
    shared = [k for k in dict.fromkeys(other_keys) if k in set(ref_keys)]
    if not shared:
        raise ValueError("the two runs tables share no (task, mode, transfer_noise, fast_lr) arm")
    rows = []
    for key in shared:
        ref, oth = reference[ref_keys == key], other[other_keys == key]
        for metric in METRICS:
            column = METRIC_COLUMNS[metric]
            a, b = oth.set_index("seed")[column], ref.set_index("seed")[column]
            diff = paired_difference(a, b, float(oth["n_test"].mean()), float(ref["n_test"].mean()))
            seeds = a.index.intersection(b.index)
            rows.append({
                **dict(zip(ARM, key)),
                "reference_simulator": ref["simulator"].iloc[0], "other_simulator": oth["simulator"].iloc[0],
                "metric": metric, **diff.as_dict(),
                "reference_seed_std": 100 * float(b.loc[seeds].std()) if len(seeds) > 1 else math.nan,
                "other_seed_std": 100 * float(a.loc[seeds].std()) if len(seeds) > 1 else math.nan,
                "agree": bool(diff.low <= 0 <= diff.high) if math.isfinite(diff.low) else False,
            })
    return pd.DataFrame(rows)


def plot_simulator_curves(reference: pd.DataFrame, other: pd.DataFrame, caption: str):
    """Test error against epoch of the runs both simulators made, one colour per seed (epochs tables).

    Solid: ``reference`` (the fast simulator); dashed: ``other`` (aihwkit). One
    panel per (task, mode) that both tables hold; errors in percent.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from analog_tl.results.figures import _caption

    def runs_of(table: pd.DataFrame) -> pd.Series:
        return pd.Series(list(zip(_arm_key(table), table["seed"].astype(int))), index=table.index)

    shared = set(runs_of(reference)) & set(runs_of(other))  # the same run (arm and seed) on both simulators
    if not shared:
        raise ValueError("the two epochs tables share no run (task, mode, transfer_noise, fast_lr, seed)")
    reference, other = reference[runs_of(reference).isin(shared)], other[runs_of(other).isin(shared)]
    arms = sorted({key for key, _ in shared})
    fig, axes = plt.subplots(1, len(arms), figsize=(6.5 * len(arms), 4.8), squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, arm in zip(axes[0], arms):
        task, mode, noise, fast_lr = arm
        for table, style in ((reference, "-"), (other, "--")):
            rows = table[_arm_key(table) == arm]
            for seed, run in rows.groupby("seed"):
                run = run.sort_values("epoch")
                ax.plot(run["epoch"], 100 * run["test_error"], style, color=colours[int(seed) % len(colours)],
                        label=f"{run['simulator'].iloc[0]} simulator, seed {seed}")
        ax.set(title=f"{task}, {mode}, tau {max(noise, 0):g}, fast_lr {fast_lr:g}", xlabel="fine-tuning epoch",
               ylabel="test error (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("The fast simulator against aihwkit on the same runs (test error per epoch)")
    fig.tight_layout(rect=(0, _caption(fig, caption), 1, 0.95))
    return fig

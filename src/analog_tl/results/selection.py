"""Learning-rate selection for the device sweeps, on validation error only.

For every device setting the paper varies the learning rate and keeps the best
model. Here every (task, sweep, value, seed) point is trained at each learning
rate of the grid; the candidate with the lowest validation error (at its
epoch of lowest validation error) is selected, and its test error at that
epoch is the point's result. Test errors never enter the choice; ties go to
the smaller learning rate.
"""

from __future__ import annotations

import pandas as pd

POINT_KEYS = ["task", "sweep", "sweep_value", "seed"]
SELECTION_SCORE = "best_val_error"
RESULT = "test_error_at_best_val"


def select_learning_rates(candidates: pd.DataFrame) -> pd.DataFrame:
    """``candidates`` (one row per run, with ``lr`` and :data:`SELECTION_SCORE`) plus a ``selected`` column.

    Exactly one row per (task, sweep, sweep_value, seed) is selected.
    """
    missing = [c for c in [*POINT_KEYS, "lr", SELECTION_SCORE, RESULT] if c not in candidates.columns]
    if missing:
        raise ValueError(f"sweep table lacks column(s) {missing}")
    order = candidates.sort_values([*POINT_KEYS, SELECTION_SCORE, "lr"], kind="stable")
    chosen = order.groupby(POINT_KEYS, sort=False).head(1).index
    table = candidates.copy()
    table["selected"] = table.index.isin(chosen)
    return table


def summarise_sweeps(selected: pd.DataFrame) -> pd.DataFrame:
    """Mean, std (ddof 1), min and max over seeds of the selected models' test error, per sweep point.

    One row per (task, sweep, sweep_value); errors are fractions; ``lrs`` lists the
    selected learning rate of each seed in seed order.
    """
    rows = selected[selected["selected"]].sort_values([*POINT_KEYS])
    grouped = rows.groupby(["task", "n_classes", "sweep", "sweep_value"], sort=True)
    summary = grouped[RESULT].agg(["count", "mean", "std", "min", "max"]).reset_index()
    summary = summary.rename(columns={"count": "n_seeds"})
    summary["lrs"] = grouped["lr"].agg(lambda v: " ".join(f"{x:g}" for x in v)).to_numpy()
    return summary.rename(columns={c: f"test_error_{c}" for c in ("mean", "std", "min", "max")})

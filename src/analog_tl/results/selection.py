"""Hyper-parameter selection on validation error only: sweep learning rates and c-TTv2's fast_lr.

For every device setting the paper varies the learning rate and keeps the best
model. Here every (task, sweep, value, seed) point is trained at each learning
rate of the grid; the candidate with the lowest validation error (at its
selected epoch: :mod:`analog_tl.results.protocol`) is selected, and its test
error at that epoch is the point's result. Test errors never enter the choice;
ties go to the lower validation loss at that epoch, then to the smaller
learning rate.

``fast_lr`` (not in Table I) is chosen once per task and mode: the candidate
with the lowest mean over seeds of ``best_val_error``; ties go to the lower mean
validation loss, then to the smaller value. Tables made before the validation
loss was recorded have no ``best_val_loss``; their ties go to the smaller value.
"""

from __future__ import annotations

import pandas as pd

POINT_KEYS = ["task", "sweep", "sps_reading", "sweep_value", "seed"]  # sps_reading is empty except for SpS
SELECTION_SCORE = "best_val_error"
TIE_BREAK = "best_val_loss"
RESULT = "test_error_at_best_val"
RANK_DECIMALS = 12  # seed means of error fractions k/N that are equal in exact arithmetic tie after this rounding


def rank_mean(values: pd.Series) -> float:
    """Mean of ``values`` (fractions) rounded to :data:`RANK_DECIMALS`, so that equal error counts tie exactly.

    (1, 1, 7)/100 and (3, 3, 3)/100 average to 0.030000000000000002 and 0.03 in
    floating point; a ranking on the raw means would decide their tie by
    rounding, not by the validation loss the protocol names.
    """
    return round(float(values.mean()), RANK_DECIMALS)


def select_learning_rates(candidates: pd.DataFrame) -> pd.DataFrame:
    """``candidates`` (one row per run, with ``lr`` and :data:`SELECTION_SCORE`) plus a ``selected`` column.

    Exactly one row per (task, sweep, sweep_value, seed) is selected.
    """
    if "sps_reading" not in candidates.columns:  # tables of sweeps other than SpS may lack it
        candidates = candidates.assign(sps_reading=None)
    missing = [c for c in [*POINT_KEYS, "lr", SELECTION_SCORE, RESULT] if c not in candidates.columns]
    if missing:
        raise ValueError(f"sweep table lacks column(s) {missing}")
    order = with_tie_break(candidates).sort_values([*POINT_KEYS, SELECTION_SCORE, TIE_BREAK, "lr"], kind="stable")
    chosen = order.groupby(POINT_KEYS, sort=False, dropna=False).head(1).index
    table = candidates.copy()
    table["selected"] = table.index.isin(chosen)
    return table


def check_candidates_complete(candidates: pd.DataFrame, lrs: list[float]) -> None:
    """ValueError naming the first sweep point that lacks a run at one of ``lrs`` (a choice among fewer is no choice)."""
    table = candidates.assign(sps_reading=None) if "sps_reading" not in candidates.columns else candidates
    for point, rows in table.groupby(POINT_KEYS, sort=True, dropna=False):
        lacking = sorted(set(lrs) - set(rows["lr"].astype(float)))
        if lacking:
            where = ", ".join(f"{k} {v}" for k, v in zip(POINT_KEYS, point) if not pd.isna(v))
            raise ValueError(f"sweep point ({where}) has no run at learning rate(s) {lacking}")


def with_tie_break(candidates: pd.DataFrame) -> pd.DataFrame:
    """``candidates`` with a :data:`TIE_BREAK` column (NaN where the table predates it)."""
    return candidates if TIE_BREAK in candidates.columns else candidates.assign(**{TIE_BREAK: float("nan")})


def summarise_sweeps(selected: pd.DataFrame) -> pd.DataFrame:
    """Mean, std (ddof 1), min and max over seeds of the selected models' test error, per sweep point.

    One row per (task, sweep, sps_reading, sweep_value); errors are fractions; ``lrs`` lists the
    selected learning rate of each seed in seed order; ``symmetry_point_mean``/``_std`` are the
    measured visible symmetry points of the point's devices (weight units, mean over its runs).
    """
    rows = selected[selected["selected"]].sort_values([*POINT_KEYS])
    grouped = rows.groupby(["task", "n_classes", "sweep", "sps_reading", "sweep_value"], sort=True, dropna=False)
    summary = grouped[RESULT].agg(["count", "mean", "std", "min", "max"]).reset_index()
    summary = summary.rename(columns={"count": "n_seeds"})
    summary["lrs"] = grouped["lr"].agg(lambda v: " ".join(f"{x:g}" for x in v)).to_numpy()
    for column in ("fast_lr", "symmetry_point_mean", "symmetry_point_std"):
        if column in rows.columns:
            summary[column] = grouped[column].mean().to_numpy()
    return summary.rename(columns={c: f"test_error_{c}" for c in ("mean", "std", "min", "max")})


FAST_LR_KEYS = ["task", "mode", "fast_lr"]


def select_fast_lr(candidates: pd.DataFrame) -> pd.DataFrame:
    """One row per (task, mode, fast_lr): validation error over seeds and a ``selected`` column.

    ``candidates`` has one row per run with ``task``, ``mode``, ``fast_lr``, ``seed``,
    :data:`SELECTION_SCORE` and :data:`RESULT`; exactly one fast_lr per (task, mode)
    is selected. The test error columns are reported, never used.
    """
    missing = [c for c in [*FAST_LR_KEYS, "seed", SELECTION_SCORE, RESULT] if c not in candidates.columns]
    if missing:
        raise ValueError(f"fast_lr candidates lack column(s) {missing}")
    grouped = with_tie_break(candidates).groupby(FAST_LR_KEYS, sort=True)
    table = grouped[SELECTION_SCORE].agg(n_seeds="count", val_error_mean=rank_mean, val_error_std="std").reset_index()
    table["val_loss_mean"] = grouped[TIE_BREAK].mean().to_numpy()
    table["test_error_mean"] = grouped[RESULT].mean().to_numpy()
    order = table.sort_values(["task", "mode", "val_error_mean", "val_loss_mean", "fast_lr"], kind="stable")
    table["selected"] = table.index.isin(order.groupby(["task", "mode"], sort=False).head(1).index)
    return table

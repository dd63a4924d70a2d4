"""The critical weight transfer noise: the elbow of test error against transfer noise.

Method (two-segment "hinge" fit): the test error ``y`` against transfer noise
``x`` is modelled as flat up to the elbow ``b`` and linear after it,

    y(x) = c + s * max(0, x - b),   s >= 0,

and ``(b, c, s)`` minimise the squared error: for each candidate ``b`` on a
fine grid over ``[min x, max x]``, ``c`` and ``s`` are a linear least-squares
fit (``s`` clipped at 0, where the best fit is the mean). Among equally good
``b`` the largest is taken (the error has not risen before it). An elbow at
the largest noise level means no rise was found within the grid.

Uncertainty from the seeds: the same fit on each seed's curve gives one elbow
per seed; the table reports the elbow of the seed-mean curve with the
standard deviation (ddof 1) and range of the per-seed elbows.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

GRID_POINTS = 2001


@dataclass(frozen=True)
class HingeFit:
    """Two-segment fit: ``plateau`` up to ``elbow``, then ``slope`` per unit of x."""

    elbow: float
    plateau: float
    slope: float
    sse: float
    at_grid_end: bool


def fit_hinge(x: np.ndarray, y: np.ndarray, grid_points: int = GRID_POINTS) -> HingeFit:
    """Fit ``y = c + s max(0, x - b)`` (``s >= 0``) by a grid search over ``b``.

    Args:
        x: noise levels, shape (n,), at least 3 distinct values.
        y: test errors at ``x``, shape (n,).
        grid_points: candidate elbows, evenly spaced over ``[min x, max x]``.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x and y must be 1-D of one length, got {x.shape} and {y.shape}")
    if len(np.unique(x)) < 3:
        raise ValueError(f"an elbow needs at least 3 distinct transfer-noise levels, got {sorted(set(x.tolist()))}")
    if not np.all(np.isfinite(y)):
        raise ValueError("test errors contain NaN or infinite values")
    best: HingeFit | None = None
    for b in np.linspace(x.min(), x.max(), grid_points):
        fit = _fit_at(x, y, float(b))
        if best is None or fit.sse <= best.sse + 1e-12 * max(1.0, best.sse):
            best = fit
    assert best is not None
    return dataclasses.replace(best, at_grid_end=bool(np.isclose(best.elbow, x.max())))


def _fit_at(x: np.ndarray, y: np.ndarray, b: float) -> HingeFit:
    """Least-squares plateau and non-negative slope for a fixed elbow ``b``."""
    hinge = np.maximum(0.0, x - b)
    if np.any(hinge > 0):
        design = np.column_stack([np.ones_like(x), hinge])
        (c, s), *_ = np.linalg.lstsq(design, y, rcond=None)
    else:
        c, s = float(y.mean()), 0.0
    if s < 0:
        c, s = float(y.mean()), 0.0
    sse = float(np.sum((y - c - s * hinge) ** 2))
    return HingeFit(b, float(c), float(s), sse, False)


def critical_noise(runs: pd.DataFrame, metric: str = "test_error_at_best_val") -> pd.DataFrame:
    """Critical transfer noise per task from the analog TL rows of the runs table.

    Returns one row per task: the hinge fit of the seed-mean curve (``elbow``,
    ``plateau``, ``slope``), the per-seed elbows (mean, std with ddof 1, min,
    max, count) and ``at_grid_end``. Errors are fractions, noise in weight units.
    A task with fewer than 3 noise levels gets NaN (no elbow can be fitted).
    """
    rows = []
    analog = runs[runs["mode"] == "analog_tl"]
    for task, group in analog.groupby("task", sort=False):
        mean_curve = group.groupby("transfer_noise")[metric].mean()
        if mean_curve.size < 3:  # too few levels for an elbow: report NaN rather than a guess
            fit = HingeFit(np.nan, np.nan, np.nan, np.nan, False)
        else:
            fit = fit_hinge(mean_curve.index.to_numpy(float), mean_curve.to_numpy(float))
        per_seed = [
            fit_hinge(g["transfer_noise"].to_numpy(float), g[metric].to_numpy(float)).elbow
            for _, g in group.groupby("seed")
            if g["transfer_noise"].nunique() >= 3
        ]
        rows.append(
            {
                "task": task,
                "n_classes": int(group["n_classes"].iloc[0]),
                **asdict(fit),
                "n_seeds": len(per_seed),
                "seed_elbow_mean": float(np.mean(per_seed)) if per_seed else np.nan,
                "seed_elbow_std": float(np.std(per_seed, ddof=1)) if len(per_seed) > 1 else np.nan,
                "seed_elbow_min": float(np.min(per_seed)) if per_seed else np.nan,
                "seed_elbow_max": float(np.max(per_seed)) if per_seed else np.nan,
                "noise_levels": int(mean_curve.size),
                "metric": metric,
            }
        )
    return pd.DataFrame(rows)

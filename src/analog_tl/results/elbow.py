"""The critical weight transfer noise: where the test error of analog TL starts to rise with transfer noise.

Fixed in advance (before looking at any result):

1. **Rise test per noise level.** ``e(tau)`` is the seed-mean test error
   (fraction; ``mode == "analog_tl"`` rows, metric ``test_error_at_best_val``)
   at each noise level ``tau`` (weight units). Its standard error is

       se_binom = sqrt(e (1 - e) / N),   N = sum of ``n_test`` over the runs at tau

   (binomial SE of the pooled test predictions, ``N = n_test * n_seeds``; a
   closed-form stand-in for a bootstrap over test images), and with >= 2 seeds
   ``se = max(se_binom, std_over_seeds(ddof=1) / sqrt(n_seeds))``. Without an
   ``n_test`` column (or with NaN in it) only the seed term is used; with one
   seed and no ``n_test`` no SE is available, it is set to 0 (any increase is
   a rise) and flagged ``se_missing``. A level has *risen* when

       e(tau) - e(tau_0) > RISE_Z * sqrt(se(tau)^2 + se(tau_0)^2),   RISE_Z = 2,

   ``tau_0`` the smallest level. ``i*`` is the first risen level.
2. **Interval.** The critical noise lies in ``(elbow_low, elbow_high]``:
   ``elbow_low`` is the level before ``i*`` (the last not risen), ``elbow_high``
   the level ``i*``. No rise: ``elbow_low`` = largest tau, ``elbow_high = inf``.
3. **Fitted point.** ``y = c + s max(0, x - b)``, ``s >= 0``, least squares
   with ``b`` searched over ``[x_0, x_{n-2})`` (so that at least two levels lie
   beyond ``b``). ``elbow_fit`` (with ``plateau``, ``slope``, ``sse``) is
   reported only with >= 3 levels, when the rise test found a rise before the
   last level, and when the best ``b`` is not at the upper end of its search
   range (a fit that only the last interval supports is degenerate); NaN otherwise.
4. **Flags.** ``rises_only_at_last_level``, ``no_rise_within_grid``,
   ``near_chance`` (``e(tau_0) >= chance - RISE_Z * se(tau_0)``, chance
   ``1 - 1/n_classes``), ``se_missing``; ``flag`` joins them as text.

Uncertainty: from seeds (seed-std term of the SE; per-seed fits, summarised as
``seed_elbow_fit_*`` over the seeds whose own curve gives a reportable fit,
and per-seed rise tests with the binomial SE only, summarised as
``seed_elbow_high_min/max``) and from test-image sampling (the binomial SE).
No bootstrap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analog_tl.vocabulary import ANALOG_TL

GRID_POINTS = 2001
RISE_Z = 2.0
METRIC = "test_error_at_best_val"
FLAG_TEXT = {
    "rises_only_at_last_level": "rise only at the last noise level",
    "no_rise_within_grid": "no rise within the grid",
    "near_chance": "near chance",
    "se_missing": "no standard error (1 seed, no n_test)",
}


@dataclass(frozen=True)
class HingeFit:
    """Two-segment fit: ``plateau`` up to ``elbow``, then ``slope`` per unit of x.

    ``elbow`` is NaN and ``at_grid_end`` True when the data support no elbow
    with two levels beyond it: the best fit is flat (``slope == 0``) or its
    elbow is at the upper end of the search range (the rise is in the last
    interval only). ``n_beyond``: distinct levels with ``x > elbow``.
    """

    elbow: float
    plateau: float
    slope: float
    sse: float
    at_grid_end: bool
    n_beyond: int

    @property
    def reportable(self) -> bool:
        """True when the elbow is finite, the slope positive and >= 2 levels lie beyond it."""
        return bool(np.isfinite(self.elbow) and self.slope > 0 and self.n_beyond >= 2 and not self.at_grid_end)


def _candidates(levels: np.ndarray, grid_points: int) -> np.ndarray:
    """Candidate elbows on ``[levels[0], levels[-2])``: an even grid plus the levels themselves, sorted."""
    grid = np.linspace(levels[0], levels[-2], grid_points, endpoint=False)
    return np.unique(np.concatenate([grid, levels[levels < levels[-2]]]))


def fit_hinge(x: np.ndarray, y: np.ndarray, grid_points: int = GRID_POINTS) -> HingeFit:
    """Fit ``y = c + s max(0, x - b)`` (``s >= 0``) by a grid search over ``b`` in ``[x_0, x_{n-2})``.

    Args:
        x: noise levels, shape (m,), at least 3 distinct values (repeats allowed).
        y: test errors at ``x``, shape (m,).
        grid_points: evenly spaced candidate elbows (the distinct levels are added).

    Among equally good ``b`` the largest is taken. See ``HingeFit`` for the
    degenerate cases (flat curve, rise only in the last interval).
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x and y must be 1-D of one length, got {x.shape} and {y.shape}")
    levels = np.unique(x)
    if levels.size < 3:
        raise ValueError(f"an elbow needs at least 3 distinct transfer-noise levels, got {levels.tolist()}")
    if not np.all(np.isfinite(y)):
        raise ValueError("test errors contain NaN or infinite values")
    b = _candidates(levels, grid_points)
    hinge = np.maximum(0.0, x[None, :] - b[:, None])  # (candidates, m)
    h_centred = hinge - hinge.mean(axis=1, keepdims=True)
    var = np.sum(h_centred**2, axis=1)
    slope = np.where(var > 0, h_centred @ (y - y.mean()) / np.where(var > 0, var, 1.0), 0.0)
    slope = np.maximum(slope, 0.0)  # s < 0 is not allowed: the best s >= 0 is then 0, c the mean
    plateau = y.mean() - slope * hinge.mean(axis=1)
    sse = np.sum((y[None, :] - plateau[:, None] - slope[:, None] * hinge) ** 2, axis=1)
    tied = np.flatnonzero(sse <= sse.min() + 1e-12 * max(1.0, float(sse.min())))
    best = int(tied[-1])
    degenerate = slope[best] == 0 or best == b.size - 1
    return HingeFit(
        elbow=np.nan if degenerate else float(b[best]),
        plateau=float(plateau[best]),
        slope=float(slope[best]),
        sse=float(sse[best]),
        at_grid_end=bool(degenerate),
        n_beyond=int(np.sum(levels > b[best])),
    )


@dataclass(frozen=True)
class Levels:
    """One error curve: per noise level (shape (n,), sorted by ``tau``) the error, its SE and the seed count."""

    tau: np.ndarray
    error: np.ndarray
    se: np.ndarray
    n_seeds: np.ndarray
    se_missing: bool


def binomial_se(p: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Binomial standard error ``sqrt(p (1 - p) / n)`` of an error rate ``p`` over ``n`` test images (NaN n -> NaN)."""
    p, n = np.asarray(p, dtype=float), np.asarray(n, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sqrt(p * (1.0 - p) / n)


def _n_test(rows: pd.DataFrame) -> pd.Series:
    """``n_test`` of each run, NaN where the column is missing."""
    return rows["n_test"].astype(float) if "n_test" in rows else pd.Series(np.nan, index=rows.index)


def level_stats(rows: pd.DataFrame, metric: str = METRIC, seed_term: bool = True) -> Levels:
    """Seed-mean error per level with ``se = max(binomial, seed std / sqrt(n_seeds))`` (the seed term with >= 2 seeds).

    ``rows``: runs of one task (or one seed) with ``transfer_noise``, ``metric``
    and optionally ``n_test``. ``seed_term=False`` gives the binomial SE only.
    """
    frame = pd.DataFrame({"tau": rows["transfer_noise"].astype(float), "e": rows[metric].astype(float),
                          "n_test": _n_test(rows)})
    by = frame.groupby("tau", sort=True)
    error = by["e"].mean().to_numpy()
    k = by["e"].count().to_numpy()
    pooled = by["n_test"].apply(lambda n: n.sum() if n.notna().all() else np.nan).to_numpy(float)
    se = binomial_se(error, pooled)
    if seed_term:
        seed = np.where(k >= 2, by["e"].std(ddof=1).to_numpy() / np.sqrt(k), np.nan)
        se = np.fmax(se, seed)
    missing = bool(np.isnan(se).any())
    return Levels(by["e"].mean().index.to_numpy(float), error, np.nan_to_num(se, nan=0.0), k, missing)


@dataclass(frozen=True)
class RiseTest:
    """Outcome of the rise test: the critical noise lies in ``(elbow_low, elbow_high]``; ``first`` is ``i*`` or None."""

    elbow_low: float
    elbow_high: float
    first: int | None
    n_levels: int

    @property
    def no_rise(self) -> bool:
        return self.first is None

    @property
    def only_at_last_level(self) -> bool:
        return self.first is not None and self.first == self.n_levels - 1


def rise_test(levels: Levels, z: float = RISE_Z) -> RiseTest:
    """First level whose error exceeds the ``tau_0`` error by more than ``z`` combined SEs."""
    n = levels.tau.size
    threshold = z * np.sqrt(levels.se**2 + levels.se[0] ** 2)
    risen = np.flatnonzero((levels.error - levels.error[0] > threshold)[1:]) + 1
    if risen.size == 0:
        return RiseTest(float(levels.tau[-1]) if n else np.nan, np.inf, None, n)
    first = int(risen[0])
    return RiseTest(float(levels.tau[first - 1]), float(levels.tau[first]), first, n)


def fitted_elbow(levels: Levels, rise: RiseTest) -> HingeFit | None:
    """Hinge fit of the curve, or None where it is not reported (< 3 levels, no rise, rise only at the last level)."""
    if levels.tau.size < 3 or rise.no_rise or rise.only_at_last_level:
        return None
    fit = fit_hinge(levels.tau, levels.error)
    return fit if fit.reportable else None


def _seed_summary(rows: pd.DataFrame, metric: str, z: float) -> dict[str, float | int]:
    """Per-seed fits (reportable ones) and per-seed first-risen levels (binomial SE only)."""
    fits, highs = [], []
    for _, seed_rows in rows.groupby("seed", sort=True):
        levels = level_stats(seed_rows, metric, seed_term=False)
        rise = rise_test(levels, z)
        highs.append(rise.elbow_high)
        fit = fitted_elbow(levels, rise)
        if fit is not None:
            fits.append(fit.elbow)
    return {
        "n_seeds_fit": len(fits),
        "seed_elbow_fit_mean": float(np.mean(fits)) if fits else np.nan,
        "seed_elbow_fit_std": float(np.std(fits, ddof=1)) if len(fits) > 1 else np.nan,
        "seed_elbow_fit_min": float(np.min(fits)) if fits else np.nan,
        "seed_elbow_fit_max": float(np.max(fits)) if fits else np.nan,
        "seed_elbow_high_min": float(np.min(highs)) if highs else np.nan,
        "seed_elbow_high_max": float(np.max(highs)) if highs else np.nan,
    }


def flag_text(flags: dict[str, bool]) -> str:
    """Human-readable flags joined with "; " ("" when none)."""
    return "; ".join(text for name, text in FLAG_TEXT.items() if flags.get(name))


def _task_row(task: str, rows: pd.DataFrame, metric: str, z: float) -> dict:
    """One row of ``critical_noise`` for the analog TL runs ``rows`` of one task."""
    levels = level_stats(rows, metric)
    rise = rise_test(levels, z)
    fit = fitted_elbow(levels, rise)
    n_classes = int(rows["n_classes"].iloc[0])
    chance = 1.0 - 1.0 / n_classes
    flags = {
        "rises_only_at_last_level": rise.only_at_last_level,
        "no_rise_within_grid": rise.no_rise,
        "near_chance": bool(levels.error[0] >= chance - z * levels.se[0]),
        "se_missing": levels.se_missing,
    }
    return {
        "task": task,
        "n_classes": n_classes,
        "metric": metric,
        "noise_levels": int(levels.tau.size),
        "n_seeds": int(rows["seed"].nunique()),
        "z": z,
        "tau_0_error": float(levels.error[0]),
        "tau_0_se": float(levels.se[0]),
        "chance_error": chance,
        "elbow_low": rise.elbow_low,
        "elbow_high": rise.elbow_high,
        "elbow_fit": fit.elbow if fit else np.nan,
        "plateau": fit.plateau if fit else np.nan,
        "slope": fit.slope if fit else np.nan,
        "sse": fit.sse if fit else np.nan,
        **flags,
        "flag": flag_text(flags),
        **_seed_summary(rows, metric, z),
    }


def critical_noise(runs: pd.DataFrame, metric: str = METRIC, z: float = RISE_Z) -> pd.DataFrame:
    """Critical transfer noise per task from the analog TL rows of the runs table (see the module docstring).

    ``runs`` needs ``task``, ``mode``, ``seed``, ``n_classes``, ``transfer_noise``
    and ``metric`` (fraction); ``n_test`` (test images per run) is optional.
    Returns one row per task; noise in weight units, errors as fractions.
    """
    analog = runs[(runs["mode"] == ANALOG_TL) & runs["transfer_noise"].notna() & runs[metric].notna()]
    rows = [_task_row(task, group, metric, z) for task, group in analog.groupby("task", sort=False)]
    return pd.DataFrame(rows)

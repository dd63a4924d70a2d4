"""The comparison protocol: how one run is scored, when it has converged, and how two arms are compared.

Written down in ``docs/protocol.md`` before the runs it governs; this module is
its only implementation. Errors are fractions in [0, 1] per run; differences
between arms are in percentage points.

Scores of one run (three metrics, all on the test set, none used for a choice):

- ``selected``: test error at the epoch of lowest validation error, ties broken
  by the lowest validation loss, then by the earliest epoch. Records without a
  validation loss (made before it was recorded) break ties by the mean test
  error over the tied epochs, which favours no arm.
- ``last``: test error after the last epoch.
- ``last10``: mean test error over the last :data:`LAST_K` epochs.

Convergence of one run (training loss only): with ``E`` epochs, a window of the
last ``ceil(0.2 E)`` epochs and a span ``k = max(1, round(0.05 E))``, the
relative fall ``(L_a - L_b) / L_a`` of the mean training loss over the ``k``
epochs ending where the window starts (``L_a``) to the last ``k`` epochs
(``L_b``). The run has converged when the fall is below
:data:`CONVERGENCE_MAX_FALL` or ``L_b`` below :data:`CONVERGENCE_LOSS_FLOOR` nats.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd


def _student_t():
    """scipy's Student t distribution, imported when a comparison is scored (scipy.stats takes about a second to
    import, and every training job imports this module for its epoch selection)."""
    from scipy import stats

    return stats.t


CONFIDENCE = 0.95
LAST_K = 10
METRICS = ("selected", "last", "last10")
METRIC_COLUMNS = {metric: f"test_error_{metric}" for metric in METRICS}
METRIC_TEXT = {
    "selected": "test error at the epoch of lowest validation error (ties: lowest validation loss)",
    "last": "test error after the last epoch",
    "last10": f"mean test error over the last {LAST_K} epochs",
}
CONVERGENCE_WINDOW = 0.2  # fraction of the epochs at the end of training
CONVERGENCE_SPAN = 0.05  # fraction of the epochs averaged at each end of the window (>= 1 epoch)
CONVERGENCE_MAX_FALL = 0.02  # relative fall of the training loss over the window
CONVERGENCE_LOSS_FLOOR = 0.01  # nats: a run this close to zero training loss has converged
NO_EFFECT_MARGIN = 5.0  # percentage points: the largest degradation that "no effect" allows
ABOUT_FACTOR = 2.0  # "about m" means within [m / 2, 2 m]

REPRODUCED, NOT_REPRODUCED, UNDECIDED, INCONCLUSIVE = "reproduced", "not reproduced", "undecided", "inconclusive"


# --- scores of one run ----------------------------------------------------------------


def select_epoch(epochs: pd.DataFrame) -> tuple[int, int, float]:
    """``(epoch, n_tied, test_error)`` of the ``selected`` metric for one run's epoch rows.

    ``epochs`` has ``epoch``, ``val_error``, ``test_error`` and optionally
    ``val_loss``; epoch 0 (the model before training) is never selected when
    any later epoch exists. ``n_tied`` counts the epochs at the lowest
    validation error. Without a finite validation loss on every tied epoch the
    test error is their mean, and the epoch returned is the first of them.
    """
    trained = epochs[epochs["epoch"] > 0] if (epochs["epoch"] > 0).any() else epochs
    tied = trained[trained["val_error"] == trained["val_error"].min()].sort_values("epoch")
    losses = tied["val_loss"] if "val_loss" in tied.columns else pd.Series(np.nan, index=tied.index)
    if len(tied) > 1 and not np.isfinite(losses.to_numpy(dtype=float)).all():
        return int(tied["epoch"].iloc[0]), len(tied), float(tied["test_error"].mean())
    best = tied.assign(_loss=losses.astype(float)).sort_values(["_loss", "epoch"], kind="stable").iloc[0]
    return int(best["epoch"]), len(tied), float(best["test_error"])


def convergence(train_loss: pd.Series) -> dict[str, float | bool]:
    """Relative fall of the training loss over the last 20 % of epochs, and whether the run converged.

    ``train_loss`` is indexed by epoch 1..E (epoch 0 has none). Returns
    ``train_loss_fall`` (fraction), ``train_loss_end`` (nats) and ``converged``.
    """
    loss = train_loss.dropna().sort_index()
    n = len(loss)
    span = max(1, round(CONVERGENCE_SPAN * n))
    start = n - math.ceil(CONVERGENCE_WINDOW * n)
    if start < span:
        return {"train_loss_fall": math.nan, "train_loss_end": math.nan, "converged": False}
    before = float(loss.iloc[start - span : start].mean())
    end = float(loss.iloc[n - span :].mean())
    fall = (before - end) / before if before > 0 else 0.0
    return {"train_loss_fall": fall, "train_loss_end": end,
            "converged": bool(end < CONVERGENCE_LOSS_FLOOR or fall < CONVERGENCE_MAX_FALL)}


def run_scores(epochs: pd.DataFrame, key: str = "run") -> pd.DataFrame:
    """One row per run (column ``key``) of an epochs table: the three metrics, the selected epoch, convergence."""
    rows = []
    for run, group in epochs.groupby(key, sort=False):
        group = group.sort_values("epoch")
        epoch, n_tied, selected = select_epoch(group)
        tail = group[group["epoch"] > 0].tail(LAST_K)
        rows.append({
            key: run,
            "selected_epoch": epoch,
            "n_tied_epochs": n_tied,
            "val_loss_recorded": bool("val_loss" in group.columns and group["val_loss"].notna().all()),
            METRIC_COLUMNS["selected"]: selected,
            METRIC_COLUMNS["last"]: float(group["test_error"].iloc[-1]),
            METRIC_COLUMNS["last10"]: float(tail["test_error"].mean()),
            **convergence(group.set_index("epoch")["train_loss"]),
        })
    return pd.DataFrame(rows)


# --- comparing two arms ---------------------------------------------------------------


def errors_by_seed(runs: pd.DataFrame, metric: str) -> pd.Series:
    """Test errors (fractions) of one arm's ``runs`` under ``metric``, indexed by seed; ValueError on a seed twice."""
    errors = runs.set_index("seed")[METRIC_COLUMNS[metric]].sort_index()
    twice = sorted(set(errors.index[errors.index.duplicated()]))
    if twice:
        raise ValueError(f"two runs of seed(s) {twice} in one arm ({runs['run'].iloc[0]}, ...): a runs table of one "
                         "grid has one run per arm and seed")
    return errors


def mean_n_test(runs: pd.DataFrame) -> float:
    """Mean test-set size of ``runs`` (NaN without an ``n_test`` column or rows)."""
    return float(runs["n_test"].mean()) if "n_test" in runs.columns and len(runs) else math.nan



@dataclass(frozen=True)
class Difference:
    """Mean difference of two arms' test errors (percentage points) with its intervals.

    ``t_low``/``t_high``: the t-interval over seeds alone; ``binomial_se``: the
    test set's binomial SE of the difference; ``low``/``high``: the verdict
    interval, t-quantile at the Welch-Satterthwaite degrees of freedom ``df``
    times ``total_se = sqrt(seed_se^2 + binomial_se^2)``.
    """

    n_seeds: int
    mean: float
    seed_se: float
    t_low: float
    t_high: float
    p_value: float
    binomial_se: float
    total_se: float
    df: float
    low: float
    high: float

    def as_dict(self) -> dict[str, float]:
        """Plain dict, for tables."""
        return asdict(self)


def binomial_se_points(error: float, n_test: float) -> float:
    """Binomial SE (percentage points) of a test error ``error`` (fraction) measured on ``n_test`` images."""
    return 100.0 * math.sqrt(max(error * (1.0 - error), 0.0) / n_test) if n_test > 0 else math.nan


def _interval(seed_se: float, seed_df: float, binomial_se: float) -> tuple[float, float, float]:
    """``(total_se, df, half_width)`` of the verdict interval."""
    total = math.sqrt(seed_se**2 + binomial_se**2)
    if total == 0:
        return 0.0, math.inf, 0.0
    df = math.inf if seed_se == 0 else total**4 / (seed_se**4 / seed_df)
    return total, df, float(_student_t().ppf(0.5 + CONFIDENCE / 2, df)) * total


def paired_difference(a: pd.Series, b: pd.Series, n_test_a: float, n_test_b: float) -> Difference:
    """``a - b`` paired by seed: ``a`` and ``b`` are test errors (fractions) indexed by seed.

    Only seeds present in both count; fewer than 2 such seeds give NaN intervals.
    """
    pairs = pd.concat([a.rename("a"), b.rename("b")], axis=1).dropna()
    diff = 100.0 * (pairs["a"] - pairs["b"])
    n = len(diff)
    mean = float(diff.mean()) if n else math.nan
    binomial = math.hypot(binomial_se_points(float(pairs["a"].mean()), n_test_a),
                          binomial_se_points(float(pairs["b"].mean()), n_test_b)) if n else math.nan
    if n < 2:
        return Difference(n, mean, math.nan, math.nan, math.nan, math.nan, binomial, math.nan, math.nan, math.nan,
                          math.nan)
    seed_se = float(diff.std(ddof=1)) / math.sqrt(n)
    t = float(_student_t().ppf(0.5 + CONFIDENCE / 2, n - 1))
    p = float(2 * _student_t().sf(abs(mean) / seed_se, n - 1)) if seed_se > 0 else (0.0 if mean else 1.0)
    total, df, half = _interval(seed_se, n - 1, binomial)
    return Difference(n, mean, seed_se, mean - t * seed_se, mean + t * seed_se, p, binomial, total, df,
                      mean - half, mean + half)


def unpaired_difference(a: pd.Series, b: pd.Series, binomial_se: float) -> Difference:
    """``mean(a) - mean(b)`` of two independent samples (percentage points), Welch's interval.

    ``binomial_se`` (points) is the test sets' share of the difference's SE.
    """
    a, b = a.dropna(), b.dropna()
    mean = float(a.mean() - b.mean())
    if len(a) < 2 or len(b) < 2:
        n = min(len(a), len(b))
        return Difference(n, mean, math.nan, math.nan, math.nan, math.nan, binomial_se, math.nan, math.nan,
                          math.nan, math.nan)
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    seed_se = math.sqrt(va + vb)
    seed_df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1)) if seed_se > 0 else math.inf
    t = float(_student_t().ppf(0.5 + CONFIDENCE / 2, seed_df))
    p = float(2 * _student_t().sf(abs(mean) / seed_se, seed_df)) if seed_se > 0 else (0.0 if mean else 1.0)
    total, df, half = _interval(seed_se, seed_df, binomial_se)
    return Difference(min(len(a), len(b)), mean, seed_se, mean - t * seed_se, mean + t * seed_se, p, binomial_se,
                      total, df, mean - half, mean + half)


# --- verdicts -------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """What the paper claims about a difference ``d`` (percentage points) or a critical noise.

    ``kind``: ``"sign"`` (``d`` has the sign of ``value``: -1 or +1), ``"about"``
    (``d`` is about ``value``, within a factor :data:`ABOUT_FACTOR`) or
    ``"no_effect"`` (``d``, a degradation, stays below :data:`NO_EFFECT_MARGIN`).
    """

    kind: str
    value: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in ("sign", "about", "no_effect"):
            raise ValueError(f"claim kind {self.kind!r} is not one of sign, about, no_effect")
        if self.kind in ("sign", "about") and self.value == 0:
            raise ValueError(f"a {self.kind!r} claim needs a non-zero value")


def metric_verdict(diff: Difference, claim: Claim) -> str:
    """Verdict of one metric: reproduced, not reproduced or undecided (the verdict interval decides)."""
    low, high, mean = diff.low, diff.high, diff.mean
    if not (np.isfinite(low) and np.isfinite(high)):
        return UNDECIDED
    if claim.kind == "sign":
        low, high = sorted((claim.value * low, claim.value * high))  # claimed side is now > 0
        return REPRODUCED if low > 0 else NOT_REPRODUCED if high < 0 else UNDECIDED
    if claim.kind == "about":
        lo, hi = sorted((claim.value / ABOUT_FACTOR, claim.value * ABOUT_FACTOR))
        excludes_zero = low > 0 if claim.value > 0 else high < 0
        if excludes_zero and lo <= mean <= hi:
            return REPRODUCED
        return NOT_REPRODUCED if high < lo or low > hi else UNDECIDED
    if high < NO_EFFECT_MARGIN:
        return REPRODUCED
    return NOT_REPRODUCED if low > 0 and mean >= NO_EFFECT_MARGIN else UNDECIDED


def critical_noise_verdict(elbow_low: float, elbow_high: float, claim_value: float) -> str:
    """Verdict of "the critical transfer noise is about ``claim_value``" from one rise-test interval.

    The rise test puts the critical noise in ``(elbow_low, elbow_high]``
    (``elbow_high`` infinite when no level rose). Reproduced when a rise was
    found and the interval lies within ``[m / 2, 2 m]``; not reproduced when
    they are disjoint (no rise up to a level at or above ``2 m`` included);
    undecided otherwise (an interval too wide to say).
    """
    lo, hi = claim_value / ABOUT_FACTOR, claim_value * ABOUT_FACTOR
    if elbow_low >= hi or elbow_high < lo:
        return NOT_REPRODUCED
    return REPRODUCED if elbow_low >= lo and elbow_high <= hi else UNDECIDED


def overall_verdict(per_metric: Mapping[str, str]) -> tuple[str, str]:
    """``(verdict, reason)``: a verdict only when every metric gives it, else inconclusive with the reason."""
    values = set(per_metric.values())
    if len(values) == 1 and values != {UNDECIDED}:
        return values.pop(), ""
    reason = ", ".join(f"{metric}: {verdict}" for metric, verdict in per_metric.items())
    if values == {UNDECIDED}:
        return INCONCLUSIVE, f"no metric decides ({reason})"
    return INCONCLUSIVE, f"the metrics disagree ({reason})"

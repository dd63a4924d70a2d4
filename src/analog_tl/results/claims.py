"""The paper's claims, each scored under the comparison protocol on every metric.

One :class:`PaperClaim` per claim of the paper (Secs. III-A to III-C and IV) and
number of classes; :func:`claims_table` scores them on a runs table (one row
per run, with the protocol's metric columns, :func:`analog_tl.results.tables.runs_table`)
and, for the robustness claims, on the device sweeps' runs tables. The rules
are :mod:`analog_tl.results.protocol`'s, written down in ``docs/protocol.md``.

Rows: one per (claim, task, metric) with the difference and its intervals;
:func:`verdicts_table` folds them into one row per (claim, task) with the
verdict of every metric and the overall verdict with its reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analog_tl.results.elbow import critical_noise
from analog_tl.results.protocol import (
    METRIC_COLUMNS,
    METRICS,
    UNDECIDED,
    Claim,
    Difference,
    binomial_se_points,
    critical_noise_verdict,
    errors_by_seed,
    mean_n_test,
    metric_verdict,
    overall_verdict,
    paired_difference,
    unpaired_difference,
)
from analog_tl.vocabulary import ANALOG_SCRATCH, ANALOG_TL, DIGITAL_SCRATCH, DIGITAL_TL


@dataclass(frozen=True)
class PaperClaim:
    """A claim of the paper about one task (``n_classes``).

    ``kind`` says what is compared: ``"modes"`` (``arm`` - ``reference``, two
    training modes at tau 0, paired by seed), ``"gap_growth"`` (the analog TL
    - digital TL gap of the 5-class task minus the 2-class task's), ``"critical"``
    (the critical transfer noise, ``claim.value`` in weight units) or
    ``"sweep"`` (the sweep axis ``arm`` at value ``at`` (``"max"`` or a
    percentage) minus its smallest value, paired by seed).
    """

    key: str
    text: str
    n_classes: int
    kind: str
    claim: Claim
    arm: str = ""
    reference: str = ""
    at: str = "max"


DIRECTION_BETTER = Claim("sign", -1.0)
DIRECTION_WORSE = Claim("sign", +1.0)
NO_EFFECT = Claim("no_effect")


def paper_claims() -> list[PaperClaim]:
    """Every claim of the paper this workflow can test, per number of classes (2 and 5)."""
    claims = []
    for n in (2, 5):
        claims += [
            PaperClaim("tl_vs_analog_scratch", "analog TL better than analog training from scratch", n, "modes",
                       DIRECTION_BETTER, ANALOG_TL, ANALOG_SCRATCH),
            PaperClaim("tl_vs_digital_scratch", "analog TL better than digital training from scratch", n, "modes",
                       DIRECTION_BETTER, ANALOG_TL, DIGITAL_SCRATCH),
            PaperClaim("digital_tl_ahead", "digital TL ahead of analog TL by about 2 points", n, "modes",
                       Claim("about", 2.0), ANALOG_TL, DIGITAL_TL),
            PaperClaim("critical_noise", f"critical transfer noise about {0.15 if n == 2 else 0.10:g}", n, "critical",
                       Claim("about", 0.15 if n == 2 else 0.10)),
            PaperClaim("sps_range_skew", "no effect of symmetry point skew (reading range_skew)", n, "sweep",
                       NO_EFFECT, "sps_range_skew"),
            PaperClaim("sps_reference_shift", "no effect of symmetry point skew (reading reference_shift)", n,
                       "sweep", NO_EFFECT, "sps_reference_shift"),
            PaperClaim("pulse_noise", "no effect of pulse update noise", n, "sweep", NO_EFFECT, "pulse_noise"),
            PaperClaim("dtod", "no effect of device-to-device variability", n, "sweep", NO_EFFECT, "dtod"),
        ]
    claims += [
        PaperClaim("gap_grows", "the digital TL - analog TL gap grows from 2 to 5 classes", 5, "gap_growth",
                   DIRECTION_WORSE),
        PaperClaim("spv", "no effect of symmetry point variability", 2, "sweep", NO_EFFECT, "spv"),
        PaperClaim("spv_until_10", "no effect of symmetry point variability up to about 10 %", 5, "sweep", NO_EFFECT,
                   "spv", at="10"),
        PaperClaim("spv_grows", "the error grows with symmetry point variability beyond 10 %", 5, "sweep",
                   DIRECTION_WORSE, "spv"),
    ]
    return claims


def _tau0(runs: pd.DataFrame, mode: str) -> pd.DataFrame:
    """Runs of ``mode``; analog TL at its smallest transfer noise."""
    rows = runs[runs["mode"] == mode]
    if mode == ANALOG_TL and not rows.empty:
        noise = rows["transfer_noise"].astype(float)
        rows = rows[noise == noise.min()]
    return rows


def _modes_difference(task_runs: pd.DataFrame, claim: PaperClaim, metric: str) -> Difference | None:
    arm, ref = _tau0(task_runs, claim.arm), _tau0(task_runs, claim.reference)
    if arm.empty or ref.empty:
        return None
    return paired_difference(errors_by_seed(arm, metric), errors_by_seed(ref, metric), mean_n_test(arm),
                             mean_n_test(ref))


def _gap(task_runs: pd.DataFrame, metric: str) -> tuple[pd.Series, float]:
    """Per-seed analog TL - digital TL gap (points) of one task and its binomial SE (points)."""
    arm, ref = _tau0(task_runs, ANALOG_TL), _tau0(task_runs, DIGITAL_TL)
    a, b = errors_by_seed(arm, metric), errors_by_seed(ref, metric)
    gap = 100.0 * (a - b).dropna()
    se = math.hypot(binomial_se_points(float(a.mean()), mean_n_test(arm)),
                    binomial_se_points(float(b.mean()), mean_n_test(ref)))
    return gap, se


def _sweep_points(sweep: pd.DataFrame, claim: PaperClaim) -> tuple[pd.DataFrame, pd.DataFrame, float] | None:
    """The selected runs at the claim's value and at the axis's smallest value, and the value used."""
    rows = sweep[sweep["selected"]]
    values = np.sort(rows["sweep_value"].astype(float).unique())
    if values.size < 2:
        return None
    if claim.at == "max":
        value = float(values[-1])
    else:
        below = values[values <= float(claim.at)]
        value = float(below[-1]) if below.size else math.nan
    if not np.isfinite(value) or value == values[0]:
        return None
    at = rows[rows["sweep_value"].astype(float) == value]
    base = rows[rows["sweep_value"].astype(float) == values[0]]
    return at, base, value


def _row(claim: PaperClaim, task: str, metric: str, diff: Difference | None, verdict: str, note: str) -> dict:
    values = diff.as_dict() if diff is not None else {}
    return {"claim": claim.key, "text": claim.text, "task": task, "n_classes": claim.n_classes, "metric": metric,
            "kind": claim.claim.kind, "claim_value": claim.claim.value, **values, "metric_verdict": verdict,
            "note": note}


def _critical_rows(task_runs: pd.DataFrame, claim: PaperClaim, task: str) -> list[dict]:
    rows = []
    for metric in METRICS:
        table = critical_noise(task_runs, metric=METRIC_COLUMNS[metric])
        if table.empty or table["noise_levels"].iloc[0] < 2:
            rows.append(_row(claim, task, metric, None, UNDECIDED, "fewer than 2 transfer-noise levels"))
            continue
        low, high = float(table["elbow_low"].iloc[0]), float(table["elbow_high"].iloc[0])
        verdict = critical_noise_verdict(low, high, claim.claim.value)
        interval = f"({low:g}, {high:g}]" if np.isfinite(high) else f"above {low:g} (no rise within the grid)"
        rows.append({**_row(claim, task, metric, None, verdict, f"rise test: {interval}"),
                     "elbow_low": low, "elbow_high": high})
    return rows


def claims_table(runs: pd.DataFrame, sweeps: dict[str, pd.DataFrame] | None = None) -> pd.DataFrame:
    """One row per (claim, task, metric) that the tables can score.

    ``runs``: the main grid's runs table with the protocol's metric columns;
    ``sweeps``: per sweep axis, its runs table with the learning-rate ``selected``
    column. A claim whose runs are missing (a mode not run, a sweep not made)
    gets no rows (it is not scored).
    """
    sweeps = sweeps or {}
    rows: list[dict] = []
    frames = [t[["task", "n_classes"]] for t in (runs, *sweeps.values()) if not t.empty]
    tasks = pd.concat(frames).drop_duplicates("task") if frames else pd.DataFrame(columns=["task", "n_classes"])
    for claim in paper_claims():
        for task in tasks.loc[tasks["n_classes"] == claim.n_classes, "task"]:
            if claim.kind != "sweep" and runs.empty:
                continue
            task_runs = runs[runs["task"] == task] if not runs.empty else runs
            if claim.kind == "critical":
                if (task_runs["mode"] == ANALOG_TL).any():
                    rows += _critical_rows(task_runs, claim, task)
                continue
            if claim.kind == "gap_growth":
                rows += _gap_rows(runs, claim, task)
                continue
            for metric in METRICS:
                if METRIC_COLUMNS[metric] not in (runs if claim.kind == "modes" else sweeps.get(claim.arm, runs)):
                    continue  # a table made before the protocol: the metric is not available
                if claim.kind == "modes":
                    diff, note = _modes_difference(task_runs, claim, metric), ""
                else:
                    sweep = sweeps.get(claim.arm)
                    points = _sweep_points(sweep[sweep["task"] == task], claim) if sweep is not None else None
                    if points is None:
                        continue
                    at, base, value = points
                    diff = paired_difference(errors_by_seed(at, metric), errors_by_seed(base, metric),
                                             mean_n_test(at), mean_n_test(base))
                    note = f"{claim.arm} {value:g} % minus {float(base['sweep_value'].iloc[0]):g} %"
                if diff is not None:
                    rows.append(_row(claim, task, metric, diff, metric_verdict(diff, claim.claim), note))
    return pd.DataFrame(rows)


def _gap_rows(runs: pd.DataFrame, claim: PaperClaim, task: str) -> list[dict]:
    """The gap-growth claim: the gap of ``task`` (5 classes) minus the gap of the 2-class task."""
    small = runs.loc[runs["n_classes"] == 2, "task"].drop_duplicates()
    if small.empty:
        return []
    rows = []
    for metric in METRICS:
        big_gap, big_se = _gap(runs[runs["task"] == task], metric)
        small_gap, small_se = _gap(runs[runs["task"] == small.iloc[0]], metric)
        if big_gap.empty or small_gap.empty:
            return []
        diff = unpaired_difference(big_gap, small_gap, math.hypot(big_se, small_se))
        rows.append(_row(claim, task, metric, diff, metric_verdict(diff, claim.claim),
                         f"gap of {task} minus gap of {small.iloc[0]} (Welch)"))
    return rows


def verdicts_table(claims: pd.DataFrame) -> pd.DataFrame:
    """One row per (claim, task): each metric's verdict and difference, the overall verdict and its reason."""
    rows = []
    if claims.empty:
        return pd.DataFrame(rows)
    for (key, task), group in claims.groupby(["claim", "task"], sort=False):
        per_metric = dict(zip(group["metric"], group["metric_verdict"]))
        verdict, reason = overall_verdict(per_metric)
        row = {"claim": key, "text": group["text"].iloc[0], "task": task, "n_classes": group["n_classes"].iloc[0]}
        for _, r in group.iterrows():
            row[f"{r['metric']}_verdict"] = r["metric_verdict"]
            row[f"{r['metric']}_difference"] = r.get("mean", math.nan)
            row[f"{r['metric']}_low"] = r.get("low", math.nan)
            row[f"{r['metric']}_high"] = r.get("high", math.nan)
        missing = [m for m in METRICS if m not in per_metric]
        if missing:
            verdict, reason = "inconclusive", f"metric(s) {missing} not available; " + reason
        rows.append({**row, "verdict": verdict, "reason": reason, "note": group["note"].iloc[0]})
    return pd.DataFrame(rows)

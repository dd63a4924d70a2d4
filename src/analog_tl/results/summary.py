"""The paper's headline comparisons next to this run's numbers (``summary.csv``).

Per task: the test error of each training mode (at the epoch of lowest
validation error, mean over seeds; analog TL at the smallest transfer noise
of the grid), the differences the paper discusses, and the critical weight
transfer noise. The ``paper`` column quotes what the paper reports for the
task with the same number of classes (2 or 5), so a reader sees both side by side.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analog_tl.results.selection import RESULT
from analog_tl.vocabulary import (
    ABLATION_MODES, ANALOG_SCRATCH, ANALOG_TL, ANALOG_TL_MODES, DIGITAL_SCRATCH, DIGITAL_TL, MODE_LABELS, MODES,
)

# What the paper reports (Sec. III), by number of classes.
PAPER = {
    f"{ANALOG_TL} - {DIGITAL_TL}": {2: "about +2 (digital TL ahead)", 5: "about +2 (digital TL ahead)"},
    f"{ANALOG_TL} - {ANALOG_SCRATCH}": {2: "negative (analog TL better)", 5: "negative (analog TL better)"},
    f"{ANALOG_TL} - {DIGITAL_SCRATCH}": {2: "negative (analog TL better)", 5: "negative (analog TL better)"},
    "critical transfer noise": {2: "about 0.15", 5: "about 0.10"},
}


def _mode_errors(runs: pd.DataFrame, task: str) -> dict[str, pd.Series]:
    """Per-seed selected test error (%) of each mode; analog TL at the smallest noise level."""
    rows = runs[runs.task == task]
    out = {}
    for mode in MODES:
        sub = rows[rows["mode"] == mode]
        if mode in ANALOG_TL_MODES and not sub.empty:
            sub = sub[sub.transfer_noise.astype(float) == sub.transfer_noise.astype(float).min()]
        out[mode] = 100 * sub.set_index("seed")[RESULT].sort_index()
    return out


def _row(task: str, n_classes: int, quantity: str, values: pd.Series, unit: str, paper: str) -> dict:
    """One summary row: mean and std (ddof 1) of ``values`` over seeds."""
    return {
        "task": task,
        "n_classes": n_classes,
        "quantity": quantity,
        "value": float(values.mean()) if len(values) else np.nan,
        "std": float(values.std(ddof=1)) if len(values) > 1 else np.nan,
        "n_seeds": int(len(values)),
        "unit": unit,
        "paper": paper,
        "note": "",
    }


def _critical_note(c: pd.Series) -> str:
    """Rise-test interval, what ``value`` is, and the flags of one ``critical_noise`` row."""
    low, high = float(c["elbow_low"]), float(c["elbow_high"])
    interval = f"rise test: in ({low:.3g}, {high:.3g}]" if np.isfinite(high) else f"rise test: above {low:.3g}"
    fit = (f"value = hinge-fit elbow, std over the {int(c['n_seeds_fit'])} of {int(c['n_seeds'])} seeds "
           "with a reportable fit" if np.isfinite(c["elbow_fit"]) else "no reportable hinge fit")
    flag = c["flag"] if isinstance(c["flag"], str) else ""
    return "; ".join(part for part in (interval, fit, flag) if part)


def summary_table(runs: pd.DataFrame, critical: pd.DataFrame) -> pd.DataFrame:
    """One row per (task, quantity): value (mean over seeds), std over seeds (ddof 1), the paper's claim, a note."""
    rows = []
    for task in dict.fromkeys(runs["task"]):
        n = int(runs.loc[runs.task == task, "n_classes"].iloc[0])
        errors = _mode_errors(runs, task)
        for mode in MODES:
            if mode in ABLATION_MODES and errors[mode].empty:  # an ablation is optional
                continue
            rows.append(_row(task, n, f"test error, {MODE_LABELS[mode].table}", errors[mode], "%", ""))
        for other in (DIGITAL_TL, ANALOG_SCRATCH, DIGITAL_SCRATCH):
            key = f"{ANALOG_TL} - {other}"
            diff = (errors[ANALOG_TL] - errors[other]).dropna()  # paired by seed
            rows.append(_row(task, n, f"{key} test error", diff, "percentage points", PAPER[key].get(n, "")))
        crit = critical[critical.task == task]
        if not crit.empty:
            c = crit.iloc[0]
            row = _row(task, n, "critical transfer noise", pd.Series([c["elbow_fit"]]), "tau (weight units)",
                       PAPER["critical transfer noise"].get(n, ""))
            row.update(std=c["seed_elbow_fit_std"], n_seeds=int(c["n_seeds"]), note=_critical_note(c))
            rows.append(row)
    return pd.DataFrame(rows)

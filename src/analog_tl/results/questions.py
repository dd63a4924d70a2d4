"""The questions beyond the paper (``docs/protocol.md``, section 9), each scored under the protocol on every metric.

The comparison's design (its algorithms, variants, devices and ablation, from
the config's ``compare`` section: :class:`CompareDesign`) fixes the questions
before any run (:func:`compare_questions`):

- **algorithm**: is c-TTv2 better than each other aihwkit algorithm on each
  device that runs both (c-TTv2 minus the other, sign < 0);
- **variant**: is a variant (residual learning: ``gamma`` on its grid or fixed)
  better than the algorithm it varies, on each device that runs both (sign < 0);
- **mapping**: does weight mapping help an algorithm on a device: the device
  with ``weight_scaling_omega`` > 0 minus the same device without (sign < 0);
- **layers**: does c-TTv2 with all, only the backbone's or only the head's
  layers analog leave a gap to digital TL on the ablation device (sign > 0).

Each arm is its selected grid point (validation only,
:func:`analog_tl.results.compare.select_points`); arms are paired by seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from analog_tl.results.design import DIGITAL_REFERENCE, Arm, CompareDesign
from analog_tl.results.protocol import (
    INCONCLUSIVE,
    METRIC_COLUMNS,
    METRICS,
    NOT_REPRODUCED,
    REPRODUCED,
    Claim,
    errors_by_seed,
    mean_n_test,
    metric_verdict,
    overall_verdict,
    paired_difference,
)
from analog_tl.vocabulary import (
    ALL_LAYERS, ANALOG_LAYER_SETS, BACKBONE_LAYERS, DIGITAL_TL, HEAD_LAYERS, PAPER_ALGORITHM,
)

BETTER = Claim("sign", -1.0)  # the arm's error is lower than the reference's
WORSE = Claim("sign", +1.0)  # the arm's error is higher: a gap remains
ANSWERS = {REPRODUCED: "yes", NOT_REPRODUCED: "no: the opposite", INCONCLUSIVE: "not resolved at this scale"}
FAMILIES = ("algorithm", "variant", "mapping", "layers")
LAYER_WORDS = {ALL_LAYERS: "every layer", BACKBONE_LAYERS: "only the backbone", HEAD_LAYERS: "only the head"}


@dataclass(frozen=True)
class Question:
    """Is ``arm`` better (``claim`` sign -1) or worse (+1) than ``reference``, paired by seed."""

    key: str
    family: str
    text: str
    arm: Arm
    reference: Arm
    claim: Claim


def _on(design: CompareDesign, algorithm: str, device: str) -> bool:
    return Arm(algorithm, device) in design.arms


def _algorithm_questions(design: CompareDesign) -> list[Question]:
    devices = list(design.devices)
    return [
        Question(f"{PAPER_ALGORITHM}_vs_{a}@{d}", "algorithm", f"{PAPER_ALGORITHM} better than {a} on {d}",
                 Arm(PAPER_ALGORITHM, d), Arm(a, d), BETTER)
        for d in devices for a, base in design.base.items()
        if a == base and a != PAPER_ALGORITHM and _on(design, a, d) and _on(design, PAPER_ALGORITHM, d)
    ]


def _variant_questions(design: CompareDesign) -> list[Question]:
    return [
        Question(f"{v}_vs_{base}@{d}", "variant", f"{v} better than {base} on {d}", Arm(v, d), Arm(base, d), BETTER)
        for d in design.devices for v, base in design.base.items()
        if v != base and _on(design, v, d) and _on(design, base, d)
    ]


def _mapping_questions(design: CompareDesign) -> list[Question]:
    questions = []
    for mapped, (name, fields, omega) in design.devices.items():
        if omega <= 0:
            continue
        plain = [d for d, (n, f, o) in design.devices.items() if (n, f) == (name, fields) and o <= 0]
        for d in plain[:1]:
            questions += [
                Question(f"mapping_{a}@{d}", "mapping", f"weight mapping (omega {omega:g}) helps {a} on {d}",
                         Arm(a, mapped), Arm(a, d), BETTER)
                for a in design.base if _on(design, a, mapped) and _on(design, a, d)
            ]
    return questions


def _layer_questions(design: CompareDesign) -> list[Question]:
    if design.ablation_device is None:
        return []
    return [
        Question(f"gap_{layers}@{design.ablation_device}", "layers",
                 f"{PAPER_ALGORITHM} with {LAYER_WORDS[layers]} analog leaves a gap to digital TL on "
                 f"{design.ablation_device}",
                 Arm(PAPER_ALGORITHM, design.ablation_device, layers), DIGITAL_REFERENCE, WORSE)
        for layers in ANALOG_LAYER_SETS
    ]


def compare_questions(design: CompareDesign) -> list[Question]:
    """Every question the design can answer, in :data:`FAMILIES` order."""
    return [*_algorithm_questions(design), *_variant_questions(design), *_mapping_questions(design),
            *_layer_questions(design)]


def arm_runs(candidates: pd.DataFrame, digital: pd.DataFrame, task: str, arm: Arm) -> pd.DataFrame:
    """The runs of ``arm`` on ``task``: its selected grid point's (``candidates``) or digital TL's (``digital``)."""
    if arm.algorithm == DIGITAL_TL:
        if digital.empty:  # no digital runs (none planned, or none finished in a part)
            return digital
        return digital[(digital["task"] == task) & (digital["mode"] == DIGITAL_TL)]
    rows = candidates[(candidates["task"] == task) & candidates["selected"]]
    return rows[(rows["algorithm"] == arm.algorithm) & (rows["compare_device"] == arm.device)
                & (rows["analog_layers"] == arm.layers)]


def _converged(runs: pd.DataFrame) -> str:
    if "converged" not in runs.columns:
        return "?"
    return f"{int(runs['converged'].astype(bool).sum())}/{len(runs)}"


def _row(question: Question, task: str, arm: pd.DataFrame, reference: pd.DataFrame, metric: str) -> dict[str, Any]:
    diff = paired_difference(errors_by_seed(arm, metric), errors_by_seed(reference, metric), mean_n_test(arm),
                             mean_n_test(reference))
    point = arm["hyperparameters"].iloc[0] if "hyperparameters" in arm.columns else ""
    ref_point = reference["hyperparameters"].iloc[0] if "hyperparameters" in reference.columns else ""
    return {
        "question": question.key, "family": question.family, "text": question.text, "task": task,
        "n_classes": int(arm["n_classes"].iloc[0]), "metric": metric, "arm": question.arm.label,
        "reference": question.reference.label, "arm_point": point if isinstance(point, str) else "",
        "reference_point": ref_point if isinstance(ref_point, str) else "",
        "arm_error": 100 * float(arm[METRIC_COLUMNS[metric]].mean()),
        "reference_error": 100 * float(reference[METRIC_COLUMNS[metric]].mean()),
        "kind": question.claim.kind, "claim_value": question.claim.value, **diff.as_dict(),
        "metric_verdict": metric_verdict(diff, question.claim),
        "converged": f"arm {_converged(arm)}, reference {_converged(reference)}",
    }


def questions_table(candidates: pd.DataFrame, digital: pd.DataFrame, design: CompareDesign) -> pd.DataFrame:
    """One row per (question, task, metric) whose two arms have runs: differences (points) and intervals.

    ``candidates``: the comparison's runs with the grid-point selection and
    the protocol's metric columns; ``digital``: runs tables with the digital TL
    runs of the same workflow (same pre-training, splits and seeds).
    """
    rows = []
    for task in sorted(candidates["task"].unique()) if not candidates.empty else []:
        for question in compare_questions(design):
            arm = arm_runs(candidates, digital, task, question.arm)
            reference = arm_runs(candidates, digital, task, question.reference)
            if arm.empty or reference.empty:
                continue
            rows += [_row(question, task, arm, reference, metric) for metric in METRICS]
    return pd.DataFrame(rows)


def answers_table(questions: pd.DataFrame, planned_seeds: int = 0) -> pd.DataFrame:
    """One row per (question, task): each metric's difference, interval and verdict, the verdict and the answer.

    ``planned_seeds``: the design's seeds; a question paired on fewer says so in its ``reason``.
    """
    rows = []
    if questions.empty:
        return pd.DataFrame(rows)
    for (key, task), group in questions.groupby(["question", "task"], sort=False):
        first = group.iloc[0]
        row = {c: first[c] for c in ("question", "family", "text", "task", "n_classes", "arm", "reference",
                                     "arm_point", "reference_point", "converged")}
        for _, r in group.iterrows():
            row.update({f"{r['metric']}_{c}": r[c] for c in ("arm_error", "reference_error", "mean", "low", "high")})
            row[f"{r['metric']}_verdict"] = r["metric_verdict"]
        verdict, reason = overall_verdict(dict(zip(group["metric"], group["metric_verdict"])))
        n_seeds = int(group["n_seeds"].min())
        if n_seeds < 2 or group["low"].astype(float).isna().any():
            reason = f"fewer than 2 paired seeds ({n_seeds}); " + reason
        elif n_seeds < planned_seeds:
            reason = f"{n_seeds} of the {planned_seeds} planned seeds paired; " + reason
        rows.append({**row, "n_seeds": n_seeds, "verdict": verdict, "answer": ANSWERS[verdict], "reason": reason})
    return pd.DataFrame(rows)

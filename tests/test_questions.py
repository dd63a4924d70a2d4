"""The questions beyond the paper (analog_tl.results.questions): which questions a design asks, and their scores."""

from __future__ import annotations

import itertools
from pathlib import Path

import pandas as pd
import pytest

from analog_tl.results.design import Arm, CompareDesign
from analog_tl.results.questions import answers_table, compare_questions, questions_table
from analog_tl.vocabulary import CONFIG_SCHEMA
from analog_tl.workflow_config import read_workflow_config

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / CONFIG_SCHEMA
METRICS = ("test_error_selected", "test_error_last", "test_error_last10")


@pytest.fixture(scope="module")
def section_9_design() -> CompareDesign:
    config = read_workflow_config([REPO / "config/real-small.yaml", REPO / "config/real-small-compare.yaml"], SCHEMA)
    return CompareDesign.from_config(config)


def test_the_protocols_design_asks_exactly_its_questions(section_9_design):
    keys = [q.key for q in compare_questions(section_9_design)]
    assert keys == [
        "c-ttv2_vs_ttv2@nominal", "c-ttv2_vs_agad@nominal", "c-ttv2_vs_agad@hfo2", "c-ttv2_vs_agad@hfo2_mapped",
        "c-ttv2-rl_vs_c-ttv2@nominal", "agad-rl_vs_agad@nominal",
        "mapping_c-ttv2@hfo2", "mapping_agad@hfo2",
        "gap_all@nominal", "gap_backbone@nominal", "gap_head@nominal",
    ]
    mapping = next(q for q in compare_questions(section_9_design) if q.key == "mapping_agad@hfo2")
    assert (mapping.arm, mapping.reference) == (Arm("agad", "hfo2_mapped"), Arm("agad", "hfo2"))
    assert mapping.claim.value == -1  # mapped minus unmapped < 0: mapping helps


def test_the_protocols_design_has_its_26_grid_points(section_9_design):
    """docs/protocol.md section 9: 26 grid points per task (78 runs of 3 seeds)."""
    points = sum(section_9_design.n_points[arm.algorithm] for arm in section_9_design.arms)
    assert points == 26 and section_9_design.seeds == (0, 1, 2)
    assert section_9_design.n_points == {"c-ttv2": 2, "ttv2": 2, "agad": 2, "c-ttv2-rl": 4, "agad-rl": 4}
    assert section_9_design.points["c-ttv2-rl"] == ("fast_lr=0.1,gamma=0.1", "fast_lr=0.1,gamma=0.3",
                                                    "fast_lr=1.0,gamma=0.1", "fast_lr=1.0,gamma=0.3")


def _design() -> CompareDesign:
    config = {
        "tasks": ["5class"], "finetune": {"seeds": [0, 1, 2]}, "analog": {"mapping": {}},
        "compare": {
            "tasks": [], "algorithms": ["c-ttv2", "agad"], "variants": {}, "grids": {}, "fast_lrs": [0.1, 1.0],
            "devices": {"dev": {"name": "D"}, "dev_mapped": {"name": "D", "mapping": {"weight_scaling_omega": 1.0}}},
            "ablations": True, "ablation_device": "dev",
        },
    }
    return CompareDesign.from_config(config)


SEED_SHIFT = {0: 0.00, 1: 0.04, 2: -0.02}  # a seed effect shared by every arm (pairing removes it)


def _runs(arm: Arm, error: float, point: str = "fast_lr=0.1", val: float = 0.2, spread: float = 0.0) -> list[dict]:
    return [
        {"task": "5class", "n_classes": 5, "algorithm": arm.algorithm, "compare_device": arm.device,
         "analog_layers": arm.layers, "hyperparameters": point, "seed": seed, "n_test": 500,
         "run": f"{arm.label}/{point}/{seed}", "best_val_error": val, "test_error_at_best_val": error,
         "converged": True,
         **{m: error + SEED_SHIFT[seed] + spread * (seed - 1) for m in METRICS}}
        for seed in (0, 1, 2)
    ]


def _candidates(rows: list[dict]) -> pd.DataFrame:
    from analog_tl.results.compare import select_points

    return select_points(pd.DataFrame(rows))


def test_each_arm_is_its_selected_point_and_the_difference_is_paired_by_seed():
    arms = {
        "ctt": Arm("c-ttv2", "dev"), "agad": Arm("agad", "dev"), "ctt_m": Arm("c-ttv2", "dev_mapped"),
        "agad_m": Arm("agad", "dev_mapped"),
    }
    rows = [*_runs(arms["ctt"], 0.30), *_runs(arms["agad"], 0.40, spread=0.01),
            # AGAD's other point: worse on validation, excellent on test; it must not be the arm
            *_runs(arms["agad"], 0.05, point="fast_lr=1.0", val=0.5),
            *_runs(arms["ctt_m"], 0.20), *_runs(arms["agad_m"], 0.45)]
    rows += [*_runs(Arm("c-ttv2", "dev", "backbone"), 0.28), *_runs(Arm("c-ttv2", "dev", "head"), 0.12)]
    digital = pd.DataFrame([{**r, "mode": "digital_tl"} for r in _runs(Arm("digital_tl"), 0.12)])
    questions = questions_table(_candidates(rows), digital, _design())
    selected = questions[questions.metric == "selected"].set_index("question")
    assert selected.loc["c-ttv2_vs_agad@dev", "mean"] == pytest.approx(-10.0)
    assert selected.loc["c-ttv2_vs_agad@dev", "arm_point"] == "fast_lr=0.1"
    assert selected.loc["c-ttv2_vs_agad@dev", "reference_point"] == "fast_lr=0.1"
    # the shared seed effect cancels: the seed SE is AGAD's own spread only, 1 point over seeds -1, 0, +1
    assert selected.loc["c-ttv2_vs_agad@dev", "seed_se"] == pytest.approx(1.0 / 3**0.5)
    assert selected.loc["mapping_c-ttv2@dev", "mean"] == pytest.approx(-10.0)
    assert selected.loc["mapping_agad@dev", "mean"] == pytest.approx(+5.0)
    assert selected.loc["gap_all@dev", "mean"] == pytest.approx(18.0)
    assert selected.loc["gap_head@dev", "mean"] == pytest.approx(0.0)
    answers = answers_table(questions).set_index("question")
    assert answers.loc["c-ttv2_vs_agad@dev", "answer"] == "yes"  # -10 points, binomial SE about 3: decided
    assert answers.loc["mapping_c-ttv2@dev", "answer"] == "yes"
    assert answers.loc["gap_all@dev", "answer"] == "yes" and answers.loc["gap_backbone@dev", "answer"] == "yes"
    assert answers.loc["gap_head@dev", "answer"] == "not resolved at this scale"  # no difference: the interval holds 0
    assert answers.loc["mapping_agad@dev", "verdict"] in ("not reproduced", "inconclusive")
    assert answers.loc["c-ttv2_vs_agad@dev", "converged"] == "arm 3/3, reference 3/3"


def test_a_question_whose_arm_did_not_run_is_not_asked_and_one_seed_is_not_an_answer():
    rows = [*_runs(Arm("c-ttv2", "dev"), 0.30), *[r for r in _runs(Arm("agad", "dev"), 0.10) if r["seed"] == 0]]
    questions = questions_table(_candidates(rows), pd.DataFrame(columns=["task", "mode"]), _design())
    assert set(questions.question) == {"c-ttv2_vs_agad@dev"}
    answer = answers_table(questions).iloc[0]
    assert answer["answer"] == "not resolved at this scale" and answer["n_seeds"] == 1
    assert answer["reason"].startswith("fewer than 2 paired seeds")


def test_an_answer_paired_on_fewer_seeds_than_planned_says_so():
    rows = [*_runs(Arm("c-ttv2", "dev"), 0.30), *[r for r in _runs(Arm("agad", "dev"), 0.10) if r["seed"] < 2]]
    questions = questions_table(_candidates(rows), pd.DataFrame(columns=["task", "mode"]), _design())
    answer = answers_table(questions, planned_seeds=3).iloc[0]
    assert answer["n_seeds"] == 2 and answer["reason"].startswith("2 of the 3 planned seeds paired")
    assert not answers_table(questions, planned_seeds=2).iloc[0]["reason"].startswith("2 of")


@pytest.mark.parametrize("metric", ["selected", "last", "last10"])
def test_every_metric_reads_its_own_column(metric):
    rows = _runs(Arm("c-ttv2", "dev"), 0.30) + _runs(Arm("agad", "dev"), 0.30)
    for row in rows:
        if row["algorithm"] == "agad":
            row[f"test_error_{metric}"] += 0.1
    questions = questions_table(_candidates(rows), pd.DataFrame(columns=["task", "mode"]), _design())
    means = questions.set_index("metric")["mean"]
    for other in ("selected", "last", "last10"):
        assert means[other] == pytest.approx(-10.0 if other == metric else 0.0)


def test_a_design_without_a_mapped_twin_or_ablation_asks_no_such_question():
    design = _design()
    plain = CompareDesign(base=design.base, devices={"dev": design.devices["dev"]},
                          arms=tuple(a for a in design.arms if a.device == "dev" and a.layers == "all"),
                          ablation_device=None)
    families = {q.family for q in compare_questions(plain)}
    assert families == {"algorithm"}
    assert list(itertools.chain.from_iterable([q.key] for q in compare_questions(plain))) == ["c-ttv2_vs_agad@dev"]

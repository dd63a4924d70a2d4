"""The algorithm comparison's questions in the workflow, and the comparison made in parts (tabulate, merge, script).

Uses the tiny workflow that ran once (``finished_run``): its comparison of sgd, c-TTv2 and AGAD on the
nominal and HfO2 devices with c-TTv2's layer ablations, one seed.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from analog_tl.errors import PartsError
from analog_tl.results.compare_parts import merge_compare_parts, write_compare_part
from analog_tl.results.design import CompareDesign
from analog_tl.vocabulary import CONFIG_SCHEMA
from analog_tl.workflow_config import read_workflow_config

pytestmark = pytest.mark.slow  # all but one test read the tiny workflow's whole run (finished_run)

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / CONFIG_SCHEMA
TINY_QUESTIONS = {"c-ttv2_vs_sgd@nominal", "c-ttv2_vs_agad@nominal", "c-ttv2_vs_sgd@hfo2", "c-ttv2_vs_agad@hfo2",
                  "gap_all@nominal", "gap_backbone@nominal", "gap_head@nominal"}


@pytest.fixture(scope="module")
def tiny_design(finished_run) -> CompareDesign:
    return CompareDesign.from_config(read_workflow_config(finished_run / "config" / "config.yaml", SCHEMA))


@pytest.fixture(scope="module")
def tiny_part(finished_run, tmp_path_factory) -> Path:
    """The tiny run's comparison tabulated as a part by the script (``tabulate_sweep_part.py --grid compare``)."""
    part = tmp_path_factory.mktemp("compare-part")
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "tabulate_sweep_part.py"), "--workflow", str(finished_run),
         "--out", str(part), "--grid", "compare"], capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0 and "compare/digital_runs.csv (4 rows)" in result.stdout, result.stderr
    return part


def test_a_folder_without_comparison_runs_is_named(tmp_path):
    with pytest.raises(PartsError, match="no finished runs under"):
        write_compare_part(tmp_path, tmp_path / "out")


def _tables(folder: Path) -> Path:
    return folder / "results" / "tables"


def test_the_workflow_answers_every_question_of_its_design_with_one_seed_unresolved(finished_run):
    answers = pd.read_csv(_tables(finished_run) / "compare_answers.csv")
    assert set(answers.groupby("task").question.apply(frozenset)) == {frozenset(TINY_QUESTIONS)}
    assert (answers.n_seeds == 1).all() and (answers.answer == "not resolved at this scale").all()
    questions = pd.read_csv(_tables(finished_run) / "compare_questions.csv")
    assert len(questions) == 3 * len(answers) and set(questions.metric) == {"selected", "last", "last10"}
    runs = pd.read_csv(_tables(finished_run) / "compare_runs.csv")
    gap = questions[(questions.question == "gap_all@nominal") & (questions.metric == "last") & (questions.task == "2class")]
    arm = runs[(runs.task == "2class") & runs.selected & (runs.algorithm == "c-ttv2") & (runs.compare_device == "nominal")
               & (runs.analog_layers == "all")]
    assert gap.arm_error.iloc[0] == pytest.approx(100 * arm.test_error_last.iloc[0])
    epochs = pd.read_csv(_tables(finished_run) / "compare_epochs.csv")
    assert set(epochs.run) == set(runs.run) and len(epochs) == len(runs) * 2  # epochs 0 and 1 of every run


def test_a_tabulated_part_merges_into_the_workflows_own_tables(finished_run, tiny_part, tiny_design):
    merged, digital = merge_compare_parts([tiny_part], tiny_design)
    workflow = {name: pd.read_csv(_tables(finished_run) / f"compare_{name}.csv") for name in ("runs", "answers")}
    ours = merged.runs.set_index("run").sort_index()
    theirs = workflow["runs"].set_index("run").sort_index()
    assert list(ours.index) == list(theirs.index)
    assert (ours.selected == theirs.selected).all() and (ours.model_sha256 == theirs.model_sha256).all()
    columns = ["question", "task", "selected_mean", "last_mean", "last10_mean", "verdict"]
    pd.testing.assert_frame_equal(merged.answers[columns].reset_index(drop=True),
                                  workflow["answers"][columns].reset_index(drop=True), check_dtype=False)
    assert set(digital["mode"]) == {"digital_tl", "digital_scratch"}


def _split(part: Path, tmp_path: Path) -> tuple[Path, Path]:
    """Two parts from ``part``: the 2-class runs and the 5-class runs (both with the digital runs and pairs)."""
    halves = []
    for task in ("2class", "5class"):
        half = tmp_path / task
        shutil.copytree(part, half)
        for name in ("runs", "epochs"):
            path = half / "compare" / f"{name}.csv"
            table = pd.read_csv(path)
            table[table.run.str.startswith(f"results/compare/{task}/")].to_csv(path, index=False)
        halves.append(half)
    return halves[0], halves[1]


def test_two_parts_merge_into_the_same_answers_as_one(tiny_part, tiny_design, tmp_path):
    one, _ = merge_compare_parts([tiny_part], tiny_design)
    two, _ = merge_compare_parts(list(_split(tiny_part, tmp_path)), tiny_design)
    pd.testing.assert_frame_equal(one.answers, two.answers)


def test_a_missing_grid_point_is_named(tiny_part, tiny_design, tmp_path):
    first, second = _split(tiny_part, tmp_path)
    with pytest.raises(PartsError, match=r"the parts hold grid points \['fast_lr=0.1'\] of 5class agad on hfo2 .*"
                                         r"lacking \['fast_lr=1.0'\]"):
        drop = "results/compare/5class/agad/hfo2/layers~all/fast_lr~1.0/seed~0"
        path = second / "compare" / "runs.csv"
        table = pd.read_csv(path)
        table[table.run != drop].to_csv(path, index=False)
        merge_compare_parts([first, second], tiny_design)


def _edit(part: Path, tmp_path: Path, name: str, edit) -> Path:
    """A copy of ``part`` whose ``compare/<name>.csv`` is ``edit(table)``."""
    copy = tmp_path / f"edited-{name}"
    shutil.copytree(part, copy)
    path = copy / "compare" / f"{name}.csv"
    edit(pd.read_csv(path)).to_csv(path, index=False)
    return copy


def test_a_grid_point_the_design_does_not_plan_is_named(tiny_part, tiny_design, tmp_path):
    renamed = _edit(tiny_part, tmp_path, "runs", lambda t: t.assign(hyperparameters=t.hyperparameters.str.replace(
        "fast_lr=1.0", "fast_lr=0.5")))
    with pytest.raises(PartsError, match=r"not planned \['fast_lr=0.5'\]"):
        merge_compare_parts([renamed], tiny_design)


def test_a_missing_digital_tl_reference_is_named(tiny_part, tiny_design, tmp_path):
    without = _edit(tiny_part, tmp_path, "digital_runs",
                    lambda t: t[~((t["mode"] == "digital_tl") & (t.task == "5class"))])
    with pytest.raises(PartsError, match=r"lack the digital TL reference of 5class, seed\(s\) \[0\]"):
        merge_compare_parts([without], tiny_design)


def test_runs_of_another_pre_training_are_named(tiny_part, tiny_design, tmp_path):
    def other_pretraining(table: pd.DataFrame) -> pd.DataFrame:
        return table.assign(pretrained_sha256=["a" * 64] + ["b" * 64] * (len(table) - 1))

    mixed = _edit(tiny_part, tmp_path, "runs", other_pretraining)
    with pytest.raises(PartsError, match=r"pretrained_sha256 'a+' in .* but 'b+' in .*one pre-training"):
        merge_compare_parts([mixed], tiny_design)


def test_a_run_that_differs_between_parts_is_named(tiny_part, tiny_design, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(tiny_part, other)
    path = other / "compare" / "runs.csv"
    table = pd.read_csv(path)
    table.loc[0, "test_error_last"] += 0.01
    table.to_csv(path, index=False)
    with pytest.raises(PartsError, match="compare_runs: .* differs between parts .* in test_error_last"):
        merge_compare_parts([tiny_part, other], tiny_design)


def test_the_script_writes_the_comparison_tables_and_figures(finished_run, tiny_part, tmp_path):
    out = tmp_path / "merged"
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "merge_table_parts.py"), "--config",
         str(finished_run / "config" / "config.yaml"), "--grid", "compare", "--out", str(out), str(tiny_part)],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr
    for name in ("runs", "epochs", "summary", "pairs", "questions", "answers"):
        assert (_tables(out) / f"compare_{name}.csv").is_file()
    for stem in ("fig6_test_error_by_algorithm_and_device", "fig_layers_test_error_by_analog_layers"):
        assert (out / "results" / "figures" / f"{stem}.png").stat().st_size > 10_000

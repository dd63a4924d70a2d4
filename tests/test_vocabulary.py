"""The workflow's words (analog_tl.vocabulary) against the schema, the library and the committed result folders."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pandas as pd
import pytest
import yaml

from analog_tl import vocabulary as v
from analog_tl.vocabulary import CONFIG_SCHEMA, GridRun

REPO = Path(__file__).resolve().parents[1]
SCHEMA = yaml.safe_load((REPO / CONFIG_SCHEMA).read_text())
RESULTS = REPO / "docs" / "results"


def _section(name: str) -> dict:
    return SCHEMA["properties"][name]["properties"]


# --- the schema's enums are the vocabulary's words ----------------------------------------


def test_the_schemas_choices_are_the_vocabularys_words():
    variant = _section("compare")["variants"]["additionalProperties"]["properties"]
    assert variant["algorithm"]["enum"] == list(v.ALGORITHMS)
    assert _section("analog")["simulator"]["enum"] == list(v.SIMULATORS)
    assert _section("compare")["simulator"]["enum"] == list(v.SIMULATOR_POLICIES)
    assert _section("compare")["simulator"]["default"] == v.AUTO
    assert _section("sweeps")["sps_readings"]["items"]["enum"] == list(v.SPS_READINGS)
    assert _section("data")["source"]["enum"] == list(v.DATA_SOURCES)


def test_the_schema_has_a_value_list_for_every_device_sweep_and_the_keys_kept_out_of_params():
    sweeps = _section("sweeps")
    assert all(sweeps[name]["type"] == "array" for name in v.DEVICE_SWEEPS)
    pretrain = SCHEMA["definitions"]["train"]["properties"]  # pretrain is allOf [train]
    for section, keys in (("pretrain", pretrain), ("finetune", _section("finetune"))):
        assert set(v.EXECUTION_KEYS) <= set(keys), section
    assert set(v.DATA_LOCATION_KEYS) <= set(_section("data"))


# --- the library's words are the vocabulary's -----------------------------------------------


def test_the_config_views_have_the_execution_and_location_keys():
    from analog_tl.config import DataConfig, ExecutionConfig

    assert tuple(f.name for f in dataclasses.fields(ExecutionConfig)) == v.EXECUTION_KEYS
    assert set(v.DATA_LOCATION_KEYS) <= {f.name for f in dataclasses.fields(DataConfig)}


def test_the_aihwkit_mapping_covers_exactly_the_vocabularys_algorithms():
    from analog_tl.analog.algorithms import ALGORITHMS, DEFINING_FIELDS

    assert tuple(ALGORITHMS) == v.ALGORITHMS
    assert set(DEFINING_FIELDS) <= set(v.ALGORITHMS)
    assert v.PAPER_ALGORITHM in v.ALGORITHMS and set(v.FAST_LR_ALGORITHMS) <= set(v.ALGORITHMS)


def test_the_sweep_module_defines_every_sweep_and_reading():
    from analog_tl.analog.sweeps import SPS_READING_TEXT, SWEEPS, SweepPoint

    assert set(SWEEPS) == set(v.DEVICE_SWEEPS) and all(spec.name == name for name, spec in SWEEPS.items())
    assert set(SPS_READING_TEXT) == set(v.SPS_READINGS)
    for reading in v.SPS_READINGS:
        point = SweepPoint(v.SPS, 10.0, sps_reading=reading)
        assert point.device_fields() and point.axis == v.sps_axis(reading)


def test_every_mode_has_its_labels_and_a_figure_line():
    from analog_tl.results.figures import MODE_STYLE

    assert set(v.MODE_LABELS) == set(v.MODES) == set(MODE_STYLE) == set(v.MAIN_RUNS)
    for group in (v.DIGITAL_MODES, v.ANALOG_TL_MODES, v.ANALOG_MODES, v.ABLATION_MODES, v.FAST_LR_SELECTION_MODES):
        assert set(group) <= set(v.MODES), group
    assert set(v.DIGITAL_MODES) | set(v.ANALOG_MODES) == set(v.MODES)


def test_the_summary_tables_name_the_modes_as_committed():
    """summary.csv's mode rows (committed under docs/results) carry MODE_LABELS' table text."""
    labels = {f"test error, {label.table}" for label in v.MODE_LABELS.values()}
    tables = sorted(RESULTS.glob("*/summary.csv"))
    assert tables
    for path in tables:
        quantities = set(pd.read_csv(path)["quantity"])
        mode_rows = {q for q in quantities if q.startswith("test error, ")}
        assert mode_rows and mode_rows <= labels, path
    assert v.MODE_LABELS[v.DIGITAL_TL].figure == "Digital TL (SGD)"
    assert v.MODE_LABELS[v.DIGITAL_SCRATCH].short == "digital from scratch"


def test_data_roles_and_torchvision_data_sets():
    from analog_tl.data.sources import TORCHVISION_ROLES

    assert tuple(v.TORCHVISION_DATASETS) == v.DATA_ROLES
    assert TORCHVISION_ROLES == {"cifar10": v.PRETRAIN_ROLE, "cifar100": v.FINETUNE_ROLE}


def test_the_vocabulary_imports_nothing_of_the_project():
    tree = ast.parse((REPO / "src" / "analog_tl" / "vocabulary.py").read_text())
    modules = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    modules += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert not [m for m in modules if m.startswith("analog_tl")]


# --- numbers, grid points, sweep axes -------------------------------------------------------


def test_numbers_have_one_spelling():
    assert [v.fmt_float(x) for x in (0, 0.1, 1, "0.10", 1e-4)] == ["0.0", "0.1", "1.0", "0.1", "0.0001"]
    assert [v.grid_value(x) for x in (1, 0.5, True, "x")] == ["1.0", "0.5", "True", "x"]


def test_grid_points_are_named_as_the_comparison_folders():
    assert v.grid_point_name({}) == v.DEFAULT_POINT == "default"
    assert v.grid_point_name({"fast_lr": 1}) == "fast_lr~1.0"
    assert v.grid_point_name({"fast_lr": 0.1, "auto_granularity": 1000}) == "auto_granularity~1000.0,fast_lr~0.1"
    assert v.grid_point_name({"flag": False, "name": "x"}) == "flag~False,name~x"


def test_sweep_axes():
    assert v.sweep_axes(["range_skew", "reference_shift"]) == [
        "sps_range_skew", "sps_reference_shift", "spv", "pulse_noise", "dtod"]
    assert v.split_axis("sps_asymmetric_range") == (v.SPS, "asymmetric_range")
    assert v.split_axis("spv") == ("spv", None)
    assert all(v.axis_name(*v.split_axis(axis)) == axis for axis in v.sweep_axes(v.SPS_READINGS))


def test_compare_modes():
    assert [v.compare_mode(layers) for layers in v.ANALOG_LAYER_SETS] == [
        "analog_tl", "analog_tl_backbone_only", "analog_tl_head_only"]


# --- run folders: the templates give the committed tables' folders ----------------------------


def _runs(pattern: str) -> pd.DataFrame:
    tables = sorted(RESULTS.glob(pattern))
    assert tables, pattern
    return pd.concat([pd.read_csv(path) for path in tables], ignore_index=True)


def _num(value: object) -> str | None:
    return None if pd.isna(value) else v.fmt_float(value)


def test_the_main_run_templates_give_the_committed_run_folders():
    runs = _runs("*/runs.csv")
    assert set(runs["mode"]) == set(v.MODES)
    for row in runs.itertuples():
        run = GridRun(row.task, row.mode, _num(row.transfer_noise), row.seed)
        assert v.main_run_folder(run, _num(row.fast_lr)) == row.run
    assert v.main_run_folder(GridRun("2class", v.ANALOG_TL, "0.1", "0"), "0.1") == (
        "results/runs/2class/analog_tl/noise~0.1/fast_lr~0.1/seed~0")


def test_the_sweep_template_gives_the_committed_sweep_folders():
    runs = _runs("**/sweeps/*_runs.csv")
    for row in runs.itertuples():
        axis = v.axis_name(row.sweep, row.sps_reading)
        folder = v.SWEEP_RUN.format(task=row.task, sweep=axis, value=v.fmt_float(row.sweep_value),
                                    fast_lr=v.fmt_float(row.fast_lr), lr=v.fmt_float(row.lr), seed=row.seed)
        assert folder == row.run


def test_the_compare_template_and_grid_point_names_give_the_committed_compare_folders():
    runs = _runs("*/compare_runs.csv")
    for row in runs.itertuples():
        fields = [] if row.hyperparameters == v.DEFAULT_POINT else row.hyperparameters.split(",")
        point = {field: ast.literal_eval(value) for field, value in (item.split("=") for item in fields)}
        folder = v.COMPARE_RUN.format(task=row.task, algorithm=row.algorithm, device=row.compare_device,
                                      layers=row.analog_layers, point=v.grid_point_name(point), seed=row.seed)
        assert folder == row.run
        assert row.mode == v.compare_mode(row.analog_layers)


def test_a_folder_of_an_analog_run_needs_its_fast_lr():
    with pytest.raises(ValueError, match="needs its fast_lr"):
        v.main_run_folder(GridRun("t", v.ANALOG_SCRATCH, None, "0"))


# --- the run grid -------------------------------------------------------------------------


def test_the_main_grid_lists_every_run_in_the_workflows_order():
    selected = {("t", v.ANALOG_TL): "0.1", ("t", v.ANALOG_SCRATCH): "1.0"}
    folders = v.main_run_folders(["t"], ["0", "1"], ["0.2", "0.05"], selected, frozen_digital_ablation=True)
    per_seed = [
        "results/runs/t/digital_tl/seed~{s}",
        "results/runs/t/digital_scratch/seed~{s}",
        "results/runs/t/analog_scratch/fast_lr~1.0/seed~{s}",
        "results/runs/t/analog_tl/noise~0.2/fast_lr~0.1/seed~{s}",
        "results/runs/t/analog_tl/noise~0.05/fast_lr~0.1/seed~{s}",
        "results/runs/t/analog_tl_frozen_digital/noise~0.05/fast_lr~0.1/seed~{s}",  # at the smallest noise
    ]
    assert folders == [f.format(s=s) for s in ("0", "1") for f in per_seed]
    without = v.main_run_folders(["t"], ["0"], ["0.2"], selected, frozen_digital_ablation=False)
    assert not [f for f in without if v.ANALOG_TL_FROZEN_DIGITAL in f] and len(without) == 4


def test_the_merged_tables_expect_the_runs_the_workflow_runs():
    from analog_tl.results.parts import Grid

    grid = Grid(tasks=("t", "u"), seeds=(0, 3), transfer_noise=(0.1, 0.0), frozen_digital_ablation=True)
    expected = grid.expected()
    assert len(expected) == 2 * 2 * 6
    assert ("t", v.ANALOG_TL_FROZEN_DIGITAL, 0.0, 3) in expected and ("u", v.DIGITAL_TL, -1.0, 0) in expected
    grid_runs = v.main_grid(grid.tasks, grid.seeds, grid.transfer_noise, grid.frozen_digital_ablation)
    assert {(r.task, r.mode, r.seed) for r in grid_runs} == {(t, m, s) for t, m, _, s in expected}

"""End-to-end: the Snakemake workflow on a tiny config, its outputs, and what reruns after a change."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from workflow_helpers import REPO, SNAKEMAKE, TINY, planned_jobs, snakemake, write_config

TINY_SIMULATORS = ("aihwkit", "fast")  # analog.simulator fast; compare.simulator auto (common.smk analog_simulators)

pytestmark = pytest.mark.slow


FIGURES = (
    "fig2_test_error_vs_epoch",
    "fig3_test_error_vs_transfer_noise",
    "fig4_test_error_vs_sps",
    "fig_spv_test_error_vs_spv",
    "fig5_test_error_vs_pulse_noise_and_dtod",
)
SWEEP_AXES = ("sps_range_skew", "sps_reference_shift", "spv", "pulse_noise", "dtod")
SWEEP_TABLES = [f"sweeps/{s}_{t}.csv" for s in SWEEP_AXES for t in ("runs", "summary")]


def only(workdir: Path, pattern: str) -> Path:
    """The one path under ``workdir`` that matches ``pattern`` (e.g. a run folder at its selected fast_lr)."""
    matches = sorted(workdir.glob(pattern))
    assert len(matches) == 1, (pattern, matches)
    return matches[0]


def selected(workdir: Path, task: str, mode: str = "analog_tl") -> float:
    """The fast_lr that select_fast_lr chose for ``task`` and ``mode``."""
    return json.loads((workdir / f"results/selection/fast_lr/{task}.json").read_text())["selected"][mode]


def test_every_table_and_figure_is_written(finished_run):
    for name in ("epochs.csv", "runs.csv", "transfer_noise.csv", "fast_lr.csv", "critical_noise.csv", "summary.csv",
                 *SWEEP_TABLES):
        assert (finished_run / "results" / "tables" / name).stat().st_size > 0
    for stem in FIGURES:
        png = (finished_run / "results" / "figures" / f"{stem}.png").read_bytes()
        pdf = (finished_run / "results" / "figures" / f"{stem}.pdf").read_bytes()
        assert png.startswith(b"\x89PNG") and len(png) > 20_000
        assert pdf.startswith(b"%PDF")
    assert not list((finished_run / "results").rglob(".*.tmp-*"))  # no temporary files left


def test_every_training_rule_saved_resumable_state_and_removed_it(finished_run):
    logs = finished_run / "logs"
    scratch, tl2, tl5 = (selected(finished_run, t, m) for t, m in
                         (("5class", "analog_scratch"), ("2class", "analog_tl"), ("5class", "analog_tl")))
    for log in ("pretrain.log", "runs/2class/digital_tl/seed~0.log", f"runs/5class/analog_scratch/fast_lr~{scratch!r}/seed~0.log",
                f"runs/2class/analog_tl/noise~0.1/fast_lr~{tl2!r}/seed~0.log",
                f"sweeps/5class/dtod~60.0/fast_lr~{tl5!r}/lr~0.05/seed~0.log"):
        assert "saved resumable state results/resume/" in only(logs, log).read_text(), log
    assert not [p for p in (finished_run / "results" / "resume").rglob("*") if p.is_file()]


def test_epochs_table_is_tidy_with_settings_and_valid_numbers(finished_run):
    epochs = pd.read_csv(finished_run / "results" / "tables" / "epochs.csv")
    # 2 tasks x (digital TL, digital scratch, analog scratch, 3 noise levels, frozen-digital TL) x 1 seed x 4 epochs
    assert len(epochs) == 2 * 7 * 4
    for column in ("task", "mode", "transfer_noise", "seed", "lr", "batch_size", "epoch", "test_error", "val_error",
                   "val_loss"):
        assert column in epochs.columns
    assert (epochs["val_loss"] > 0).all()  # recorded every epoch, the protocol's tie-break
    assert set(epochs["mode"]) == {"digital_tl", "digital_scratch", "analog_tl", "analog_scratch",
                                   "analog_tl_frozen_digital"}
    for column in ("train_error", "val_error", "test_error"):
        assert epochs[column].between(0, 1).all()
    analog = epochs[epochs["mode"] == "analog_tl"]
    assert sorted(analog.transfer_noise.unique()) == [0.0, 0.1, 0.2]
    assert (epochs.batch_size == 8).all() and (epochs.lr == 0.01).all()


def test_runs_table_and_run_records(finished_run):
    runs = pd.read_csv(finished_run / "results" / "tables" / "runs.csv")
    assert len(runs) == 14
    assert runs.test_error_at_best_val.between(0, 1).all()
    # the protocol's scores (docs/protocol.md); its epoch rule is the runs' own selection
    assert (runs["test_error_selected"] == runs["test_error_at_best_val"]).all()
    assert (runs["test_error_last"] == runs["final_test_error"]).all() and runs["converged"].isin([True, False]).all()
    verdicts = pd.read_csv(finished_run / "results" / "tables" / "verdicts.csv")
    assert {"tl_vs_analog_scratch", "digital_tl_ahead", "sps_range_skew"} <= set(verdicts["claim"])  # 2 values
    assert verdicts["verdict"].isin(["reproduced", "not reproduced", "inconclusive"]).all()
    # pre-training helps: digital TL beats digital from scratch on the 5-class task
    five = runs[runs.task == "5class"].set_index("mode")
    assert five.loc["digital_tl", "final_test_error"] < five.loc["digital_scratch", "final_test_error"]
    record = json.loads(only(finished_run, "results/runs/5class/analog_tl/noise~0.2/fast_lr~*/seed~0/run.json").read_text())
    assert record["table_i"]["auto_granularity"] == 10000 and record["table_i"]["learning_rate"] == 0.01
    assert record["rpu_config"]["device"]["fast_lr"] == selected(finished_run, "5class")
    assert record["rpu_config"]["mapping"]["max_input_size"] == 512
    assert {"torch", "aihwkit", "timm", "snakemake", "python"} <= set(record["versions"])
    assert len(record["analog_layers"]) == 10
    # what was simulated: the device, one population per tile, the measured symmetry points, who trained digitally
    assert record["analog_device"]["device_class"] == "SoftBoundsReferenceDevice"
    assert record["analog_device"]["states"] == pytest.approx(2000.0)
    tiles = record["device_populations"]["tiles"]
    assert len(tiles) == sum(layer["tiles"] for layer in record["analog_layers"]) and len({t["seed"] for t in tiles}) == len(tiles)
    assert [p["device"] for p in record["symmetry_points"]] == [0, 1]
    assert record["parameters"]["digital_trained"] > 0 and record["parameters"]["analog_weights"] > 0
    assert record["settings"]["simulator"] == "fast" and record["simulator"]["name"] == "fast"
    assert len(record["simulator"]["tiles"]) == len(tiles)  # every tile's random key is recorded
    frozen = runs[runs["mode"] == "analog_tl_frozen_digital"]
    assert len(frozen) == 2 and (frozen.digital_trained_parameters == 0).all() and (frozen.digital_frozen_parameters > 0).all()
    analog = runs[runs["mode"].str.startswith("analog")]
    assert (analog.device_class == "SoftBoundsReferenceDevice").all() and analog.symmetry_point_mean.abs().max() < 0.01


def test_fast_lr_is_chosen_on_validation_and_used_by_every_analog_tl_run(finished_run):
    table = pd.read_csv(finished_run / "results" / "tables" / "fast_lr.csv")
    assert len(table) == 2 * 2 * 2  # tasks x (analog TL, scratch) x candidates
    for (task, mode), group in table.groupby(["task", "mode"]):
        assert group.selected.sum() == 1
        chosen = group[group.selected].iloc[0]
        assert chosen.val_error_mean == group.val_error_mean.min()
        assert chosen.fast_lr == selected(finished_run, task, mode)
    runs = pd.read_csv(finished_run / "results" / "tables" / "runs.csv")
    for task in ("2class", "5class"):
        tl = runs[(runs.task == task) & runs["mode"].str.startswith("analog_tl")]
        assert (tl.fast_lr == selected(finished_run, task)).all()
        scratch = runs[(runs.task == task) & (runs["mode"] == "analog_scratch")]
        assert (scratch.fast_lr == selected(finished_run, task, "analog_scratch")).all()
        sweeps = pd.read_csv(finished_run / "results" / "tables" / "sweeps" / "dtod_runs.csv")
        assert (sweeps[sweeps.task == task].fast_lr == selected(finished_run, task)).all()


def test_realised_transfer_noise_table(finished_run):
    noise = pd.read_csv(finished_run / "results" / "tables" / "transfer_noise.csv")
    assert set(noise.task) == {"2class", "5class"} and set(noise.tau) == {0.0, 0.1, 0.2}
    pooled = noise.assign(n=noise.rows * noise.cols, v=noise.realised_std**2 * noise.rows * noise.cols)
    pooled = pooled.groupby("tau")[["v", "n"]].sum()
    std = (pooled.v / pooled.n) ** 0.5
    assert std[0.0] < 0.01
    assert std[0.2] == pytest.approx(0.2, rel=0.1)


def test_a_second_run_plans_nothing(finished_run):
    assert planned_jobs(finished_run) == {}


@pytest.fixture
def copy_of_run(finished_run, tmp_path) -> Path:
    """A copy of the finished run (with Snakemake's metadata) that a test may change."""
    workdir = tmp_path / "copy"
    shutil.copytree(finished_run, workdir, symlinks=True)
    return workdir


@pytest.mark.parametrize(
    "section, key, value",
    [
        ("finetune", "eval_batch_size", 7),
        ("finetune", "log_every_steps", 1),
        ("pretrain", "eval_batch_size", 7),
        ("pretrain", "log_every_steps", 1),
        ("data", "download", False),
        ("data", "pretrain_path", "elsewhere/cifar10"),
        ("data", "finetune_path", "elsewhere/cifar100"),
    ],
)
def test_execution_and_data_location_settings_plan_no_job(copy_of_run, section, key, value, tiny_config):
    """How a run evaluates and logs, where the data lives and whether it may be downloaded: none is a rule param."""
    config = copy.deepcopy(tiny_config)
    assert config[section].get(key) != value
    config[section][key] = value
    write_config(copy_of_run, config)
    assert planned_jobs(copy_of_run) == {}


def test_run_records_say_which_code_and_execution_settings_made_them(finished_run):
    record = json.loads((finished_run / "results" / "runs" / "5class" / "digital_tl" / "seed~0" / "run.json").read_text())
    project = record["project"]
    assert project["source"] == "checkout" and project["library_path"] == str((REPO / "src" / "analog_tl").resolve())
    assert project["version"] and (project["git"] == "not a git checkout" or len(project["git"]["commit"]) == 40)
    assert record["execution"] == {"eval_batch_size": TINY["finetune"].get("eval_batch_size", 256),
                                   "log_every_steps": TINY["finetune"].get("log_every_steps", 50)}
    assert "eval_batch_size" not in record["train"]
    assert record["device"]["tf32"] is False and "triton" in record["device"]
    analog = json.loads(next((finished_run / "results" / "runs" / "5class" / "analog_tl").rglob("run.json")).read_text())
    assert analog["simulator"]["name"] == "fast" and analog["simulator"]["kernel"] == "cpp"  # on the CPU
    preflight = json.loads((finished_run / "results" / "preflight" / "devices.json").read_text())
    assert set(preflight["selected"]) == {"digital", *TINY_SIMULATORS}


def test_a_missing_preflight_report_reruns_only_the_preflight(copy_of_run):
    (copy_of_run / "results" / "preflight" / "devices.json").unlink()
    assert planned_jobs(copy_of_run) == {"preflight": 1, "all": 1}
    finals = {p: p.stat().st_mtime_ns for p in (copy_of_run / "results").rglob("final.json")}
    tables = {p: p.stat().st_mtime_ns for p in (copy_of_run / "results" / "tables").rglob("*.csv")}
    snakemake(copy_of_run, "--cores", "2")
    assert (copy_of_run / "results" / "preflight" / "devices.json").exists()
    assert {p: p.stat().st_mtime_ns for p in finals} == finals and {p: p.stat().st_mtime_ns for p in tables} == tables
    # as the GPU profiles do on every invocation: the forced check plans nothing else
    out = snakemake(copy_of_run, "--dry-run", "--cores", "2", "--forcerun", "preflight").stdout
    stats = out.split("Job stats:", 1)[1].split("total", 1)[0]
    assert {m.group(1) for m in re.finditer(r"^(\w+)\s+\d+$", stats, re.MULTILINE)} == {"preflight", "all"}


def test_adding_a_noise_level_plans_only_that_level(copy_of_run, tiny_config):
    config = copy.deepcopy(tiny_config)
    config["analog"]["transfer_noise"] = [0.0, 0.1, 0.2, 0.05]
    write_config(copy_of_run, config)
    assert planned_jobs(copy_of_run) == {
        "convert_analog": 2,  # one per task
        "finetune_analog_tl": 2,
        "write_run_plan": 1,  # the tables' grid
        "aggregate_tables": 1,
        "headline_tables": 1,
        "claim_verdicts": 1,
        "plot_fig2": 1,
        "plot_fig3": 1,
        "all": 1,
    }


def test_adding_a_task_remakes_every_table_with_it(copy_of_run, tiny_config):
    """The new task's fast_lr checkpoint has not run: only the plan files make the finished tables outdated."""
    config = copy.deepcopy(tiny_config)
    config["tasks"]["pair"] = ["frame+stripes", "plus+triangle"]
    write_config(copy_of_run, config)
    jobs = planned_jobs(copy_of_run)
    assert jobs["write_run_plan"] == 7  # tables, the comparison, 5 sweep axes: each grid has the task
    for rule in ("select_fast_lr", "aggregate_tables", "headline_tables", "plot_fig2", "plot_fig3", "aggregate_compare"):
        assert jobs.get(rule) == 1, (rule, jobs)
    assert jobs["aggregate_sweep"] == 5 and jobs["prepare_task_data"] == 1
    per_task = len(list((copy_of_run / "results" / "compare" / "2class").rglob("final.json")))
    assert "pretrain" not in jobs and jobs["finetune_compare"] == per_task  # the new task's runs only
    assert jobs["finetune_digital_tl"] == jobs["train_digital_scratch"] == 1


def test_sweeps_and_comparison_run_only_on_their_tasks(copy_of_run, tiny_config):
    """sweeps.tasks / compare.tasks: a new task gets the main grid only; narrowing the lists retrains nothing."""
    config = copy.deepcopy(tiny_config)
    config["tasks"]["pair"] = ["frame+stripes", "plus+triangle"]
    config["sweeps"]["tasks"] = config["compare"]["tasks"] = list(TINY["tasks"])
    write_config(copy_of_run, config)
    jobs = planned_jobs(copy_of_run)
    assert jobs["write_run_plan"] == 1 and jobs["finetune_digital_tl"] == 1, jobs  # the main grid's tables only
    assert not {"finetune_analog_sweep", "aggregate_sweep", "finetune_compare", "aggregate_compare"} & set(jobs), jobs

    config = copy.deepcopy(tiny_config)
    config["sweeps"]["tasks"] = config["compare"]["tasks"] = [next(iter(TINY["tasks"]))]
    write_config(copy_of_run, config)
    jobs = planned_jobs(copy_of_run)
    assert jobs["write_run_plan"] == 6 and jobs["aggregate_sweep"] == 5 and jobs["aggregate_compare"] == 1, jobs
    assert not {"finetune_analog_sweep", "finetune_compare", "finetune_analog_tl"} & set(jobs), jobs


def test_adding_a_seed_remakes_the_tables_with_it(copy_of_run, tiny_config):
    config = copy.deepcopy(tiny_config)
    config["finetune"]["seeds"] = [0, 1]
    write_config(copy_of_run, config)
    jobs = planned_jobs(copy_of_run)
    assert jobs["write_run_plan"] == 7 and jobs["aggregate_tables"] == 1 and jobs["finetune_digital_tl"] == 2, jobs


def test_adding_a_sweep_value_plans_only_that_point(copy_of_run, tiny_config):
    config = copy.deepcopy(tiny_config)
    config["sweeps"]["sps"] = [0, 20, 10]
    write_config(copy_of_run, config)
    assert planned_jobs(copy_of_run) == {
        "finetune_analog_sweep": 8,  # 2 tasks x 2 readings x 2 learning rates x 1 seed
        "write_run_plan": 2,  # the grids of the two SpS axes
        "aggregate_sweep": 2,  # the two SpS axes only
        "plot_fig4": 1,
        "claim_verdicts": 1,  # the SpS claims are scored on the new point
        "all": 1,
    }


def test_switching_the_simulator_reruns_only_analog_training_and_aihwkit_trains(copy_of_run, tiny_config):
    """The simulator is a training setting: data, pre-training, conversion and digital runs stay."""
    config = copy.deepcopy(tiny_config)
    assert config["analog"]["simulator"] == "fast"
    config["analog"]["simulator"] = "aihwkit"
    write_config(copy_of_run, config)
    jobs = planned_jobs(copy_of_run)
    assert {"finetune_analog_tl", "train_analog_scratch"} <= set(jobs), jobs
    unchanged = {"prepare_pretrain_data", "prepare_task_data", "pretrain", "convert_analog", "finetune_digital_tl",
                 "train_digital_scratch"}
    assert not unchanged & set(jobs), jobs
    run = "results/runs/2class/analog_scratch/fast_lr~0.1/seed~0"
    snakemake(copy_of_run, "--cores", "2", f"{run}/final.json")
    record = json.loads((copy_of_run / run / "run.json").read_text())
    assert record["simulator"]["name"] == "aihwkit" and record["settings"]["simulator"] == "aihwkit"


def test_adding_an_sps_reading_runs_only_that_reading(copy_of_run, tiny_config):
    config = copy.deepcopy(tiny_config)
    config["sweeps"]["sps_readings"] = ["range_skew", "reference_shift", "asymmetric_range"]
    write_config(copy_of_run, config)
    jobs = planned_jobs(copy_of_run)
    assert jobs["finetune_analog_sweep"] == 8  # 2 tasks x 2 values x 2 learning rates
    assert jobs["aggregate_sweep"] == 1 and "plot_fig5" not in jobs and "finetune_analog_tl" not in jobs


def test_changing_the_analog_learning_rate_reruns_only_analog_training(copy_of_run, tiny_config):
    config = copy.deepcopy(tiny_config)
    config["finetune"]["analog_lr"] = 0.05
    write_config(copy_of_run, config)
    jobs = planned_jobs(copy_of_run)
    # the fast_lr candidates (2 tasks x 2 values, TL at tau 0 and scratch) and the checkpoint; the other noise
    # levels, the ablation and the sweeps join the DAG once select_fast_lr has run again
    assert jobs["finetune_analog_tl"] == 4 and jobs["train_analog_scratch"] == 4 and jobs["select_fast_lr"] == 2
    for rule in ("pretrain", "prepare_pretrain_data", "prepare_task_data", "convert_analog",
                 "finetune_digital_tl", "train_digital_scratch"):
        assert rule not in jobs


def test_the_comparison_covers_every_pair_selects_on_validation_and_records_the_simulator(finished_run):
    tables = finished_run / "results" / "tables"
    pairs = pd.read_csv(tables / "compare_pairs.csv")
    assert len(pairs) == 3 * 2 and (pairs.status == "ok").all()  # sgd, c-ttv2, agad on the nominal and HfO2 devices
    assert set(pairs.loc[pairs.algorithm == "sgd", "table_i_applied"].fillna("")) == {""}
    runs = pd.read_csv(tables / "compare_runs.csv")
    # 2 tasks x (sgd: 1 point, c-ttv2 and agad: 2 fast_lr points) x 2 devices + c-ttv2 ablations (2 layer sets x 2 points)
    assert len(runs) == 2 * ((1 + 2 + 2) * 2 + 2 * 2)
    for _, arm in runs.groupby(["task", "algorithm", "compare_device", "analog_layers"]):
        chosen = arm[arm.selected]
        assert chosen.hyperparameters.nunique() == 1 and chosen.val_error_mean.iloc[0] == arm.val_error_mean.min()
    simulators = runs.groupby("algorithm").simulator.unique().to_dict()
    assert list(simulators["c-ttv2"]) == list(simulators["agad"]) == ["fast"] and list(simulators["sgd"]) == ["aihwkit"]
    summary = pd.read_csv(tables / "compare_summary.csv")
    assert set(summary.analog_layers) == {"all", "backbone", "head"} and summary.states.notna().all()
    hfo2 = summary[summary.compare_device == "hfo2"]
    assert hfo2.states.round(2).eq(4.33).all()
    record = json.loads(only(finished_run, "results/compare/5class/agad/hfo2/layers~all/fast_lr~0.1/seed~0/run.json").read_text())
    assert record["algorithm"]["compound_class"] == "DynamicTransferCompound"
    assert record["rpu_config"]["device"]["fast_lr"] == 0.1 and record["rpu_config"]["device"]["auto_granularity"] == 10000.0
    assert record["simulator_choice"]["simulator"] == "fast" and record["analog_device"]["device"] == "ReRamArrayHfO2PresetDevice"
    head_only = json.loads(only(finished_run, "results/compare/2class/c-ttv2/nominal/layers~head/fast_lr~0.1/seed~0/run.json").read_text())
    assert len(head_only["analog_layers"]) == 1 and head_only["parameters"]["digital_trained"] > record["parameters"]["digital_trained"]
    for figure in ("fig6_test_error_by_algorithm_and_device", "fig_layers_test_error_by_analog_layers"):
        assert (finished_run / "results" / "figures" / f"{figure}.png").stat().st_size > 10_000


def test_a_comparison_device_with_weight_mapping_runs_mapped_tiles_and_records_the_mapping(copy_of_run, tiny_config):
    """compare.devices.<name>.mapping is set over analog.mapping for that device's runs only."""
    config = copy.deepcopy(tiny_config)
    config["compare"]["devices"]["hfo2_mapped"] = {"name": "ReRamArrayHfO2PresetDevice",
                                                   "mapping": {"weight_scaling_omega": 0.8}}
    write_config(copy_of_run, config)
    target = "results/compare/2class/agad/hfo2_mapped/layers~all/fast_lr~0.1/seed~0/final.json"
    snakemake(copy_of_run, "--cores", "2", target)
    record = json.loads((copy_of_run / target).with_name("run.json").read_text())
    assert record["rpu_config"]["mapping"]["weight_scaling_omega"] == 0.8
    assert record["simulator_choice"]["simulator"] == "fast"
    assert record["simulator"]["settings"]["mapping"]["weight_scaling_omega"] == 0.8
    plain = json.loads(only(copy_of_run, "results/compare/2class/agad/hfo2/layers~all/fast_lr~0.1/seed~0/run.json").read_text())
    assert plain["rpu_config"]["mapping"]["weight_scaling_omega"] == 0.0


def test_a_variant_runs_as_its_own_algorithm_on_the_devices_that_list_it(copy_of_run, tiny_config):
    """compare.variants: residual learning as an algorithm of its own (its gamma grid), on the nominal device only."""
    config = copy.deepcopy(tiny_config)
    compare = config["compare"]
    compare["variants"] = {"c-ttv2-rl": {"algorithm": "c-ttv2"}}
    compare["grids"] = {"c-ttv2-rl": {"gamma": [0.3]}}
    compare["algorithms"] = [*TINY["compare"]["algorithms"], "c-ttv2-rl"]
    compare["devices"]["nominal"]["algorithms"] = compare["algorithms"]
    compare["devices"]["hfo2"]["algorithms"] = list(TINY["compare"]["algorithms"])
    write_config(copy_of_run, config)
    snakemake(copy_of_run, "--cores", "2", "results/compare/pairs.json")
    checked = {(p["algorithm"], p["device"]) for p in json.loads((copy_of_run / "results/compare/pairs.json").read_text())["pairs"]}
    assert ("c-ttv2-rl", "nominal") in checked and ("c-ttv2-rl", "hfo2") not in checked  # the arms' pairs only
    jobs = planned_jobs(copy_of_run)
    assert jobs.pop("finetune_compare") == 2 * 2  # tasks x fast_lr points (gamma 0.3), the nominal device only
    target = "results/compare/2class/c-ttv2-rl/nominal/layers~all/fast_lr~0.1,gamma~0.3/seed~0/final.json"
    snakemake(copy_of_run, "--cores", "2", target)
    record = json.loads((copy_of_run / target).with_name("run.json").read_text())
    assert record["settings"]["algorithm"] == "c-ttv2-rl" and record["settings"]["base_algorithm"] == "c-ttv2"
    assert record["rpu_config"]["device"]["gamma"] == 0.3 and record["simulator_choice"]["simulator"] == "fast"
    assert record["simulator"]["settings"]["compound"]["gamma"] == pytest.approx(0.3)  # float32, as aihwkit holds it


def test_adding_an_algorithm_runs_only_its_jobs_and_the_comparison_tables(copy_of_run, tiny_config):
    config = copy.deepcopy(tiny_config)
    config["compare"]["algorithms"] = [*TINY["compare"]["algorithms"], "tiki-taka"]
    write_config(copy_of_run, config)
    jobs = planned_jobs(copy_of_run)
    # the pair check runs again first; the new pairs' runs join the DAG after it (checkpoint)
    assert jobs == {"compare_pairs": 1, "write_run_plan": 1, "aggregate_compare": 1, "plot_fig6": 1,
                    "plot_fig_layers": 1, "all": 1}, jobs
    snakemake(copy_of_run, "--cores", "2", "results/compare/pairs.json")
    jobs = planned_jobs(copy_of_run)
    assert jobs.pop("finetune_compare") == 2 * 2 * 2  # tasks x devices x fast_lr points of tiki-taka
    assert set(jobs) == {"write_run_plan", "aggregate_compare", "plot_fig6", "plot_fig_layers", "all"}, jobs


def test_lint_is_clean():
    result = subprocess.run([*SNAKEMAKE, "--lint", "--directory", str(REPO)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_corrupted_converted_model_stops_fine_tuning_with_its_name(copy_of_run):
    folder = "results/analog_init/2class/noise~0.2/seed~0"
    model = copy_of_run / folder / "analog_model.pt"
    model.write_bytes(model.read_bytes()[:-100])
    run = f"2class/analog_tl/noise~0.2/fast_lr~{selected(copy_of_run, '2class')!r}/seed~0"
    target = f"results/runs/{run}/final.json"
    result = snakemake(copy_of_run, "--cores", "1", "--forcerun", "finetune_analog_tl", target, check=False)
    assert result.returncode != 0
    log = (copy_of_run / f"logs/runs/{run}.log").read_text()
    assert f"{folder}/analog_model.pt: SHA-256" in log and "does not match" in log
    assert not (copy_of_run / target).exists()


def test_html_report_bundles_the_figures_and_tables(finished_run):
    snakemake(finished_run, "--report", "report.html")
    html = (finished_run / "report.html").read_text(errors="replace")
    for name in (*[f"{stem}.png" for stem in FIGURES], "runs.csv", "epochs.csv", "summary.csv", "critical_noise.csv",
                 "fast_lr.csv", "sps_reference_shift_runs.csv", "dtod_summary.csv"):
        assert name in html


def test_sweep_tables_select_on_validation_and_runs_record_the_device(finished_run):
    runs = pd.read_csv(finished_run / "results" / "tables" / "sweeps" / "sps_range_skew_runs.csv")
    assert len(runs) == 2 * 2 * 2  # tasks x values x learning rates (1 seed)
    assert set(runs.lr) == {0.01, 0.05} and set(runs.sweep_value) == {0.0, 20.0} and set(runs.sweep) == {"sps"}
    assert set(runs.sps_reading) == {"range_skew"}
    for _, point in runs.groupby(["task", "sweep_value", "seed"]):
        assert point.selected.sum() == 1
        assert point.loc[point.selected, "best_val_error"].iloc[0] == point.best_val_error.min()
    summary = pd.read_csv(finished_run / "results" / "tables" / "sweeps" / "sps_range_skew_summary.csv")
    assert len(summary) == 4 and summary.test_error_mean.between(0, 1).all()
    fast = selected(finished_run, "5class")
    record = json.loads((finished_run / f"results/sweeps/5class/sps_range_skew~20.0/fast_lr~{fast!r}/lr~0.05/seed~0/run.json").read_text())
    assert record["sweep"]["device_fields"] == {"w_max": 1.2, "w_min": -0.8}
    assert record["sweep"]["sps_reading"] == "range_skew"
    devices = record["rpu_config"]["device"]["unit_cell_devices"]
    assert [(d["w_max"], d["w_min"]) for d in devices] == [(1.2, -0.8)] * 2
    assert record["train"]["lr"] == 0.05 and record["train"]["epochs"] == 2
    fast2 = selected(finished_run, "2class")
    dtod = json.loads((finished_run / f"results/sweeps/2class/dtod~60.0/fast_lr~{fast2!r}/lr~0.01/seed~0/run.json").read_text())
    assert all(d["dw_min_dtod"] == 0.6 for d in dtod["rpu_config"]["device"]["unit_cell_devices"])


def test_a_sweep_part_tabulated_from_the_workflow_merges_into_the_workflows_own_sweep_tables(finished_run, tmp_path):
    """scripts/tabulate_sweep_part.py's tables of the finished run, merged alone, are the workflow's tables."""
    from analog_tl.results.parts import SweepGrid, merge_sweep_parts, write_sweep_part
    from analog_tl.vocabulary import CONFIG_SCHEMA
    from analog_tl.workflow_config import read_workflow_config

    written = write_sweep_part(finished_run, tmp_path / "part")
    assert {p.name for p in written} >= {"dtod_runs.csv", "dtod_epochs.csv", "spv_runs.csv"}
    config = read_workflow_config(finished_run / "config" / "config.yaml", REPO / CONFIG_SCHEMA)
    fast = {task: selected(finished_run, task) for task in ("2class", "5class")}
    merged = merge_sweep_parts([tmp_path / "part"], SweepGrid.from_config(config), fast)
    for axis, runs in merged.items():
        own = pd.read_csv(finished_run / "results" / "tables" / "sweeps" / f"{axis}_runs.csv")
        got = runs.sort_values("run").reset_index(drop=True)[own.columns]
        pd.testing.assert_frame_equal(got, own.sort_values("run").reset_index(drop=True), check_dtype=False)
    epochs = pd.read_csv(tmp_path / "part" / "sweeps" / "dtod_epochs.csv")
    assert epochs["val_loss"].notna().all() and epochs.groupby("run")["epoch"].max().eq(2).all()


def test_the_measured_symmetry_point_separates_the_sps_readings(finished_run):
    """Eq. 2's range skew leaves the symmetry point at 0; the reference shift moves it by s (weight units)."""
    tables = finished_run / "results" / "tables" / "sweeps"
    skew = pd.read_csv(tables / "sps_range_skew_summary.csv").set_index(["task", "sweep_value"])
    shift = pd.read_csv(tables / "sps_reference_shift_summary.csv").set_index(["task", "sweep_value"])
    for task in ("2class", "5class"):
        assert abs(skew.loc[(task, 20.0), "symmetry_point_mean"]) < 0.01
        assert shift.loc[(task, 20.0), "symmetry_point_mean"] == pytest.approx(0.2, abs=0.01)
        assert abs(shift.loc[(task, 0.0), "symmetry_point_mean"]) < 0.01
        assert 0 < skew.loc[(task, 20.0), "symmetry_point_std"] < 0.05


def test_critical_noise_and_summary_tables(finished_run):
    critical = pd.read_csv(finished_run / "results" / "tables" / "critical_noise.csv")
    assert list(critical.task) == ["2class", "5class"] and (critical.n_seeds == 1).all()
    runs = pd.read_csv(finished_run / "results" / "tables" / "runs.csv")
    for _, row in critical.iterrows():  # the interval, recomputed from runs.csv with the documented 2-SE rule
        tl = runs[(runs.task == row.task) & (runs["mode"] == "analog_tl")].sort_values("transfer_noise")
        p, n = tl.test_error_at_best_val.to_numpy(), tl.n_test.to_numpy()
        se = (p * (1 - p) / n) ** 0.5
        risen = [i for i in range(1, len(p)) if p[i] - p[0] > 2 * (se[i] ** 2 + se[0] ** 2) ** 0.5]
        taus = tl.transfer_noise.to_numpy()
        if risen:
            assert (row.elbow_low, row.elbow_high) == (taus[risen[0] - 1], taus[risen[0]])
            assert not row.no_rise_within_grid and row.rises_only_at_last_level == (risen[0] == len(p) - 1)
        else:
            assert row.elbow_low == taus[-1] and row.elbow_high == float("inf") and row.no_rise_within_grid
        assert row.near_chance == (p[0] >= 1 - 1 / row.n_classes - 2 * se[0])
    summary = pd.read_csv(finished_run / "results" / "tables" / "summary.csv")
    five = summary[summary.task == "5class"].set_index("quantity")
    runs = pd.read_csv(finished_run / "results" / "tables" / "runs.csv")
    digital = runs[(runs.task == "5class") & (runs["mode"] == "digital_tl")].test_error_at_best_val.iloc[0]
    assert five.loc["test error, digital TL (SGD)", "value"] == pytest.approx(100 * digital)
    assert five.loc["critical transfer noise", "paper"] == "about 0.10"


def test_a_grid_merged_from_parts_gives_the_workflows_own_tables_and_figures(finished_run, tmp_path):
    """A tables part with the 2-class runs plus the workflow folder itself (its runs tabulated afresh)."""
    tables = finished_run / "results" / "tables"
    part = tmp_path / "part"
    part.mkdir()
    for name in ("runs", "epochs", "transfer_noise", "fast_lr"):
        table = pd.read_csv(tables / f"{name}.csv")
        table[table.task == "2class"].to_csv(part / f"{name}.csv", index=False)
    out = tmp_path / "merged"
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "merge_table_parts.py"), "--config",
         str(finished_run / "config" / "config.yaml"), "--out", str(out), str(part), str(finished_run)],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr
    keys = {"runs": ["run"], "epochs": ["run", "epoch"], "transfer_noise": ["task", "seed", "tau", "layer"],
            "fast_lr": ["task", "mode", "fast_lr"], "critical_noise": ["task"], "summary": ["task", "quantity"]}
    for name, key in keys.items():  # the non-selected fast_lr candidates' runs are left out, as the workflow does
        merged, own = (pd.read_csv(f / f"{name}.csv").sort_values(key).reset_index(drop=True) for f in (out / "results" / "tables", tables))
        pd.testing.assert_frame_equal(merged, own, check_exact=name in ("runs", "epochs"), obj=name)
    for stem in FIGURES[:2]:
        assert (out / "results" / "figures" / f"{stem}.png").read_bytes().startswith(b"\x89PNG")


def test_a_configfile_stands_alone(finished_run, tmp_path, tiny_config):
    other = copy.deepcopy(tiny_config)
    other["tasks"] = {"pair": ["disc+ring", "frame+stripes"]}
    path = tmp_path / "other.yaml"
    path.write_text(yaml.safe_dump(other))
    out = snakemake(finished_run, "--dry-run", "--cores", "1", "--configfile", str(path)).stdout
    planned_tasks = set(re.findall(r"wildcards: task=(\w+)", out))
    assert planned_tasks == {"pair"}  # the tasks of config/config.yaml are not merged in
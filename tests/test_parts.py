"""A run grid made in parts: stacking the parts' tables, the agreement check, the grid check, the script.

The parts here are the committed real-CIFAR parts of config/real-small.yaml: both tasks at transfer
noise 0 (``real-small-tau0``) and the 2-class task at every noise level (``real-small-2class-noise``),
which share the 12 runs of the 2-class task at noise 0.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from analog_tl.results.parts import (
    KEYS, PAIRING_SETTINGS, Grid, PartsError, SweepGrid, merge_parts, merge_sweep_parts, missing_sweep_runs,
    one_value_per_task,
)
from analog_tl.vocabulary import CONFIG_SCHEMA

REPO = Path(__file__).resolve().parents[1]
TAU0 = REPO / "docs" / "results" / "real-small-tau0"
NOISE_2CLASS = REPO / "docs" / "results" / "real-small-2class-noise"
CONFIG_2CLASS = yaml.safe_load((NOISE_2CLASS / "config.yaml").read_text())
GRID_2CLASS = Grid.from_config(CONFIG_2CLASS)


def sorted_table(table: pd.DataFrame, name: str) -> pd.DataFrame:
    return table.sort_values(KEYS[name]).reset_index(drop=True)


def copy_part(source: Path, tmp_path: Path, name: str) -> Path:
    part = tmp_path / name
    shutil.copytree(source, part)
    return part


def edit_csv(path: Path, change) -> None:
    """Rewrite the table at ``path`` as ``change(table)``."""
    change(pd.read_csv(path)).to_csv(path, index=False)


def test_the_committed_parts_merge_into_the_2class_tables_and_their_shared_runs_agree():
    merged = merge_parts([TAU0, NOISE_2CLASS], GRID_2CLASS)
    merged["fast_lr"] = merged["fast_lr"].drop(columns="val_loss_mean")  # chosen again; these runs have no val loss
    for name in ("runs", "epochs", "transfer_noise", "fast_lr"):
        expected = pd.read_csv(NOISE_2CLASS / f"{name}.csv")
        pd.testing.assert_frame_equal(sorted_table(merged[name], name), sorted_table(expected, name))
    assert len(merged["runs"]) == 24 and set(merged["runs"]["task"]) == {"2class"}  # the 5-class runs left out


def test_a_run_that_differs_between_parts_is_named_with_the_column(tmp_path):
    part = copy_part(TAU0, tmp_path, "tau0")
    run = "results/runs/2class/analog_tl/noise~0.0/fast_lr~0.1/seed~1"
    edit_csv(part / "runs.csv", lambda t: t.assign(
        test_error_at_best_val=t["test_error_at_best_val"].where(t["run"] != run, 0.5)))
    with pytest.raises(PartsError, match=rf"runs: {{'run': '{run}'}} differs .* in test_error_at_best_val$"):
        merge_parts([part, NOISE_2CLASS], GRID_2CLASS)


def test_an_epoch_that_differs_between_parts_is_named(tmp_path):
    part = copy_part(TAU0, tmp_path, "tau0")
    edit_csv(part / "epochs.csv", lambda t: t.assign(val_error=t["val_error"].where(
        (t["run"] != "results/runs/2class/digital_tl/seed~2") | (t["epoch"] != 50), 0.99)))
    with pytest.raises(PartsError, match=r"epochs: .*digital_tl/seed~2', 'epoch': 50\} differs .* in val_error"):
        merge_parts([part, NOISE_2CLASS], GRID_2CLASS)


def test_wall_clock_times_may_differ_between_parts(tmp_path):
    part = copy_part(TAU0, tmp_path, "tau0")
    edit_csv(part / "runs.csv", lambda t: t.assign(train_seconds=t["train_seconds"] * 2))
    edit_csv(part / "epochs.csv", lambda t: t.assign(seconds=t["seconds"] + 1))
    merged = merge_parts([part, NOISE_2CLASS], GRID_2CLASS)
    assert len(merged["runs"]) == 24


def test_a_run_missing_from_every_part_is_named(tmp_path):
    part = copy_part(NOISE_2CLASS, tmp_path, "noise")
    run = "results/runs/2class/analog_tl/noise~0.15/fast_lr~0.1/seed~2"
    edit_csv(part / "runs.csv", lambda t: t[t["run"] != run])
    with pytest.raises(PartsError, match=r"lack 1 run\(s\) .*: 2class analog_tl tau 0.15 seed 2$"):
        merge_parts([part], GRID_2CLASS)


def test_a_missing_transfer_noise_report_is_named(tmp_path):
    part = copy_part(NOISE_2CLASS, tmp_path, "noise")
    edit_csv(part / "transfer_noise.csv", lambda t: t[t["tau"] != 0.2])
    with pytest.raises(PartsError, match=r"transfer_noise: no report .*'2class', 0, 0.2"):
        merge_parts([part], GRID_2CLASS)


def test_only_analog_runs_at_the_selected_fast_lr_count(tmp_path):
    """A second fast_lr candidate, worse on validation (better on test): chosen again from the runs, left out."""
    import dataclasses

    part = copy_part(NOISE_2CLASS, tmp_path, "noise")
    runs = pd.read_csv(part / "runs.csv")
    candidates = runs[(runs["mode"] == "analog_scratch") | ((runs["mode"] == "analog_tl") & (runs["transfer_noise"] == 0))]
    other = candidates.assign(fast_lr=1.0, best_val_error=0.99, test_error_at_best_val=0.0)
    other["run"] = other["run"].str.replace("fast_lr~0.1", "fast_lr~1.0")
    edit_csv(part / "runs.csv", lambda t: pd.concat([t, other]))
    grid = dataclasses.replace(GRID_2CLASS, fast_lrs=(0.1, 1.0))
    merged = merge_parts([part], grid)
    assert set(merged["runs"]["fast_lr"].dropna()) == {0.1} and len(merged["runs"]) == 24
    chosen = merged["fast_lr"][merged["fast_lr"]["selected"]]
    assert set(chosen["fast_lr"]) == {0.1} and len(merged["fast_lr"]) == 4  # 2 modes x 2 candidates
    edit_csv(part / "runs.csv", lambda t: t[~t["run"].str.endswith("analog_scratch/fast_lr~1.0/seed~2")])
    with pytest.raises(PartsError, match=r"lack 1 fast_lr candidate run\(s\): 2class analog_scratch fast_lr 1 seed 2$"):
        merge_parts([part], grid)


def test_a_part_without_tables_or_runs_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(PartsError, match="neither runs.csv nor finished runs"):
        merge_parts([tmp_path / "empty"], GRID_2CLASS)


def test_a_table_folder_without_its_epochs_is_refused(tmp_path):
    part = copy_part(NOISE_2CLASS, tmp_path, "noise")
    (part / "epochs.csv").unlink()
    with pytest.raises(PartsError, match=r"noise: no epochs.csv beside runs.csv"):
        merge_parts([part], GRID_2CLASS)


def test_the_script_writes_the_tables_and_figures_of_the_committed_2class_part(tmp_path):
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "merge_table_parts.py"), "--config", str(NOISE_2CLASS / "config.yaml"),
         "--out", str(tmp_path), str(TAU0), str(NOISE_2CLASS)], capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    for name in ("critical_noise", "summary"):  # the headline tables the workflow wrote from the same runs
        assert (tmp_path / "results" / "tables" / f"{name}.csv").read_text() == (NOISE_2CLASS / f"{name}.csv").read_text()
    for figure in ("fig2_test_error_vs_epoch", "fig3_test_error_vs_transfer_noise"):
        assert (tmp_path / "results" / "figures" / f"{figure}.png").stat().st_size > 10_000


def test_the_script_names_a_bad_config_in_one_line(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({**CONFIG_2CLASS, "finetune": {**CONFIG_2CLASS["finetune"], "seeds": "zero"}}))
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "merge_table_parts.py"), "--config", str(config), "--out",
         str(tmp_path / "out"), str(NOISE_2CLASS)], capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("merge_table_parts: ConfigError:") and "seeds" in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_run_made_with_other_settings_is_refused(tmp_path):
    part = copy_part(NOISE_2CLASS, tmp_path, "noise")
    run = "results/runs/2class/analog_tl/noise~0.1/fast_lr~0.1/seed~0"
    edit_csv(part / "runs.csv", lambda t: t.assign(epochs=t["epochs"].where(t["run"] != run, 8)))
    with pytest.raises(PartsError, match=rf"^{run}: epochs 8, the config says 100"):
        merge_parts([part], GRID_2CLASS)


# --- the device sweeps: the committed demo sweeps of config/config.yaml (2-class task, 2 values per axis) ---

DEMO = REPO / "docs" / "results" / "default"
DEMO_CONFIG = REPO / "config" / "config.yaml"


def _sweep_grid() -> SweepGrid:
    from analog_tl.workflow_config import read_workflow_config

    return SweepGrid.from_config(read_workflow_config(DEMO_CONFIG, REPO / CONFIG_SCHEMA))


def _split_sweeps(tmp_path: Path) -> tuple[Path, Path]:
    """Two parts of the demo sweeps (seed 0): one learning rate each, both with every run of value 0 (the overlap)."""
    first, second = tmp_path / "first" / "sweeps", tmp_path / "second" / "sweeps"
    first.mkdir(parents=True)
    second.mkdir(parents=True)
    for path in sorted((DEMO / "sweeps").glob("*_runs.csv")):
        table = pd.read_csv(path)
        table = table.assign(test_error_selected=table["test_error_at_best_val"],  # stand-ins for the
                             test_error_last=table["final_test_error"],  # protocol's scores, which the
                             test_error_last10=table["final_test_error"])  # demo tables predate
        zero = table["sweep_value"] == 0
        table[zero | (table["lr"] == 0.01)].to_csv(first / path.name, index=False)
        table[zero | (table["lr"] != 0.01)].to_csv(second / path.name, index=False)
    return first.parent, second.parent


def test_sweep_parts_merge_into_the_committed_sweep_tables(tmp_path):
    grid = _sweep_grid()
    merged = merge_sweep_parts(list(_split_sweeps(tmp_path)), grid)
    assert sorted(merged) == sorted(grid.axes)
    for axis, runs in merged.items():
        expected = pd.read_csv(DEMO / "sweeps" / f"{axis}_runs.csv").sort_values("run").reset_index(drop=True)
        expected = expected.drop(columns="selected").assign(selected=expected["selected"])
        got = runs.sort_values("run").reset_index(drop=True)[expected.columns]
        pd.testing.assert_frame_equal(got, expected, check_dtype=False)  # the same learning rates selected


def test_a_sweep_run_that_differs_between_parts_is_named_with_the_column(tmp_path):
    first, second = _split_sweeps(tmp_path)
    run = "results/sweeps/2class/dtod~0.0/fast_lr~0.1/lr~0.05/seed~0"
    edit_csv(first / "sweeps" / "dtod_runs.csv", lambda t: t.assign(
        best_val_error=t["best_val_error"].where(t["run"] != run, 0.9)))
    with pytest.raises(PartsError, match=rf"runs: {{'run': '{run}'}} differs between parts .* in best_val_error$"):
        merge_sweep_parts([first, second], _sweep_grid())


def test_a_sweep_run_missing_from_every_part_is_named(tmp_path):
    first, second = _split_sweeps(tmp_path)
    edit_csv(second / "sweeps" / "spv_runs.csv",
             lambda t: t[~((t["sweep_value"] == 10) & (t["lr"] == 0.05))])
    with pytest.raises(PartsError, match=r"lack 1 sweep run\(s\) .*: spv 2class 10 % lr 0.05 seed 0$"):
        merge_sweep_parts([first, second], _sweep_grid())


def test_an_axis_made_from_two_pre_trained_models_is_refused(tmp_path):
    """docs/protocol.md section 8: one pre-trained model per axis and task (parts without the column pass)."""
    first, second = _split_sweeps(tmp_path)
    for part, sha in ((first, "a" * 64), (second, "b" * 64)):
        edit_csv(part / "sweeps" / "dtod_runs.csv", lambda t, sha=sha: t.assign(
            pretrained_sha256=t["pretrained_sha256"].where(t["sweep_value"] == 0, sha) if "pretrained_sha256" in t
            else [sha if value else None for value in t["sweep_value"] != 0]))
    with pytest.raises(PartsError, match=r"^2class, sweep axis dtod: pretrained_sha256 'a+' in \S+ but 'b+' in \S+ "
                                         r"\(every part must come from one pre-training; restore"):
        merge_sweep_parts([first, second], _sweep_grid())
    with pytest.raises(PartsError, match=r"^2class, sweep axis dtod: pretrained_sha256"):  # before any run is made
        missing_sweep_runs([first, second], _sweep_grid())
    edit_csv(second / "sweeps" / "dtod_runs.csv", lambda t: t.assign(pretrained_sha256="a" * 64))
    edit_csv(first / "sweeps" / "dtod_runs.csv", lambda t: t.assign(pretrained_sha256="a" * 64))
    assert len(merge_sweep_parts([first, second], _sweep_grid())["dtod"]) == 4  # one model: merged


def test_two_runs_of_one_task_on_other_data_are_named_each_once():
    rows = pd.DataFrame({"run": ["r1", "r2", "r3"], "data_sha256": [None, None, "c" * 64],
                         "pretrained_sha256": ["a" * 64, None, "a" * 64]})
    one_value_per_task(rows[["run", "pretrained_sha256"]], PAIRING_SETTINGS, "2class")  # a run without it passes
    with pytest.raises(PartsError, match=r"^2class: data_sha256 (None|nan) in r1 but 'c+' in r3 \(every part must come "
                                         r"from one config and the same data\)$"):
        one_value_per_task(rows, PAIRING_SETTINGS, "2class")


def test_a_sweep_run_with_other_epochs_is_refused(tmp_path):
    first, second = _split_sweeps(tmp_path)
    edit_csv(first / "sweeps" / "pulse_noise_runs.csv",
             lambda t: t.assign(epochs=t["epochs"].where(t["sweep_value"] == 0, 20)))  # a run in this part only
    with pytest.raises(PartsError, match=r"pulse_noise.*: epochs 20, the config says 10"):
        merge_sweep_parts([first, second], _sweep_grid())


def test_the_script_merges_sweep_parts_into_tables_figures_and_verdicts(tmp_path):
    first, second = _split_sweeps(tmp_path)
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "merge_table_parts.py"), "--config", str(DEMO_CONFIG), "--out",
         str(out), "--grid", "sweeps", str(first), str(second)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    tables = out / "results" / "tables"
    assert (tables / "sweeps" / "dtod_summary.csv").is_file() and (tables / "verdicts.csv").is_file()
    for stem in ("fig4_test_error_vs_sps", "fig_spv_test_error_vs_spv", "fig5_test_error_vs_pulse_noise_and_dtod"):
        assert (out / "results" / "figures" / f"{stem}.png").stat().st_size > 10_000
    verdicts = pd.read_csv(tables / "verdicts.csv")
    assert set(verdicts["claim"]) == {"sps_range_skew", "sps_reference_shift", "spv", "pulse_noise", "dtod"}


def test_the_script_merges_only_the_axes_it_is_told_and_draws_their_figures(tmp_path):
    """--axis: the complete axes merge while another axis lacks runs; Fig. 4 (SpS) is not drawn without its axes."""
    first, second = _split_sweeps(tmp_path)
    edit_csv(second / "sweeps" / "sps_range_skew_runs.csv", lambda t: t[t["sweep_value"] == 0])  # axis incomplete
    out = tmp_path / "out"
    script = [sys.executable, str(REPO / "scripts" / "merge_table_parts.py"), "--config", str(DEMO_CONFIG), "--out",
              str(out), "--grid", "sweeps"]
    whole = subprocess.run([*script, str(first), str(second)], capture_output=True, text=True, check=False)
    assert whole.returncode == 2 and "sps_range_skew" in whole.stderr
    axes = ["--axis", "pulse_noise", "--axis", "dtod", "--axis", "spv"]
    done = subprocess.run([*script, *axes, str(first), str(second)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    tables, figures = out / "results" / "tables", out / "results" / "figures"
    assert sorted(p.name for p in (tables / "sweeps").glob("*_runs.csv")) == ["dtod_runs.csv", "pulse_noise_runs.csv",
                                                                             "spv_runs.csv"]
    assert sorted(p.stem for p in figures.glob("*.png")) == ["fig5_test_error_vs_pulse_noise_and_dtod",
                                                             "fig_spv_test_error_vs_spv"]
    assert set(pd.read_csv(tables / "verdicts.csv")["claim"]) == {"spv", "pulse_noise", "dtod"}
    alone = subprocess.run([*script[:-2], "--grid", "main", "--axis", "dtod", str(first)], capture_output=True,
                           text=True, check=False)
    assert alone.returncode == 2 and "--axis needs --grid sweeps or --grid all" in alone.stderr


def _demo_sweep_runs() -> list[str]:
    """The run folders of the committed demo sweeps (every run of config/config.yaml's sweep grid)."""
    return sorted(r for path in (DEMO / "sweeps").glob("*_runs.csv") for r in pd.read_csv(path)["run"])


def test_with_no_parts_the_whole_sweep_grid_is_missing_as_the_workflow_names_its_run_folders():
    missing = missing_sweep_runs([], _sweep_grid())
    assert len(missing) == len(set(missing)) == sum(len(_sweep_grid().expected(a)) for a in _sweep_grid().axes)
    assert sorted(missing) == _demo_sweep_runs()  # the paths the workflow wrote: value 0 as "0.0", fast_lr 0.1


def test_the_runs_no_part_holds_are_missing_in_grid_order(tmp_path):
    first, second = _split_sweeps(tmp_path)
    assert missing_sweep_runs([first, second], _sweep_grid()) == []
    edit_csv(second / "sweeps" / "spv_runs.csv", lambda t: t[~((t["sweep_value"] == 10) & (t["lr"] == 0.05))])
    edit_csv(first / "sweeps" / "dtod_runs.csv", lambda t: t[t["sweep_value"] == 0])  # the overlap: in second too
    edit_csv(second / "sweeps" / "dtod_runs.csv", lambda t: t.assign(fast_lr=t["fast_lr"].where(t["lr"] != 0.05, 1.0)))
    missing = missing_sweep_runs([first, second], _sweep_grid())
    dtod = "results/sweeps/2class/dtod~60.0/fast_lr~0.1/lr~{}/seed~0"  # lr 0.05: second holds it at fast_lr 1.0 only
    assert missing == ["results/sweeps/2class/spv~10.0/fast_lr~0.1/lr~0.05/seed~0", dtod.format("0.01"),
                       dtod.format("0.05")]
    at_fast_lr_1 = [run for run in missing_sweep_runs([second], _sweep_grid(), fast_lr=1.0) if "/dtod~" in run]
    assert at_fast_lr_1 == [run.replace("fast_lr~0.1", "fast_lr~1.0") for run in (
        "results/sweeps/2class/dtod~0.0/fast_lr~0.1/lr~0.01/seed~0", dtod.format("0.01"))]


def test_the_missing_runs_script_prints_snakemake_targets_and_names_a_bad_axis(tmp_path):
    first, second = _split_sweeps(tmp_path)
    edit_csv(second / "sweeps" / "spv_runs.csv", lambda t: t[t["sweep_value"] == 0])
    script = [sys.executable, str(REPO / "scripts" / "list_missing_runs.py"), "--config", str(DEMO_CONFIG)]
    done = subprocess.run([*script, "--axis", "spv", "--axis", "dtod", str(first), str(second)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "results/sweeps/2class/spv~10.0/fast_lr~0.1/lr~0.05/seed~0/final.json\n"
    assert done.stderr == "list_missing_runs: 1 of the grid's 8 sweep runs are in no part\n"
    none = subprocess.run([*script, "--axis", "dtod", str(first), str(second)], capture_output=True, text=True,
                          check=False)
    assert (none.returncode, none.stdout) == (1, "")  # nothing to run: no empty target list for Snakemake
    bad = subprocess.run([*script, "--axis", "sps"], capture_output=True, text=True, check=False)
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr == ("list_missing_runs: ConfigError: sweep axis(es) ['sps'] are not in the config's sweep "
                          "axes ['sps_range_skew', 'sps_reference_shift', 'spv', 'pulse_noise', 'dtod']\n")
    swallowed = subprocess.run([*script, str(first)], capture_output=True, text=True, check=False)  # --config takes it
    assert swallowed.returncode == 2 and swallowed.stdout == ""
    assert swallowed.stderr == (f"list_missing_runs: ConfigError: {first}: a folder, not a config file; in a script "
                                "whose --config takes several files, put another option or -- between the config "
                                "files and the folders that follow\n")
    separated = subprocess.run([*script, "--", str(first)], capture_output=True, text=True, check=False)
    assert separated.returncode == 0, separated.stderr


def test_the_missing_runs_of_two_tasks_come_task_by_task_from_the_committed_real_cifar_part():
    """config/real-small.yaml's dtod axis against part 7 (8 of the 18 5-class runs, no 2-class run)."""
    from analog_tl.workflow_config import read_workflow_config

    grid = SweepGrid.from_config(read_workflow_config(REPO / "config" / "real-small.yaml",
                                                      REPO / CONFIG_SCHEMA))
    part = REPO / "docs" / "results" / "real-small-sweeps" / "part-7"
    missing = missing_sweep_runs([part], grid.with_axes(["dtod"]))
    held = set(pd.read_csv(part / "sweeps" / "dtod_runs.csv")["run"])
    everything = missing_sweep_runs([], grid.with_axes(["dtod"]))
    assert len(held) == 8 and len(everything) == 36
    assert missing == [run for run in everything if run not in held]  # the grid's order, less the part's runs
    assert [run.split("/")[2] for run in missing] == ["2class"] * 18 + ["5class"] * 10
    assert missing[18:21] == [f"results/sweeps/5class/dtod~{v}/fast_lr~0.1/lr~0.01/seed~{s}"
                              for v, s in (("0.0", 0), ("30.0", 0), ("30.0", 1))]


def test_a_part_holding_a_grid_point_with_another_budget_is_named(tmp_path):
    first, second = _split_sweeps(tmp_path)
    edit_csv(second / "sweeps" / "spv_runs.csv", lambda t: t.assign(epochs=t["epochs"].where(t["lr"] == 0.01, 20)))
    with pytest.raises(PartsError, match=r"spv~0.0/fast_lr~0.1/lr~0.05/seed~0: epochs 20, the config says 10"):
        missing_sweep_runs([first, second], _sweep_grid())
    with pytest.raises(PartsError, match=r"no sweep fast_lr given for task\(s\) \['2class'\]"):
        missing_sweep_runs([first], _sweep_grid(), fast_lr={"5class": 0.1})


def test_overlay_configs_merge_over_the_base_as_snakemake_merges_them():
    """config/real-small-*.yaml list only what they change; read with the base they give their grid."""
    from analog_tl.workflow_config import read_workflow_config

    schema = REPO / CONFIG_SCHEMA
    base = REPO / "config" / "real-small.yaml"
    fast_lr = read_workflow_config([base, REPO / "config" / "real-small-fast-lr.yaml"], schema)
    grid = Grid.from_config(fast_lr)
    assert grid.fast_lrs == (0.1, 0.5, 1.0) and grid.transfer_noise == (0.0,) and not grid.frozen_digital_ablation
    assert fast_lr["analog"]["device"]["name"] == "SoftBoundsReferenceDevice"  # nested keys kept from the base
    seeds = Grid.from_config(read_workflow_config([base, REPO / "config" / "real-small-seeds.yaml"], schema))
    assert seeds.seeds == (0, 1, 2, 3, 4) and seeds.tasks == ("2class", "5class")
    aihwkit = read_workflow_config([base, REPO / "config" / "real-small-aihwkit.yaml"], schema)
    assert aihwkit["analog"]["simulator"] == "aihwkit" and aihwkit["finetune"]["seeds"] == [0, 1]


def test_a_bad_overlay_is_named(tmp_path):
    from analog_tl.errors import ConfigError
    from analog_tl.workflow_config import read_workflow_config

    overlay = tmp_path / "overlay.yaml"
    overlay.write_text("analog:\n  fast_lr: [0.1]\n")
    with pytest.raises(ConfigError, match=r"real-small.yaml \+ .*overlay.yaml: analog: unknown key\(s\) 'fast_lr'"):
        read_workflow_config([REPO / "config" / "real-small.yaml", overlay],
                             REPO / CONFIG_SCHEMA)


def test_a_part_made_after_a_column_was_added_merges_with_an_older_part(tmp_path):
    """A newer part's run has the validation loss and the protocol's scores; the older copy of it lacks them."""
    newer = copy_part(TAU0, tmp_path, "newer")
    run = "results/runs/2class/digital_tl/seed~0"
    edit_csv(newer / "runs.csv", lambda t: t.assign(best_val_loss=0.25, test_error_selected=0.05))
    edit_csv(newer / "epochs.csv", lambda t: t.assign(val_loss=0.3))
    merged = merge_parts([NOISE_2CLASS, newer], GRID_2CLASS)  # the older part first: its rows lack the columns
    row = merged["runs"].set_index("run").loc[run]
    assert row["best_val_loss"] == 0.25 and row["test_error_selected"] == 0.05  # the filled row is kept
    edit_csv(newer / "runs.csv", lambda t: t.assign(final_test_error=t["final_test_error"].where(t["run"] != run, 0.5)))
    with pytest.raises(PartsError, match=rf"runs: {{'run': '{run}'}} differs .* in final_test_error$"):
        merge_parts([NOISE_2CLASS, newer], GRID_2CLASS)  # a column both parts have is still compared


def test_the_script_merges_the_tasks_it_is_told_and_names_one_the_config_lacks(tmp_path):
    first, second = _split_sweeps(tmp_path)
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "merge_table_parts.py"), "--config", str(DEMO_CONFIG), "--out",
         str(tmp_path / "out"), "--grid", "sweeps", "--task", "2class", str(first), str(second)],
        capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    bad = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "merge_table_parts.py"), "--config", str(DEMO_CONFIG), "--out",
         str(tmp_path / "bad"), "--grid", "sweeps", "--task", "7class", str(first)],
        capture_output=True, text=True, check=False)
    assert bad.returncode == 2 and bad.stderr.startswith("merge_table_parts: ConfigError: task(s) ['7class'] are not")
    assert not (tmp_path / "bad").exists()


def test_restricting_tasks_keeps_each_grid_to_them():
    from analog_tl.errors import ConfigError
    from analog_tl.workflow_config import read_workflow_config, restrict_tasks

    base = read_workflow_config([REPO / "config" / "real-small.yaml", REPO / "config" / "real-small-compare.yaml"],
                                REPO / CONFIG_SCHEMA)
    two = restrict_tasks(base, ["2class"])
    assert list(two["tasks"]) == ["2class"] and two["compare"]["tasks"] == ["2class"]
    assert SweepGrid.from_config(two).tasks == ("2class",) and Grid.from_config(two).tasks == ("2class",)
    assert list(base["tasks"]) == ["2class", "5class"] and base["compare"]["tasks"] == ["5class", "2class"]  # untouched
    demo = read_workflow_config(DEMO_CONFIG, REPO / CONFIG_SCHEMA)
    with pytest.raises(ConfigError, match=r"\['5class'\] are not in the config's sweeps.tasks \['2class'\]"):
        restrict_tasks(demo, ["5class"])

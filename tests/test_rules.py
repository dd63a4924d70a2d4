"""Static checks of the workflow's rules: which run where, and what the training rules declare."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

from analog_tl.vocabulary import CONFIG_SCHEMA

REPO = Path(__file__).resolve().parents[1]
RULES = REPO / "workflow" / "rules"


def _rules_in(*files: str) -> set[str]:
    names: set[str] = set()
    for name in files:
        names |= set(re.findall(r"^(?:rule|checkpoint) (\w+):", (RULES / name).read_text(), re.MULTILINE))
    return names


def _localrules() -> set[str]:
    block = (REPO / "workflow" / "Snakefile").read_text().split("localrules:", 1)[1].split("\n\n", 1)[0]
    return {name.strip().rstrip(",") for name in block.split() if name.strip().rstrip(",")}


def test_aggregation_table_and_figure_rules_are_local_and_no_compute_rule_is():
    light = _rules_in("tables.smk", "figures.smk") | {"select_fast_lr", "aggregate_sweep", "download_torchvision", "all",
                                                      "compare_pairs", "aggregate_compare", "plot_fig6", "plot_fig_layers"}
    assert _localrules() == light
    heavy = _rules_in("pretrain.smk", "digital.smk", "analog.smk", "sweeps.smk", "data.smk", "preflight.smk",
                      "compare.smk") - light
    assert heavy >= {"pretrain", "finetune_digital_tl", "finetune_analog_tl", "finetune_analog_sweep", "convert_analog",
                     "prepare_task_data", "preflight", "finetune_compare"}
    assert not heavy & _localrules()


def test_every_gpu_rule_is_gated_by_the_preflight_and_threads_follow_the_config():
    text = "\n".join((RULES / f).read_text() for f in ("pretrain.smk", "digital.smk", "analog.smk", "sweeps.smk",
                                                        "compare.smk"))
    for body in re.split(r"^(?=rule |checkpoint )", text, flags=re.MULTILINE):
        if "**GPU_JOB," in body:
            assert "preflight=after_preflight(" in body, body.splitlines()[0]
            assert 'threads: config["threads"]' in body, body.splitlines()[0]


def test_gpu_jobs_declare_the_gpu_job_resources_and_training_runs_may_share_a_gpu():
    """Every GPU job takes a GPU slot (GPU_JOB); the runs, not pre-training (its runs depend on it), join the group."""
    bodies = _rule_bodies()
    gpu_rules = {name for name, body in bodies.items() if "**GPU_JOB," in body}
    assert gpu_rules == {"preflight", "pretrain", "finetune_digital_tl", "train_digital_scratch", "finetune_analog_tl",
                         "train_analog_scratch", "finetune_analog_sweep", "finetune_compare"}
    assert not any("gpu=" in body for body in bodies.values())  # the GPU request comes from GPU_JOB only
    grouped = {name for name, body in bodies.items() if "group: gpu_share_group" in body}
    assert grouped == gpu_rules - {"preflight", "pretrain"}


def _planned_resources(tmp_path: Path) -> dict[str, set[str]]:
    """``{rule: resources}`` of every job a dry run of the tiny config plans (as Snakemake resolved them)."""
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text((REPO / "tests" / "data" / "tiny.yaml").read_text())
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "workflow" / "Snakefile"), "--dry-run",
               "--cores", "2", "--directory", str(tmp_path)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    planned: dict[str, set[str]] = {}
    rule = None
    for line in result.stdout.splitlines():
        if match := re.match(r"^(?:local)?(?:rule|checkpoint) (\w+):", line):
            rule = match.group(1)
        elif rule and line.strip().startswith("resources:"):
            planned.setdefault(rule, set()).update(r.strip() for r in line.split(":", 1)[1].split(","))
    return planned


def test_the_planned_jobs_that_train_take_one_gpu_slot_and_no_other_job_does(tmp_path):
    """What Snakemake resolved for each planned job, whatever the rule's spelling: a GPU and a slot for the training
    jobs and the preflight, neither for data, selection, tables and figures."""
    planned = _planned_resources(tmp_path)
    gpu_rules = {"preflight", "pretrain", "finetune_digital_tl", "train_digital_scratch", "finetune_analog_tl",
                 "train_analog_scratch"}  # the sweep and comparison jobs are planned after checkpoints (text check)
    assert gpu_rules <= set(planned) and {"prepare_task_data", "convert_analog", "plot_fig2"} <= set(planned)
    for rule, resources in planned.items():
        gpu = {r for r in resources if r.startswith("gpu")}
        assert gpu == ({"gpu=1", "gpu_jobs=1"} if rule in gpu_rules else set()), (rule, resources)


def test_local_gpu_profile_runs_one_gpu_job_at_a_time():
    """The default: one GPU job at once (1 GPU x compute.jobs_per_gpu 1); each job sees only its slot's GPU."""
    profile = yaml.safe_load((REPO / "profiles" / "local-gpu" / "config.yaml").read_text())
    assert profile["resources"] == {"gpu_jobs": 1}


def test_slurm_profile_packs_as_many_runs_per_allocation_as_the_default_jobs_per_gpu():
    from analog_tl.gpu_slots import GROUP

    profile = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())
    schema = yaml.safe_load((REPO / CONFIG_SCHEMA).read_text())
    default = schema["properties"]["compute"]["properties"]["jobs_per_gpu"]["default"]
    assert profile["group-components"] == [f"{GROUP}={default}"]
    # the plugin runs a group's runs in series: one at a time per SLURM job, which asks for the sum of their runtimes
    assert profile["set-resource-scopes"] == ["gpu_jobs=local"] and profile["resources"] == ["gpu_jobs=1"]


def _rule_bodies() -> dict[str, str]:
    text = "\n".join(path.read_text() for path in sorted(RULES.glob("*.smk")))
    return {m.group(1): m.group(0) for m in re.finditer(r"^(?:rule|checkpoint) (\w+):\n.*?(?=^(?:rule|checkpoint) |\Z)",
                                                         text, re.MULTILINE | re.DOTALL)}


def test_figures_2_and_3_outrank_the_sweeps_and_the_comparison():
    """Every job behind Figs. 2 and 3 runs before any sweep or comparison job that is ready at the same time."""
    bodies = _rule_bodies()
    # the claims' verdicts wait for the sweeps' tables as well
    later = _rules_in("sweeps.smk", "compare.smk") | {"plot_fig4", "plot_fig_spv", "plot_fig5", "claim_verdicts"}
    first = set(bodies) - later - {"preflight"}
    assert first >= {"pretrain", "prepare_task_data", "finetune_digital_tl", "train_digital_scratch", "convert_analog",
                     "finetune_analog_tl", "train_analog_scratch", "select_fast_lr", "aggregate_tables",
                     "headline_tables", "plot_fig2", "plot_fig3"}
    gates = {"download_torchvision", "prepare_pretrain_data", "pretrain"}  # most jobs wait for these: they go first
    for name in first:
        assert f"priority: {'PRETRAIN_PRIORITY' if name in gates else 'FIGS_2_3_PRIORITY'}" in bodies[name], name
    for name in later:
        assert "priority:" not in bodies[name], name
    assert "priority: 100" in bodies["preflight"]
    common = (RULES / "common.smk").read_text()
    figs, gate = (int(re.search(rf"^{name} = (\d+)", common, re.MULTILINE).group(1))
                  for name in ("FIGS_2_3_PRIORITY", "PRETRAIN_PRIORITY"))
    assert 0 < figs < gate < 100  # the sweeps and comparison (0) < Figs. 2 and 3 < pre-training < preflight

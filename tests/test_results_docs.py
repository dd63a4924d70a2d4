"""The documentation's numbers are checkable: committed result tables with a manifest each, and the pages agree.

Every ``docs/results/<run>/`` folder holds the small tables of one run the
documentation quotes and a ``README.md`` manifest (commit, config and its
SHA-256, command, machine, date). These tests check the manifests against the
git history and the folder's files, every ``docs/results`` path that README.md
and the site's pages name, and the pages' demo, sweep, HfO2, benchmark and
claims tables cell by cell against the committed CSVs, so a number that drifts
from its table fails here. Fast: no training, only file reads and ``git``.
"""

from __future__ import annotations

import csv
import hashlib
import re
import statistics
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "docs" / "results"
README = REPO / "README.md"
# README.md and the site's pages; not the manifests, nor history.md, which quotes paths of earlier commits as they were
PAGES = [README, *sorted((REPO / "docs").glob("*.md")), *sorted(p for p in RESULTS.glob("*.md") if p.name != "history.md")]
FOLDERS = sorted(p for p in RESULTS.iterdir() if p.is_dir())


def _git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True)


def _history_reason() -> str | None:
    """Why the git history cannot be checked here, or None when it can."""
    try:
        inside = _git("rev-parse", "--is-inside-work-tree")
    except FileNotFoundError:
        return "git is not installed"
    if inside.returncode != 0 or inside.stdout.strip() != b"true":
        return "not a git checkout (e.g. a source tarball): the manifests' commits cannot be looked up"
    if _git("rev-parse", "--is-shallow-repository").stdout.strip() == b"true":
        return "shallow clone: the manifests' commits may predate its history"
    return None


CONFIG_HASH = re.compile(r"`([\w./-]+\.ya?ml)` at `([0-9a-f]{7,40})`,\s+SHA-256\s+`([0-9a-f]{64})`")


def _fields(manifest: str) -> dict[str, str]:
    """The manifest's ``- **Name**: text`` items with their indented continuation lines, by name."""
    fields: dict[str, str] = {}
    name = None
    for line in manifest.splitlines():
        match = re.match(r"- \*\*(\w[\w ]*)\*\*:(.*)", line)
        if match:
            name = match.group(1)
            fields[name] = match.group(2)
        elif name and (line.startswith("  ") or not line.strip()):
            fields[name] += "\n" + line
        else:
            name = None
    return fields


def _manifest(folder: Path) -> str:
    path = folder / "README.md"
    assert path.is_file(), f"{folder.relative_to(REPO)} has no README.md saying how its tables were made"
    return path.read_text()


@pytest.mark.parametrize("folder", FOLDERS, ids=[f.name for f in FOLDERS])
def test_manifest_names_commit_command_and_every_table(folder):
    fields = _fields(_manifest(folder))
    for name in ("Run", "Commit", "Config", "Command", "Machine", "Date", "Quoted in"):
        assert name in fields, f"{folder.name}/README.md lacks its '- **{name}**:' line"
    assert re.findall(r"`([0-9a-f]{7,40})`", fields["Commit"]), f"{folder.name}: no commit id in backticks"
    assert re.search(r"`\.venv/bin/(snakemake|python) [^`]+`", fields["Command"]), f"{folder.name}: no command line"
    assert CONFIG_HASH.search(fields["Config"]) or re.search(r"no workflow config|not known", fields["Config"]), (
        f"{folder.name}: the Config line gives neither a config file's SHA-256 at a commit nor why not"
    )
    text = _manifest(folder)
    for table in sorted(folder.rglob("*.csv")):
        name = table.relative_to(folder).as_posix()
        assert f"`{name}`" in text, f"{folder.name}/README.md does not name its table {name}"


@pytest.mark.parametrize("folder", FOLDERS, ids=[f.name for f in FOLDERS])
def test_manifest_commits_and_config_hashes_are_in_the_history(folder):
    reason = _history_reason()
    if reason:
        pytest.skip(reason)
    text = _manifest(folder)
    for commit in re.findall(r"`([0-9a-f]{7,40})`", _fields(text)["Commit"]):
        assert _git("cat-file", "-e", f"{commit}^{{commit}}").returncode == 0, f"{folder.name}: no commit {commit}"
    # "`config/x.yaml` at `<commit>`, SHA-256 `<hash>`": the SHA-256 of the file's bytes at that commit
    for path, commit, digest in CONFIG_HASH.findall(text):
        shown = _git("show", f"{commit}:{path}")
        assert shown.returncode == 0, f"{folder.name}: {path} is not in commit {commit}"
        assert hashlib.sha256(shown.stdout).hexdigest() == digest, f"{folder.name}: SHA-256 of {path} at {commit}"


@pytest.mark.parametrize("page", PAGES, ids=[p.relative_to(REPO).as_posix() for p in PAGES])
def test_paths_under_docs_results_exist(page):
    for path in sorted({p.rstrip(".,;:)") for p in re.findall(r"docs/results(?:/[\w.-]+)*/?", page.read_text())}):
        assert (REPO / path).exists(), f"{page.relative_to(REPO)} names {path}, which does not exist"


def test_readme_points_at_every_results_folder():
    text = README.read_text()
    for folder in FOLDERS:
        assert f"docs/results/{folder.name}/" in text, f"README.md never points at docs/results/{folder.name}/"


def _page(name: str) -> str:
    """The text of the documentation page ``docs/<name>``."""
    path = REPO / "docs" / name
    assert path.is_file(), f"no documentation page docs/{name}"
    return path.read_text()


def _table(section: str, first_header: str) -> list[dict[str, str]]:
    """The Markdown table of ``section`` whose first column header is ``first_header``, as one dict per row."""
    for block in re.findall(r"((?:^\|.*\|\n)+)", section, re.M):
        rows = [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in block.splitlines()]
        if rows[0][0] == first_header:
            return [dict(zip(rows[0], row)) for row in rows[2:]]
    raise AssertionError(f"no table with first column {first_header!r}")


def _csv(path: str) -> list[dict[str, str]]:
    with open(RESULTS / path, newline="") as handle:
        return list(csv.DictReader(handle))


def _shown(cell: str, value: float) -> bool:
    """Whether ``cell`` is ``value`` written with the cell's own number of decimals."""
    decimals = len(cell.split(".")[1]) if "." in cell else 0
    return cell == f"{value:.{decimals}f}"


def _check(mismatches: list[str], where: str, cell: str, value: float) -> None:
    if not _shown(cell, value):
        mismatches.append(f"{where}: page {cell!r}, table {value!r}")


MODES = {  # the demo table's mode labels
    "digital TL (SGD)": "digital_tl",
    "digital from scratch (SGD)": "digital_scratch",
    "analog TL (c-TTv2)": "analog_tl",
    "analog TL, digital parameters frozen": "analog_tl_frozen_digital",
    "analog from scratch (c-TTv2)": "analog_scratch",
}


def test_demo_table_equals_runs_csv():
    """Every cell of "Demo results"' test-error table (e.g. digital TL, 5class, selected: 12.8) from runs.csv."""
    runs = {}
    for r in _csv("default/runs.csv"):
        runs[(r["task"], r["mode"], float(r["transfer_noise"]) if r["transfer_noise"] else None)] = r
    table = _table(_page("results/demo.md"), "mode")
    assert len(table) == len(runs) // 2, "the demo table should have one row per (mode, tau)"
    mismatches: list[str] = []
    for row in table:
        tau = None if row["tau"] == "-" else float(row["tau"])
        fast_lrs = row["fast_lr (2class, 5class)"].split(", ")
        for i, task in enumerate(("2class", "5class")):
            run = runs[(task, MODES[row["mode"]], tau)]
            where = f"{row['mode']} tau {row['tau']} {task}"
            _check(mismatches, f"{where} final", row[f"{task} final"], 100 * float(run["final_test_error"]))
            _check(mismatches, f"{where} selected", row[f"{task} selected"], 100 * float(run["test_error_at_best_val"]))
            if run["fast_lr"]:
                _check(mismatches, f"{where} fast_lr", fast_lrs[i], float(run["fast_lr"]))
            else:
                assert row["fast_lr (2class, 5class)"] == "-", where
    assert not mismatches, "\n".join(mismatches)


def test_demo_sweep_table_equals_sweep_summaries():
    """Every cell of the demo's sweep table, for the tasks the demo sweeps (its columns), from the sweep summaries."""
    table = _table(_page("results/demo.md"), "sweep axis")
    assert table
    tasks = [column for column in table[0] if column in ("2class", "5class")]
    lr_column = f"selected lr ({', '.join(tasks)})" if len(tasks) > 1 else "selected lr"
    mismatches: list[str] = []
    for row in table:
        summary = {r["task"]: r for r in _csv(f"default/sweeps/{row['sweep axis']}_summary.csv")
                   if float(r["sweep_value"]) == float(row["value (%)"])}
        assert set(summary) == set(tasks), row
        lrs = row[lr_column].split(", ")
        mean, std = row["measured symmetry point"].split(" ± ")
        for i, task in enumerate(tasks):
            where = f"{row['sweep axis']} {row['value (%)']} {task}"
            _check(mismatches, where, row[task], 100 * float(summary[task]["test_error_mean"]))
            _check(mismatches, f"{where} lr", lrs[i], float(summary[task]["lrs"]))
        # one symmetry-point column: the first task's model (another task's differs in the last digit at spv 10)
        where = f"{row['sweep axis']} {row['value (%)']} {tasks[0]} symmetry point"
        _check(mismatches, f"{where} mean", mean, float(summary[tasks[0]]["symmetry_point_mean"]))
        _check(mismatches, f"{where} std", std, float(summary[tasks[0]]["symmetry_point_std"]))
    assert not mismatches, "\n".join(mismatches)


def test_hfo2_table_equals_fast_lr_tables():
    """Both rows of the HfO2 comparison: the analog TL fast_lr candidates selected on validation."""
    table = {row["device"].split("`")[1]: row for row in _table(_page("results/demo.md"), "device")}
    mismatches: list[str] = []
    sources = {"SoftBoundsReferenceDevice": "hfo2/nominal_fast_lr.csv", "ReRamArrayHfO2PresetDevice": "hfo2/fast_lr.csv"}
    for device, path in sources.items():
        row = table[device]
        chosen = {r["task"]: r for r in _csv(path) if r["mode"] == "analog_tl" and r["selected"] == "True"}
        fast_lrs = row["fast_lr chosen (2class, 5class)"].split(", ")
        for i, task in enumerate(("2class", "5class")):
            error = 100 * float(chosen[task]["test_error_mean"])
            _check(mismatches, f"{device} {task} fast_lr", fast_lrs[i], float(chosen[task]["fast_lr"]))
            _check(mismatches, f"{device} {task} selected", row[f"{task} selected"], error)
    assert not mismatches, "\n".join(mismatches)


def test_simulator_speed_table_equals_benchmark_csv():
    rows = {(r["model"], r["batch"], r["simulator"]): r for r in _csv("benchmark/simulator.csv")}
    table = _table(_page("results/benchmarks.md"), "model")
    simulators = ("digital", "aihwkit", "reference", "fast")
    assert len(table) == len(rows) // len(simulators)
    mismatches: list[str] = []
    for row in table:
        case = {sim: rows[(row["model"], row["batch"], sim)] for sim in simulators}
        step = {sim: float(r["step_seconds"]) for sim, r in case.items()}
        update = {sim: float(case[sim]["analog_update_seconds"]) for sim in ("reference", "fast")}
        where = f"{row['model']} batch {row['batch']}"
        _check(mismatches, f"{where} digital", row["digital (s)"], step["digital"])
        _check(mismatches, f"{where} aihwkit", row["aihwkit c-TTv2 (s)"], step["aihwkit"])
        _check(mismatches, f"{where} reference", row["fast, reference update (s)"], step["reference"])
        _check(mismatches, f"{where} fast", row["fast (s)"], step["fast"])
        _check(mismatches, f"{where} fast / digital", row["fast / digital"], step["fast"] / step["digital"])
        _check(mismatches, f"{where} aihwkit / fast", row["aihwkit / fast"], step["aihwkit"] / step["fast"])
        _check(mismatches, f"{where} update speed-up", row["update: reference / fast"],
               update["reference"] / update["fast"])
        phases = row["fast: forward / backward / update (s)"].split(" / ")
        for cell, phase in zip(phases, ("forward", "backward", "update"), strict=True):
            _check(mismatches, f"{where} {phase}", cell, float(case["fast"][f"analog_{phase}_seconds"]))
        for cell, sim in zip(row["peak RSS aihwkit / fast (MiB)"].split(" / "), ("aihwkit", "fast")):
            _check(mismatches, f"{where} RSS {sim}", cell, float(case[sim]["peak_rss_mib"]))
    assert not mismatches, "\n".join(mismatches)


def test_real_transfer_noise_table_equals_runs_csv():
    """Every cell of "What reproduces"' transfer-noise table (mean ± std and per seed, %, both tasks) from runs.csv."""
    errors: dict[tuple[str, float], dict[int, float]] = {}
    for r in _csv("real-small/runs.csv"):
        if r["mode"] == "analog_tl":
            key = (r["task"], float(r["transfer_noise"]))
            errors.setdefault(key, {})[int(r["seed"])] = 100 * float(r["test_error_at_best_val"])
    table = _table(_page("results/index.md"), "transfer noise tau")
    assert sorted((task, float(row["transfer noise tau"])) for row in table for task in ("2class", "5class")) == sorted(errors)
    mismatches: list[str] = []
    for row in table:
        for task, label in (("2class", "2 classes"), ("5class", "5 classes")):
            by_seed = errors[(task, float(row["transfer noise tau"]))]
            values = [by_seed[seed] for seed in sorted(by_seed)]
            mean, std = row[f"{label}, analog TL"].split(" ± ")
            where = f"{task} tau {row['transfer noise tau']}"
            _check(mismatches, f"{where} mean", mean, statistics.mean(values))
            _check(mismatches, f"{where} std", std, statistics.stdev(values))
            for seed, (cell, value) in enumerate(zip(row[f"{label}: per seed (0, 1, 2)"].split(", "), values)):
                _check(mismatches, f"{where} seed {seed}", cell, value)
    assert not mismatches, "\n".join(mismatches)


def test_the_merged_real_run_agrees_with_its_committed_parts():
    """docs/results/real-small/ was merged from the two earlier parts and a third sitting: every shared run agrees."""
    from analog_tl.results.parts import Grid, merge_parts

    config = yaml.safe_load((RESULTS / "real-small" / "config.yaml").read_text())  # the config the runs were made with
    merged = merge_parts([RESULTS / "real-small", RESULTS / "real-small-tau0", RESULTS / "real-small-2class-noise"],
                         Grid.from_config(config))
    assert len(merged["runs"]) == len(_csv("real-small/runs.csv")) == 2 * 3 * 8  # tasks x seeds x (3 modes + 5 taus)


def _claim_cell(cell: str) -> tuple[list[float], str]:
    """The numbers and the verdict of one "What reproduces" claim cell: ``-8.1 [-15.6, -0.5]: reproduced``."""
    numbers, verdict = cell.rsplit(": ", 1)
    return [float(x) for x in re.findall(r"[-+]?\d+(?:\.\d+)?", numbers)], verdict


def _check_claims_table(first_header: str, verdicts_csv: str | list[str], claims_csv: str | list[str],
                        skip_task: str = "both") -> list[str]:
    """Mismatches between a "What reproduces" claims table and the verdicts and claims tables it quotes (one
    folder's, or several parts' whose claims differ)."""
    verdicts_csvs = [verdicts_csv] if isinstance(verdicts_csv, str) else verdicts_csv
    claims_csvs = [claims_csv] if isinstance(claims_csv, str) else claims_csv
    verdicts = {(r["text"], r["task"]): r for name in verdicts_csvs for r in _csv(name)}
    notes = {(r["claim"], r["task"], r["metric"]): r for name in claims_csvs for r in _csv(name)}
    table = [row for row in _table(_page("results/index.md"), first_header) if row["task"] != skip_task]
    mismatches: list[str] = []
    for row in table:
        where = f"{row[first_header]} ({row['task']})"
        expected = verdicts.get((row[first_header], row["task"]))
        if expected is None:
            mismatches.append(f"{where}: not in {verdicts_csvs}")
            continue
        if row["verdict"] != expected["verdict"]:
            mismatches.append(f"{where}: verdict {row['verdict']!r}, table {expected['verdict']!r}")
        for metric, header in (("selected", "selected epoch"), ("last", "last epoch"), ("last10", "last 10 epochs")):
            numbers, verdict = _claim_cell(row[header])
            if verdict != expected[f"{metric}_verdict"]:
                mismatches.append(f"{where} {metric}: {verdict!r}, table {expected[f'{metric}_verdict']!r}")
            if expected["claim"] == "critical_noise":
                note = notes[(expected["claim"], row["task"], metric)]
                low, high = float(note["elbow_low"]), float(note["elbow_high"])
                wanted = [low] if high == float("inf") else [low, high]
                if numbers != wanted:
                    mismatches.append(f"{where} {metric}: interval {numbers}, table {wanted}")
                continue
            for cell, column in zip(row[header].split(":")[0].replace("[", " ").replace("]", " ").replace(",", " ")
                                    .split(), ("difference", "low", "high")):
                _check(mismatches, f"{where} {metric} {column}", cell.lstrip("+"), float(expected[f"{metric}_{column}"]))
    return mismatches


def test_what_reproduces_sweep_claims_are_the_committed_part_verdicts():
    parts = tuple(f"real-small-sweeps/part-{n}/claims" for n in (1, 4, 5, 7, 9, 11))
    mismatches = _check_claims_table("sweep claim", [f"{part}/verdicts.csv" for part in parts],
                                     [f"{part}/claims.csv" for part in parts])
    assert not mismatches, "\n".join(mismatches)


@pytest.mark.parametrize("task, parts, claims", [
    ("2class", (1, 4), ["dtod", "pulse_noise", "sps_range_skew", "sps_reference_shift", "spv"]),
    ("5class", (5, 7, 9), ["dtod", "pulse_noise", "spv_grows", "spv_until_10"]),  # SpS axes still running
])
def test_the_merged_sweeps_score_as_their_parts(task, parts, claims):
    """The merge of the parts (learning rates chosen again over all runs) gives the parts' verdicts of ``task``."""
    merged = pd.read_csv(RESULTS / f"real-small-sweeps/merged-{task}/results/tables/verdicts.csv").set_index("claim")
    scored = pd.concat([pd.read_csv(RESULTS / f"real-small-sweeps/part-{n}/claims/verdicts.csv") for n in parts])
    scored = scored[scored["claim"].isin(merged.index) & (scored["task"] == task)].set_index("claim")
    assert sorted(merged.index) == sorted(scored.index) == claims
    columns = [f"{m}_{c}" for m in ("selected", "last", "last10") for c in ("difference", "low", "high")]
    pd.testing.assert_frame_equal(merged.loc[scored.index, columns], scored[columns])
    assert (merged.loc[scored.index, "verdict"] == scored["verdict"]).all()


def test_what_reproduces_claims_table_is_the_committed_verdicts():
    """Every cell of "What reproduces"' claims table from docs/results/real-small/protocol/ (verdicts, claims)."""
    verdicts = _csv("real-small/protocol/verdicts.csv")
    scored = [row for row in _table(_page("results/index.md"), "claim of the paper") if row["task"] != "both"]
    assert len(scored) == len(verdicts), "the table and verdicts.csv list different claims"
    mismatches = _check_claims_table("claim of the paper", "real-small/protocol/verdicts.csv",
                                     "real-small/protocol/claims.csv")
    assert not mismatches, "\n".join(mismatches)

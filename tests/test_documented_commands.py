"""Every documented Snakemake command line parses and plans: each one, as written, in a copy of the repository.

The commands are collected from README.md and the documentation pages
(``docs/*.md`` and ``docs/results/*.md``; fenced code blocks, and inline
`code` spans that hold a shell command), from the full-line ``#`` comments of
config/*.yaml and profiles/*/config.yaml, and from the Snakefile's docstring.
A segment of a shell line counts when its first word is ``snakemake`` or
``.venv/bin/snakemake``, also after ``&&`` or ``;`` (``bash scripts/setup.sh
&& .venv/bin/snakemake --cores 2`` tests only the Snakemake part). In comments
and the docstring a command starts the comment or follows a colon
(``Run from the repository root:  snakemake --cores 2``); trailing ``# ...``
comments are dropped. A bare inline `snakemake` in prose names the
tool, not a command line, and is not collected.

Each command runs with the project's Snakemake (the ``snakemake`` next to
``sys.executable``) from a fresh copy of workflow/, config/, profiles/,
scripts/, src/, envs/ and containers/ (no results/), with ``-n`` appended (or
put before a ``--`` that ends the options). A ``$X`` word whose code block sets
``X=$(command)`` before it (``targets=$(.venv/bin/python
scripts/list_missing_runs.py ... PART [PART ...]) &&``) is replaced by what that
command prints when run in the copy, its ``PART`` placeholders dropped:

- it must exit 0 and plan a DAG, every target it names (the words before its
  first option) must be in the plan, and a command that would run jobs
  locally must give ``--cores``/``--jobs`` itself or through its profile (a
  dry run sets cores=1 when none is given and so hides Snakemake's "cores have
  to be specified" error; checked here from the arguments and the profile);
- data: the folder archives of the offline overlay config/cifar-folders.yaml
  (``data/...``, checked for existence while the DAG is built) are empty
  stand-in files at the same paths relative to the copy's root; a dry run
  never reads them. The torchvision source of config/real-small.yaml and
  config/paper.yaml needs nothing at DAG time;
- ``--sdm apptainer`` (both profiles) needs ``apptainer --version`` while the
  DAG is built: tests/doubles/apptainer (the TEST DOUBLE of the other
  container tests) is first on PATH, and must not be asked to start any job;
- ``--executor slurm`` (profiles/slurm): with ``-n`` Snakemake validates the
  plugin's settings but runs its dry-run executor, so no SLURM command is
  needed (tried on a machine without SLURM: every dry run passes). Stand-ins
  for sbatch, srun, sacct, squeue, scontrol, sinfo and scancel are first on
  PATH as tripwires, so that a host SLURM is never touched: they fail and are
  logged. The one call allowed is ``scontrol show config``: whenever ``sinfo``
  is on PATH, snakemake-executor-plugin-slurm 2.8.0 runs it while Snakemake
  builds its command-line parser (for the help text of
  --slurm-status-command, in every invocation, SLURM profile or not) and
  takes the failure as "MinJobAge unknown". No job is submitted or queried;
- ``--sdm conda``: without conda the dry run stops with "Error running conda
  info. Is conda installed and accessible?". A conda TEST DOUBLE written by
  this module answers the only three read-only queries a dry run makes
  (``conda info --json``, ``conda --version``, ``conda config --get
  channel_priority --json``) and refuses anything else; the test asserts
  Snakemake planned to create envs/analog-tl.yaml. That the environment
  solves is not tested;
- ``--unlock`` and ``--lint`` run as written (they start no job) and must
  succeed;
- ``--report``: a report needs the finished results, and on an empty results
  folder Snakemake stops at the first missing report file. The test asserts
  exactly that error, which it reaches only after the command line parsed and
  the workflow and config loaded; that the report builds from a finished run
  is tests/test_workflow.py::test_html_report_bundles_the_figures_and_tables.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).parent / "snakemake"
DOUBLES = REPO / "tests" / "doubles"
COPIED = ["workflow", "config", "profiles", "scripts", "src", "envs", "containers"]
PROGRAM = re.compile(r"(?:\./)?(?:\.venv/bin/)?snakemake")
SEPARATORS = {"&&", "||", ";", "|", "&"}
ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=.*")
# a code line that sets a variable from a command's output: targets=$(python scripts/... PART [PART ...]) &&
SUBSTITUTION = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)=\$\((.+)\)\s*(?:&&)?\s*")
PLACEHOLDER = re.compile(r"\[?[A-Z][A-Z_]*\]?|\.\.\.\]?")  # PART [PART ...] in a documented command line
# in a comment or the docstring: the command starts the text or follows "...: "
COMMENT_COMMAND = re.compile(r"(?:[^`]*?:\s+)?((?:\./)?(?:\.venv/bin/)?snakemake(?:\s.*)?)$")
INLINE_COMMAND = re.compile(r"(?:^|&&|;)\s*(?:\./)?(?:\.venv/bin/)?snakemake(?:\s|$)")
SLURM_COMMANDS = ["sbatch", "srun", "sacct", "squeue", "scontrol", "sinfo", "scancel"]
SLURM_ALLOWED = {("scontrol", "show", "config")}  # the plugin's probe while the CLI parser is built (see above)
CONDA_ANSWERS = {  # the read-only queries of a dry run with --sdm conda (snakemake/deployment/conda.py)
    ("info", "--json"): json.dumps({"conda_prefix": "/nonexistent/conda-double", "platform": "linux-64"}),
    ("--version",): "conda 24.7.1",
    ("config", "--get", "channel_priority", "--json"): json.dumps({"get": {"channel_priority": "strict"}}),
}


@dataclass(frozen=True)
class Found:
    argv: tuple[str, ...]  # argv[0] is "snakemake"
    env: tuple[tuple[str, str], ...]  # `export X=Y` earlier in the same code block, or `X=Y snakemake ...`
    where: str  # file:line
    substituted: tuple[tuple[str, str], ...] = ()  # `X=$(command)` earlier in the same code block


def shell_segments(text: str) -> list[list[str]]:
    """Shell words of ``text`` (comments dropped), split at ``&&``, ``||``, ``;``, ``|`` and ``&``."""
    lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    segments: list[list[str]] = [[]]
    for token in lexer:
        if token in SEPARATORS:
            segments.append([])
        else:
            segments[-1].append(token)
    return [segment for segment in segments if segment]


def commands_in(text: str, where: str, exported: dict[str, str] | None = None) -> list[Found]:
    """The Snakemake commands of one shell line; ``exported`` collects ``export`` statements for later lines."""
    exported = {} if exported is None else exported
    found = []
    if "snakemake" not in text and not text.lstrip().startswith("export "):
        return found  # not a command line of ours (e.g. prose in the layout block, which need not be shell)
    for segment in shell_segments(text):
        if segment[0] == "export":
            exported.update(word.split("=", 1) for word in segment[1:] if "=" in word)
            continue
        env = dict(exported)
        while segment and ASSIGNMENT.fullmatch(segment[0]):
            key, value = segment.pop(0).split("=", 1)
            env[key] = value
        if segment and PROGRAM.fullmatch(segment[0]):
            found.append(Found(("snakemake", *segment[1:]), tuple(sorted(env.items())), where))
    return found


def markdown_commands(path: Path) -> list[Found]:
    name = path.relative_to(REPO).as_posix()
    found: list[Found] = []
    prose: list[str] = []  # the lines outside code blocks; code lines blanked so that numbers stay
    in_block, exported, substituted, pending, pending_line = False, {}, {}, "", 0
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if line.lstrip().startswith("```"):
            in_block, exported, substituted, pending = not in_block, {}, {}, ""
            prose.append("")
            continue
        if not in_block:
            prose.append(line)
            continue
        prose.append("")
        if not pending:
            pending_line = number
        if line.endswith("\\"):  # continued on the next line
            pending += line[:-1] + " "
            continue
        assigned = SUBSTITUTION.fullmatch(pending + line)
        if assigned:
            substituted[assigned.group(1)] = assigned.group(2)
        found += [replace(command, substituted=tuple(sorted(substituted.items())))
                  for command in commands_in(pending + line, f"{name}:{pending_line}", exported)]
        pending = ""
    offset = 0
    for paragraph in re.split(r"(\n[ \t]*\n)", "\n".join(prose)):
        for match in re.finditer(r"`([^`]+)`", paragraph):
            span = " ".join(match.group(1).split())
            if PROGRAM.fullmatch(span):
                continue  # the tool's name in a sentence ("a second `snakemake` plans no job")
            if INLINE_COMMAND.search(span):
                number = "\n".join(prose).count("\n", 0, offset + match.start()) + 1
                found += commands_in(span, f"{name}:{number}")
        offset += len(paragraph)
    return found


def comment_commands(name: str, lines: list[tuple[int, str]]) -> list[Found]:
    """Commands in comment or docstring text, given as (line number, text without the comment marker)."""
    found = []
    for number, text in lines:
        match = COMMENT_COMMAND.match(text.strip())
        if match:
            found += commands_in(match.group(1), f"{name}:{number}")
    return found


def yaml_comment_commands(path: Path) -> list[Found]:
    lines = [(number, line.lstrip()[1:]) for number, line in enumerate(path.read_text().splitlines(), start=1)
             if line.lstrip().startswith("#")]
    return comment_commands(path.relative_to(REPO).as_posix(), lines)


def docstring_commands(path: Path) -> list[Found]:
    text = path.read_text()
    start = text.index('"""') + 3
    end = text.index('"""', start)
    first = text.count("\n", 0, start) + 1
    lines = list(enumerate(text[start:end].split("\n"), start=first))
    return comment_commands(path.relative_to(REPO).as_posix(), lines)


def documentation_pages() -> list[Path]:
    """README.md and the site's pages. Not the results folders' manifests (their commands ran in prepared
    workflow folders) nor ``docs/results/history.md`` (commands of earlier commits, as they were)."""
    docs = REPO / "docs"
    pages = [*sorted(docs.glob("*.md")), *sorted((docs / "results").glob("*.md"))]
    return [REPO / "README.md", *(page for page in pages if page.name != "history.md")]


def documented_commands() -> list[Found]:
    found = [command for page in documentation_pages() for command in markdown_commands(page)]
    for path in [*sorted((REPO / "config").glob("*.yaml")), *sorted((REPO / "profiles").glob("*/config.yaml"))]:
        found += yaml_comment_commands(path)
    return found + docstring_commands(REPO / "workflow" / "Snakefile")


def unique_commands() -> dict[tuple, list[str]]:
    """Each distinct command (arguments and environment) with every place that documents it."""
    places: dict[tuple, list[str]] = {}
    for found in documented_commands():
        places.setdefault((found.argv, found.env, found.substituted), []).append(found.where)
    return places


COMMANDS = unique_commands()


def command_id(key: tuple) -> str:
    argv, env, _ = key
    prefix = "".join(f"{k}={v} " for k, v in env)
    return f"{prefix}{shlex.join(argv)} @ {','.join(COMMANDS[key])}"


# --- the copy and its stand-ins ------------------------------------------------------------


def folder_data_paths() -> set[str]:
    """data.pretrain_path / finetune_path of every config with the folder source (checked at DAG time)."""
    paths = set()
    for path in (REPO / "config").glob("*.yaml"):
        data = (yaml.safe_load(path.read_text()) or {}).get("data") or {}
        if data.get("source") == "folder":
            paths |= {data[key] for key in ("pretrain_path", "finetune_path") if data.get(key)}
    return paths


def make_copy(base: Path) -> Path:
    """A copy of the repository at ``base/repo`` with empty stand-ins for the folder archives."""
    root = base / "repo"
    for name in COPIED:
        shutil.copytree(REPO / name, root / name, symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__", ".snakemake", "*.egg-info"))
    for relative in folder_data_paths():
        target = (root / relative).resolve()
        assert not Path(relative).is_absolute() and target.is_relative_to(base.resolve()), (
            f"data path {relative} is outside the test's temporary folder; no stand-in can be made for it")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(b"")  # EMPTY STAND-IN: exists for the DAG's check; a dry run never reads it
    return root


def write_doubles(folder: Path) -> None:
    """The conda TEST DOUBLE and the SLURM tripwires; every call is logged to $DOC_DOUBLES_LOG."""
    folder.mkdir()
    header = f"#!{sys.executable}\nimport json, os, sys\n" \
             "with open(os.environ['DOC_DOUBLES_LOG'], 'a') as log:\n" \
             "    log.write(json.dumps([os.path.basename(sys.argv[0]), *sys.argv[1:]]) + '\\n')\n"
    answers = json.dumps([[list(query), answer] for query, answer in CONDA_ANSWERS.items()])
    conda = header + f"answers = {{tuple(k): v for k, v in {answers}}}\n" \
                     "args = tuple(sys.argv[1:])\n" \
                     "if args not in answers:\n" \
                     "    sys.exit(f'conda TEST DOUBLE: refused {list(args)} (it answers read-only queries only)')\n" \
                     "print(answers[args])\n"
    tripwire = header + "sys.exit(f'SLURM tripwire: {os.path.basename(sys.argv[0])} must not be called by a dry run')\n"
    for name, text in [("conda", conda), *((name, tripwire) for name in SLURM_COMMANDS)]:
        (folder / name).write_text(text)
        (folder / name).chmod(0o755)


def double_calls(log: Path) -> list[list[str]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


# --- what the command asks of Snakemake -----------------------------------------------------


def option_value(argv: tuple[str, ...], *names: str) -> str | None:
    for i, word in enumerate(argv):
        for name in names:
            if word == name and i + 1 < len(argv):
                return argv[i + 1]
            if word.startswith(name + "="):
                return word.split("=", 1)[1]
    return None


def has_option(argv: tuple[str, ...], *names: str) -> bool:
    return any(word == name or word.startswith(name + "=") for word in argv for name in names)


def gives_cores(argv: tuple[str, ...], profile: dict) -> bool:
    """--cores/--jobs on the command line or in the profile, or a non-local executor (what Snakemake requires)."""
    executor = option_value(argv, "--executor", "-e") or profile.get("executor") or "local"
    short = any(re.fullmatch(r"-[cj]\d+", word) for word in argv)
    return executor != "local" or short or has_option(argv, "--cores", "-c", "--jobs", "-j") \
        or "cores" in profile or "jobs" in profile


def targets_of(argv: tuple[str, ...]) -> list[str]:
    """The words before the first option: the documented convention puts targets first."""
    targets = []
    for word in argv[1:]:
        if word.startswith("-"):
            break
        targets.append(word)
    return targets


def run(root: Path, argv: tuple[str, ...], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([str(SNAKEMAKE), *argv[1:]], cwd=root, env=env, capture_output=True, text=True, timeout=300)


def dry_run_argv(argv: tuple[str, ...]) -> tuple[str, ...]:
    """``argv`` with ``-n``, before a ``--`` that ends the options (after it, ``-n`` would be a target)."""
    if "--" in argv:
        end = argv.index("--")
        return (*argv[:end], "-n", *argv[end:])
    return (*argv, "-n")


def expand_substitutions(argv: tuple[str, ...], substituted: dict[str, str], root: Path,
                         env: dict[str, str]) -> tuple[str, ...]:
    """Each ``$X`` word replaced by the words its ``X=$(command)`` prints, run in the copy.

    The command's placeholders (``PART [PART ...]``) are dropped: with no part,
    scripts/list_missing_runs.py lists the whole grid. ``.venv/bin/python`` is
    this interpreter.
    """
    expanded: list[str] = []
    for word in argv:
        name = re.fullmatch(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", word)
        if not name:
            expanded.append(word)
            continue
        assert name.group(1) in substituted, f"{word} is not set by an X=$(command) line of the same code block"
        words = [w for w in shlex.split(substituted[name.group(1)]) if not PLACEHOLDER.fullmatch(w)]
        if words[0] == ".venv/bin/python":
            words[0] = sys.executable
        result = subprocess.run(words, cwd=root, env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0 and result.stdout.split(), (
            f"{substituted[name.group(1)]} (as {shlex.join(words)}) printed no words:\n{result.stderr[-4000:]}")
        expanded += result.stdout.split()
    return tuple(expanded)


@pytest.fixture
def copy_env(tmp_path):
    root = make_copy(tmp_path)
    write_doubles(tmp_path / "doubles")
    env = dict(os.environ)
    env.pop("SNAKEMAKE_PROFILE", None)  # a user's default profile would change every command
    env["PATH"] = os.pathsep.join([str(tmp_path / "doubles"), str(DOUBLES), str(SNAKEMAKE.parent), env["PATH"]])
    env["APPTAINER_DOUBLE_LOG"] = str(tmp_path / "apptainer-calls.jsonl")
    env["DOC_DOUBLES_LOG"] = str(tmp_path / "doubles-calls.jsonl")
    return root, env, tmp_path


@pytest.mark.parametrize("key", list(COMMANDS), ids=[command_id(key) for key in COMMANDS])
def test_documented_command_runs_as_a_dry_run(key, copy_env):
    argv, documented_env, substituted = key
    root, env, tmp_path = copy_env
    env.update(documented_env)
    argv = expand_substitutions(argv, dict(substituted), root, env)
    where = ", ".join(COMMANDS[key])
    if has_option(argv, "--report"):
        result = run(root, argv, env)
        output = result.stdout + result.stderr
        assert result.returncode != 0 and re.search(r"File results/\S+ marked for report but does not exist", output), (
            f"{where}: {shlex.join(argv)} did not reach the report stage:\n{output[-4000:]}")
    elif has_option(argv, "--unlock", "--lint"):
        result = run(root, argv, env)
        output = result.stdout + result.stderr
        assert result.returncode == 0, f"{where}: {shlex.join(argv)} failed:\n{output[-4000:]}"
        unlock = has_option(argv, "--unlock")
        expected = "Unlocked working directory." if unlock else "your workflow is in a good condition"
        assert expected in output, output[-4000:]
    else:
        result = run(root, dry_run_argv(argv), env)
        output = result.stdout + result.stderr
        assert result.returncode == 0, f"{where}: {shlex.join(argv)} -n failed:\n{output[-4000:]}"
        assert "This was a dry-run" in output, output[-4000:]
        planned = set(re.findall(r"^(\S+)\s+\d+\s*$", output, re.MULTILINE))  # the "Job stats" rows
        missing = [target for target in targets_of(argv) if target not in planned]
        assert not missing, f"{where}: targets {missing} not planned:\n{output[-4000:]}"
        profile_name = option_value(argv, "--profile")
        profile = yaml.safe_load((root / profile_name / "config.yaml").read_text()) if profile_name else {}
        assert gives_cores(argv, profile), (
            f"{where}: {shlex.join(argv)} runs jobs locally but gives no --cores (Snakemake refuses to start it)")
        if option_value(argv, "--sdm", "--software-deployment-method") == "conda" or has_option(argv, "--use-conda"):
            assert "Conda environment envs/analog-tl.yaml will be created." in output, output[-4000:]
    calls = double_calls(Path(env["DOC_DOUBLES_LOG"]))
    conda = [call for call in calls if call[0] == "conda"]
    slurm = [call for call in calls if call[0] != "conda"]
    assert all(tuple(call[1:]) in CONDA_ANSWERS for call in conda), conda  # the double refuses the rest
    assert all(tuple(call) in SLURM_ALLOWED for call in slurm), f"a dry run called SLURM: {slurm}"
    assert not double_calls(Path(env["APPTAINER_DOUBLE_LOG"])), "a job was started through apptainer"


def test_the_collector_finds_every_documented_command():
    """Counted by hand: README and docs pages 13 (9 in code blocks, 4 inline), config 3, profiles 2, Snakefile 2."""
    found = documented_commands()
    per_file: dict[str, int] = {}
    for command in found:
        per_file[command.where.split(":")[0]] = per_file.get(command.where.split(":")[0], 0) + 1
    pages = sum(count for name, count in per_file.items() if name == "README.md" or name.startswith("docs/"))
    assert per_file.get("README.md", 0) >= 1 and pages >= 13, per_file
    assert per_file.get("config/real-small.yaml", 0) >= 2 and per_file.get("config/paper.yaml", 0) >= 1, per_file
    assert per_file.get("profiles/slurm/config.yaml", 0) >= 1, per_file
    assert per_file.get("profiles/local-gpu/config.yaml", 0) >= 1, per_file
    assert per_file.get("workflow/Snakefile", 0) >= 2, per_file
    assert len(found) >= 20 and len(COMMANDS) >= 14, (len(found), len(COMMANDS))
    assert all(command.argv[0] == "snakemake" and "#" not in " ".join(command.argv) for command in found)


def test_the_real_data_figures_command_is_collected_from_the_docs_and_its_config():
    figures = {
        "config/cifar-folders.yaml" in argv: places for (argv, _, _), places in COMMANDS.items()
        if {"plot_fig2", "plot_fig3", "headline_tables"} <= set(argv)
        and option_value(argv, "--configfile") == "config/real-small.yaml"
    }
    assert set(figures) == {False, True}, COMMANDS  # the download default and the offline overlay
    files = {place.split(":")[0] for place in figures[False]}
    assert "config/real-small.yaml" in files and any(name.startswith("docs/") for name in files), figures
    assert any(place.startswith("docs/") for place in figures[True]), figures


def test_a_grid_part_command_takes_its_targets_from_list_missing_runs_before_the_dry_run_flag():
    """The documented next-part command: `$targets` from list_missing_runs.py, ``-n`` before ``--``."""
    parts = [(argv, dict(substituted)) for argv, _, substituted in COMMANDS if "$targets" in argv]
    assert parts, "docs/results/real-cifar.md's next-part command is not collected"
    for argv, substituted in parts:
        assert "scripts/list_missing_runs.py" in substituted["targets"], substituted
        dry = dry_run_argv(argv)
        assert dry.index("-n") < dry.index("--") < dry.index("$targets"), dry
    assert dry_run_argv(("snakemake", "all", "--cores", "2")) == ("snakemake", "all", "--cores", "2", "-n")

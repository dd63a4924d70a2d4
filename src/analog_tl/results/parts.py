"""One set of result tables from a run grid made in parts (sessions, machines, nights).

Two grids merge this way: the main grid (Figs. 2 and 3: :class:`Grid`,
:func:`merge_parts`) and the device sweeps (Figs. 4, 5 and SpV:
:class:`SweepGrid`, :func:`merge_sweep_parts`; what is left to run of them:
:func:`missing_sweep_runs`).

A part is either a folder of tidy tables that the workflow wrote (``runs.csv``,
``epochs.csv``, ``transfer_noise.csv``, ``fast_lr.csv``; a committed results
documentation folder, for example) or a workflow folder whose ``results/runs``
and ``results/analog_init`` hold finished runs that were never tabulated. The
parts' rows are stacked; a run (or epoch, or layer report) found in two parts
must be the same in both, bit for bit apart from wall-clock times, so that
merging doubles as a reproducibility check. Together the parts must hold every
run of the config's grid (every task, seed, training mode and noise level; rows
off the grid are left out), each trained with the config's settings.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from analog_tl.errors import ConfigError, PartsError
from analog_tl.results.selection import select_fast_lr, select_learning_rates, summarise_sweeps
from analog_tl.results.tables import by_axis, epochs_table, noise_table, runs_table, write_csv
from analog_tl.vocabulary import (
    ANALOG_MODES, ANALOG_TL_MODES, FAST_LR_SELECTION_MODES, FINAL_FILE, SWEEP_RUN, fast_lr_mode, fmt_float, main_grid,
    selection_noise, split_axis, sweep_axes,
)

# The tables read from every part; the fast_lr choice is made again from the merged candidate runs.
READ_TABLES = ("runs", "epochs", "transfer_noise")
TABLES = (*READ_TABLES, "fast_lr")  # the tables written
# Identity of a row in each table; two parts' rows with the same key must agree.
KEYS = {
    "runs": ["run"],
    "epochs": ["run", "epoch"],
    "transfer_noise": ["task", "seed", "tau", "layer"],
    "fast_lr": ["task", "mode", "fast_lr"],
    # the algorithm comparison's part tables (analog_tl.results.compare_parts)
    "compare_runs": ["run"],
    "compare_epochs": ["run", "epoch"],
    "compare_digital_runs": ["run"],
    "compare_pairs": ["algorithm", "device"],
}
# Wall-clock columns: they differ between two runs of the same job and are not compared.
TIMING_COLUMNS = {"train_seconds", "seconds"}


@dataclass(frozen=True)
class Grid:
    """The runs a config's tables hold (tasks x seeds, analog TL at every noise level) and their settings."""

    tasks: tuple[str, ...]
    seeds: tuple[int, ...]
    transfer_noise: tuple[float, ...]
    frozen_digital_ablation: bool = False
    fast_lrs: tuple[float, ...] = (0.1,)  # the c-TTv2 fast_lr candidates, chosen per task on validation
    # runs.csv columns every run must have: {column: value}, and those of the digital and the analog runs
    settings: tuple[tuple[str, object], ...] = ()
    digital_settings: tuple[tuple[str, object], ...] = ()
    analog_settings: tuple[tuple[str, object], ...] = ()

    @classmethod
    def from_config(cls, config: dict) -> Grid:
        """The grid of a workflow config (with the schema's defaults: ``workflow_config.read_workflow_config``)."""
        try:
            return cls(
                tasks=tuple(config["tasks"]),
                seeds=tuple(int(s) for s in config["finetune"]["seeds"]),
                transfer_noise=tuple(float(t) for t in config["analog"]["transfer_noise"]),
                frozen_digital_ablation=bool(config["analog"]["frozen_digital_ablation"]),
                fast_lrs=tuple(float(f) for f in config["analog"]["fast_lrs"]),
                settings=(("epochs", int(config["finetune"]["epochs"])),
                          ("batch_size", int(config["finetune"]["batch_size"]))),
                digital_settings=(("lr", float(config["finetune"]["digital_lr"])),),
                analog_settings=(("lr", float(config["finetune"]["analog_lr"])),
                                 ("simulator", config["analog"]["simulator"])),
            )
        except (KeyError, TypeError) as error:
            raise ConfigError(f"the config lacks {error}") from None

    def expected(self) -> set[tuple[str, str, float, int]]:
        """(task, mode, transfer noise or -1.0 where the mode has none, seed) of every planned run
        (:func:`analog_tl.vocabulary.main_grid`, as the workflow runs them)."""
        grid = main_grid(self.tasks, self.seeds, self.transfer_noise, self.frozen_digital_ablation)
        return {(run.task, run.mode, -1.0 if run.noise is None else run.noise, run.seed) for run in grid}


def _roundtrip(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` as it reads back from its CSV (so a tabulated part compares like a committed one)."""
    return pd.read_csv(io.StringIO(table.to_csv(index=False)))


def _finished_runs(folder: Path, under: str) -> list[str]:
    """Run folders (relative to workflow folder ``folder``) under ``results/<under>`` with a ``final.json``."""
    root = folder / "results" / under
    return sorted(str(p.parent.relative_to(folder)) for p in root.rglob(FINAL_FILE)) if root.is_dir() else []


def _tabulate(folder: Path, runs: list[str], make) -> pd.DataFrame:
    """``make`` (``runs_table`` or ``epochs_table``) of ``folder``'s runs, run paths relative to ``folder``."""
    table = make([folder / r for r in runs])
    table["run"] = table["run"].map(lambda path: str(Path(path).relative_to(folder)))
    return table


def read_part(folder: str | Path) -> dict[str, pd.DataFrame]:
    """The tables of one part: its CSV files, or a tabulation of its workflow folder's finished runs."""
    folder = Path(folder)
    if (folder / "runs.csv").is_file():
        present = {name: folder / f"{name}.csv" for name in READ_TABLES if (folder / f"{name}.csv").is_file()}
        missing = sorted(set(READ_TABLES) - set(present))
        if missing:
            raise PartsError(f"part {folder}: no {', '.join(m + '.csv' for m in missing)} beside runs.csv")
        return {name: pd.read_csv(path) for name, path in present.items()}
    results = folder / "results"
    runs = _finished_runs(folder, "runs")
    if not runs:
        raise PartsError(f"part {folder}: neither runs.csv nor finished runs under {results / 'runs'}")
    tables = {"runs": _tabulate(folder, runs, runs_table), "epochs": _tabulate(folder, runs, epochs_table)}
    reports = sorted(str(p) for p in (results / "analog_init").rglob("transfer_noise.csv"))
    if reports:
        tables["transfer_noise"] = noise_table(reports)
    return {name: _roundtrip(table) for name, table in tables.items()}


def _disagreement(name: str, rows: pd.DataFrame, key: list[str], columns: dict[str, set[str]]) -> str | None:
    """The first key whose duplicate rows differ in a compared column, as a message; None if all agree.

    Compared: the columns that every part holding the key has (``columns``: per
    part label), wall-clock times aside; a part made before a column existed
    (the validation loss, the protocol's scores) is checked on the others.
    """
    for values, group in rows.groupby(key, dropna=False, sort=False):
        if len(group) < 2:
            continue
        common = set.intersection(*(columns[label] for label in group["_part"].unique()))
        compared = [c for c in rows.columns if c in common and c not in TIMING_COLUMNS]
        first = group[compared].iloc[0]
        for _, other in group[compared].iloc[1:].iterrows():
            differ = [c for c in compared if not (first[c] == other[c] or (pd.isna(first[c]) and pd.isna(other[c])))]
            if differ:
                parts = " and ".join(group["_part"].astype(str).unique())
                return (f"{name}: {dict(zip(key, values if isinstance(values, tuple) else (values,)))} differs "
                        f"between parts {parts} in {', '.join(differ)}")
    return None


def stack(name: str, frames: Sequence[tuple[str, pd.DataFrame]]) -> pd.DataFrame:
    """Rows of table ``name`` from every part, duplicates (same key, same values) kept once.

    Of a run found in two parts, the row with the most filled columns is kept
    (a part made after a column was added has it).
    """
    present = [frame.assign(_part=label) for label, frame in frames]
    if not present:
        return pd.DataFrame()
    rows = pd.concat(present, ignore_index=True)
    key = KEYS[name]
    problem = _disagreement(name, rows, key, {label: set(frame.columns) for label, frame in frames})
    if problem:
        raise PartsError(problem)
    filled = rows.notna().sum(axis=1)
    kept = rows.loc[filled.sort_values(ascending=False, kind="stable").index].drop_duplicates(subset=key, keep="first")
    return kept.sort_index().drop(columns="_part").reset_index(drop=True)


def _selected_fast_lr(fast_lr: pd.DataFrame) -> dict[tuple[str, str], float]:
    """{(task, analog mode): selected fast_lr} from a fast_lr table."""
    chosen = fast_lr[fast_lr["selected"].astype(bool)]
    return {(t, m): float(f) for t, m, f in zip(chosen["task"], chosen["mode"], chosen["fast_lr"])}


def _run_key(runs: pd.DataFrame) -> pd.Series:
    """(task, mode, transfer noise or -1.0, seed) of every run, as ``Grid.expected`` lists them."""
    noise = runs["transfer_noise"].astype(float).fillna(-1.0)
    return pd.Series(list(zip(runs["task"], runs["mode"], noise, runs["seed"].astype(int))), index=runs.index)


def _describe(keys) -> str:
    return "; ".join(f"{t} {m}{'' if n < 0 else f' tau {n:g}'} seed {s}" for t, m, n, s in sorted(keys))


def grid_runs(runs: pd.DataFrame, fast_lr: pd.DataFrame, grid: Grid) -> pd.DataFrame:
    """The rows of ``runs`` in ``grid``, analog ones at their task's selected fast_lr; PartsError if one is missing."""
    selected = _selected_fast_lr(fast_lr)
    chosen = [
        float(f) == selected.get((t, fast_lr_mode(m)), float("nan")) if m in ANALOG_MODES else True
        for t, m, f in zip(runs["task"], runs["mode"], runs["fast_lr"])
    ]
    keys = _run_key(runs)
    expected = grid.expected()
    in_grid = pd.Series(chosen, index=runs.index) & keys.isin(expected)
    kept = _one_run_per_point(runs, keys, in_grid, expected, _describe,
                              "run(s) of the config's grid (at the selected fast_lr)")
    check_settings(kept, grid)
    return kept.reset_index(drop=True)


def _one_run_per_point(runs: pd.DataFrame, keys: pd.Series, in_grid: pd.Series, expected: set, describe,
                       what: str) -> pd.DataFrame:
    """The rows of ``runs`` marked ``in_grid``; PartsError naming a grid point with two runs or with none."""
    kept, kept_keys = runs[in_grid], keys[in_grid]
    duplicated = kept_keys.duplicated(keep=False)
    if duplicated.any():
        raise PartsError(f"two run folders for {describe(set(kept_keys[duplicated]))}")
    missing = expected - set(kept_keys)
    if missing:
        raise PartsError(f"the parts lack {len(missing)} {what}: {describe(missing)}")
    return kept


def check_settings(runs: pd.DataFrame, grid: Grid) -> None:
    """PartsError naming the first run whose settings (epochs, batch size, lr, simulator) are not the config's."""
    analog = runs["mode"].isin(ANALOG_MODES)
    checks = ((runs, grid.settings), (runs[~analog], grid.digital_settings), (runs[analog], grid.analog_settings))
    for rows, wanted in checks:
        for column, value in wanted:
            off = rows[rows[column] != value]
            if not off.empty:
                raise PartsError(f"{off['run'].iloc[0]}: {column} {off[column].iloc[0]}, the config says {value} "
                                 "(every part must come from the same config)")


def fast_lr_candidates(runs: pd.DataFrame, grid: Grid) -> pd.DataFrame:
    """The runs that choose each task's fast_lr (analog TL at the smallest noise and analog scratch, every
    candidate and seed of ``grid``); PartsError naming any that no part holds."""
    tau0 = selection_noise(grid.transfer_noise)
    at_tau0 = ~runs["mode"].isin(ANALOG_TL_MODES) | (runs["transfer_noise"].astype(float) == tau0)
    rows = runs[runs["mode"].isin(FAST_LR_SELECTION_MODES) & at_tau0 & runs["task"].isin(grid.tasks)
                & runs["seed"].astype(int).isin(grid.seeds) & runs["fast_lr"].astype(float).isin(grid.fast_lrs)]
    keys = set(zip(rows["task"], rows["mode"], rows["fast_lr"].astype(float), rows["seed"].astype(int)))
    expected = {(t, m, f, s) for t in grid.tasks for m in FAST_LR_SELECTION_MODES for f in grid.fast_lrs
                for s in grid.seeds}
    missing = sorted(expected - keys)
    if missing:
        listed = "; ".join(f"{t} {m} fast_lr {f:g} seed {s}" for t, m, f, s in missing)
        raise PartsError(f"the parts lack {len(missing)} fast_lr candidate run(s): {listed}")
    return rows.reset_index(drop=True)


def merge_parts(parts: Sequence[str | Path], grid: Grid) -> dict[str, pd.DataFrame]:
    """The four tidy tables of ``grid`` from ``parts``: rows off the grid left out, shared rows checked to agree.

    The fast_lr choice is made again from every part's candidate runs (``select_fast_lr``), so a part
    that ran some candidates and a part that ran the others merge into one choice.
    """
    read = [(str(p), read_part(p)) for p in parts]
    stacked = {name: stack(name, [(label, t[name]) for label, t in read if name in t]) for name in READ_TABLES}
    fast_lr = select_fast_lr(fast_lr_candidates(stacked["runs"], grid))
    runs = grid_runs(stacked["runs"], fast_lr, grid)
    epochs = stacked["epochs"][stacked["epochs"]["run"].isin(runs["run"])].reset_index(drop=True)
    noise = stacked["transfer_noise"]
    wanted = {(t, s, tau) for t in grid.tasks for s in grid.seeds for tau in grid.transfer_noise}
    if noise.empty:
        raise PartsError("no part has a realised-transfer-noise report (transfer_noise.csv or results/analog_init)")
    in_grid = pd.Series(list(zip(noise["task"], noise["seed"].astype(int), noise["tau"].astype(float)))).isin(wanted)
    noise = noise[in_grid.to_numpy()].reset_index(drop=True)
    lacking = wanted - set(zip(noise["task"], noise["seed"].astype(int), noise["tau"].astype(float)))
    if lacking:
        raise PartsError(f"transfer_noise: no report for (task, seed, tau) {sorted(lacking)}")
    return {"runs": runs, "epochs": epochs, "transfer_noise": noise, "fast_lr": fast_lr}


def write_merged(tables: dict[str, pd.DataFrame], out_dir: str | Path) -> list[Path]:
    """Write the merged tables as ``out_dir/<name>.csv`` (atomically); return their paths."""
    paths = []
    for name in TABLES:
        path = Path(out_dir) / f"{name}.csv"
        write_csv(tables[name], path)
        paths.append(path)
    return paths


# --- the device sweeps ------------------------------------------------------------------


@dataclass(frozen=True)
class SweepGrid:
    """The device-sweep runs a config's tables hold: per axis, tasks x values x learning rates x seeds.

    ``fast_lr``: the one c-TTv2 ``fast_lr`` of every sweep run (the config's
    only candidate; with several, the analog TL choice of a fast_lr table).
    """

    tasks: tuple[str, ...]
    seeds: tuple[int, ...]
    values: tuple[tuple[str, tuple[float, ...]], ...]  # (axis, its percentages)
    lrs: tuple[float, ...]
    epochs: int
    fast_lrs: tuple[float, ...]
    simulator: str

    @classmethod
    def from_config(cls, config: dict) -> SweepGrid:
        """The sweep grid of a workflow config (with the schema's defaults filled in)."""
        try:
            sweeps = config["sweeps"]
            axes = sweep_axes(sweeps["sps_readings"])
            return cls(
                tasks=tuple(sweeps["tasks"] or config["tasks"]),
                seeds=tuple(int(s) for s in config["finetune"]["seeds"]),
                values=tuple((a, tuple(float(v) for v in sweeps[split_axis(a)[0]])) for a in axes),
                lrs=tuple(float(lr) for lr in sweeps["lrs"]),
                epochs=int(sweeps["epochs"] or config["finetune"]["epochs"]),
                fast_lrs=tuple(float(f) for f in config["analog"]["fast_lrs"]),
                simulator=config["analog"]["simulator"],
            )
        except (KeyError, TypeError) as error:
            raise ConfigError(f"the config lacks {error}") from None

    @property
    def axes(self) -> tuple[str, ...]:
        return tuple(axis for axis, _ in self.values)

    def with_axes(self, axes: Sequence[str]) -> SweepGrid:
        """This grid with only ``axes`` (in the grid's order); ConfigError naming an axis it lacks."""
        unknown = [a for a in axes if a not in self.axes]
        if unknown:
            raise ConfigError(f"sweep axis(es) {unknown} are not in the config's sweep axes {list(self.axes)}")
        return replace(self, values=tuple((a, v) for a, v in self.values if a in axes))

    def points(self, axis: str) -> list[tuple[str, float, float, int]]:
        """(task, value, lr, seed) of every planned run of ``axis``, in grid order."""
        values = dict(self.values)[axis]
        return [(t, v, lr, s) for t in self.tasks for v in values for lr in self.lrs for s in self.seeds]

    def expected(self, axis: str) -> set[tuple[str, float, float, int]]:
        """(task, value, lr, seed) of every planned run of ``axis``."""
        return set(self.points(axis))


# Per-epoch columns a sweep part keeps (its settings are in the runs table, joined on ``run``).
SWEEP_EPOCH_COLUMNS = ["run", "epoch", "train_loss", "train_error", "val_error", "val_loss", "test_error", "seconds"]


def write_sweep_part(folder: str | Path, out: str | Path) -> list[Path]:
    """Tabulate the finished sweep runs of workflow folder ``folder`` as a part: ``out/sweeps/<axis>_runs.csv``.

    Also ``<axis>_epochs.csv`` (:data:`SWEEP_EPOCH_COLUMNS`), so that the
    part keeps every run's curve once its workflow folder is gone. Returns the
    paths written; PartsError when the folder has no finished sweep run.
    """
    folder, out = Path(folder), Path(out)
    runs = _finished_runs(folder, "sweeps")
    if not runs:
        raise PartsError(f"{folder}: no finished runs under {folder / 'results' / 'sweeps'}")
    table = _tabulate(folder, runs, runs_table)
    epochs = _tabulate(folder, runs, epochs_table)
    paths = []
    for axis, rows in by_axis(table).items():
        for suffix, frame in (("runs", rows), ("epochs", epochs[epochs["run"].isin(rows["run"])][SWEEP_EPOCH_COLUMNS])):
            path = out / "sweeps" / f"{axis}_{suffix}.csv"
            write_csv(frame, path)
            paths.append(path)
    return paths


def read_sweep_part(folder: str | Path) -> dict[str, pd.DataFrame]:
    """{axis: runs table} of one part: its ``sweeps/<axis>_runs.csv`` tables, or its finished sweep runs.

    The tables' learning-rate selection (``selected``) is dropped: it is made
    again over the merged runs.
    """
    folder = Path(folder)
    tables = sorted((folder / "sweeps").glob("*_runs.csv"))
    if tables:
        frames = [pd.read_csv(path) for path in tables]
    else:
        runs = _finished_runs(folder, "sweeps")
        if not runs:
            raise PartsError(f"part {folder}: neither sweeps/*_runs.csv nor finished runs under "
                             f"{folder / 'results' / 'sweeps'}")
        frames = [_roundtrip(_tabulate(folder, runs, runs_table))]
    rows = pd.concat(frames, ignore_index=True).drop(columns="selected", errors="ignore")
    return by_axis(rows)


def _sweep_key(runs: pd.DataFrame) -> pd.Series:
    return pd.Series(list(zip(runs["task"], runs["sweep_value"].astype(float), runs["lr"].astype(float),
                              runs["seed"].astype(int))), index=runs.index)


def _describe_sweep(axis: str, keys) -> str:
    return "; ".join(f"{axis} {t} {v:g} % lr {lr:g} seed {s}" for t, v, lr, s in sorted(keys))


def _on_sweep_grid(runs: pd.DataFrame, expected: set, fast_lr: dict[str, float]) -> tuple[pd.Series, pd.Series]:
    """The grid keys of ``runs`` and which of them are ``expected`` points at their task's ``fast_lr``."""
    keys = _sweep_key(runs)
    wanted = runs["task"].map(fast_lr).astype(float)
    return keys, keys.isin(expected) & (runs["fast_lr"].astype(float) == wanted)


def sweep_grid_runs(axis: str, runs: pd.DataFrame, grid: SweepGrid, fast_lr: dict[str, float]) -> pd.DataFrame:
    """The rows of ``runs`` on ``axis``'s grid at each task's ``fast_lr``; PartsError naming a missing or off run."""
    expected = grid.expected(axis)
    keys, in_grid = _on_sweep_grid(runs, expected, fast_lr)
    at = ", ".join(f"{t} {f:g}" for t, f in sorted(fast_lr.items()))
    kept = _one_run_per_point(runs, keys, in_grid, expected, lambda k: _describe_sweep(axis, k),
                              f"sweep run(s) of the config's grid (fast_lr {at})")
    _check_sweep_settings(kept, grid, axis)
    return kept.reset_index(drop=True)


PAIRING_SETTINGS = ("data_sha256", "n_test", "pretrained_sha256")  # one per task among all: seeds pair across them


def one_value_per_task(rows: pd.DataFrame, columns: Sequence[str], where: str) -> None:
    """PartsError naming two runs of ``rows`` (one task's, labelled ``where``) that differ in one of ``columns`` (NaN
    pre-training hashes aside)."""
    for column in (c for c in columns if c in rows.columns):
        values = rows[column].dropna() if column == "pretrained_sha256" else rows[column]
        if values.nunique(dropna=False) > 1:
            first, other = values.drop_duplicates().index[:2]  # NaNs count as one value
            hint = ("one pre-training; restore the kept one: scripts/restore_pretraining.py"
                    if column == "pretrained_sha256" else "one config and the same data")
            raise PartsError(f"{where}: {column} {rows.at[first, column]!r} in {rows.at[first, 'run']} but "
                             f"{rows.at[other, column]!r} in {rows.at[other, 'run']} "
                             f"(every part must come from {hint})")


def _check_sweep_settings(runs: pd.DataFrame, grid: SweepGrid, axis: str) -> None:
    """PartsError naming the first of ``runs`` (one axis's grid points) trained with another budget or simulator than
    ``grid``, or two of one task made from other data or another pre-trained model (``docs/protocol.md``, section 8)."""
    for column, value in (("epochs", grid.epochs), ("simulator", grid.simulator)):
        off = runs[runs[column] != value]
        if not off.empty:
            raise PartsError(f"{off['run'].iloc[0]}: {column} {off[column].iloc[0]}, the config says {value} "
                             "(every part must come from the same config)")
    for task, rows in runs.groupby("task"):
        one_value_per_task(rows, PAIRING_SETTINGS, f"{task}, sweep axis {axis}")


def _sweeps_fast_lr(grid: SweepGrid, fast_lr: float | dict[str, float] | None) -> dict[str, float]:
    """{task: the sweeps' c-TTv2 fast_lr}: ``fast_lr`` for every task, per task, or the config's only candidate."""
    if fast_lr is None:
        if len(grid.fast_lrs) != 1:
            raise PartsError(f"the config lists several fast_lr candidates {list(grid.fast_lrs)}; name the sweeps' one")
        fast_lr = grid.fast_lrs[0]
    if not isinstance(fast_lr, dict):
        return dict.fromkeys(grid.tasks, float(fast_lr))
    lacking = [t for t in grid.tasks if t not in fast_lr]
    if lacking:
        raise PartsError(f"no sweep fast_lr given for task(s) {lacking}")
    return fast_lr


def merge_sweep_parts(
    parts: Sequence[str | Path], grid: SweepGrid, fast_lr: float | dict[str, float] | None = None
) -> dict[str, pd.DataFrame]:
    """{axis: runs table with the learning-rate selection} of ``grid`` from ``parts``.

    Rows off the grid are left out; a run in two parts must agree (as
    :func:`stack` checks); every planned run must be present. ``fast_lr``: the
    sweeps' c-TTv2 fast_lr, one for every task or one per task (the workflow's
    analog TL choice); by default the config's only candidate.
    """
    per_task = _sweeps_fast_lr(grid, fast_lr)
    read = [(str(p), read_sweep_part(p)) for p in parts]
    merged = {}
    for axis in grid.axes:
        frames = [(label, tables[axis]) for label, tables in read if axis in tables]
        if not frames:
            raise PartsError(f"no part has runs of the sweep axis {axis}")
        runs = sweep_grid_runs(axis, stack("runs", frames), grid, per_task)
        merged[axis] = select_learning_rates(runs)
    return merged


def missing_sweep_runs(
    parts: Sequence[str | Path], grid: SweepGrid, fast_lr: float | dict[str, float] | None = None
) -> list[str]:
    """Run folders (:data:`~analog_tl.vocabulary.SWEEP_RUN`) of ``grid`` that no part holds, in grid order.

    What is left to run of a grid made in parts: per axis, task, value,
    learning rate and seed, at each task's ``fast_lr`` (as
    :func:`merge_sweep_parts`). Runs off the grid and unfinished runs (no
    ``final.json``: not in a part) do not count; no parts: the whole grid.
    PartsError naming a grid point that a part holds with another budget or
    simulator, or two runs of an axis and task made from other data or
    pre-trained models (they would not merge).
    """
    per_task = _sweeps_fast_lr(grid, fast_lr)
    held: dict[str, set] = {axis: set() for axis in grid.axes}
    on_grid_rows: dict[str, list[pd.DataFrame]] = {axis: [] for axis in grid.axes}
    for part in parts:
        for axis, runs in read_sweep_part(part).items():
            if axis not in held:
                continue
            keys, on_grid = _on_sweep_grid(runs, grid.expected(axis), per_task)
            on_grid_rows[axis].append(runs[on_grid])
            held[axis].update(keys[on_grid])
    for axis, frames in on_grid_rows.items():
        if frames:
            _check_sweep_settings(pd.concat(frames, ignore_index=True), grid, axis)
    return [
        SWEEP_RUN.format(task=t, sweep=axis, value=fmt_float(v), fast_lr=fmt_float(per_task[t]), lr=fmt_float(lr),
                         seed=s)
        for axis in grid.axes for t, v, lr, s in grid.points(axis)
        if (t, v, lr, s) not in held[axis]
    ]


def write_merged_sweeps(tables: dict[str, pd.DataFrame], out_dir: str | Path) -> list[Path]:
    """Write ``<axis>_runs.csv`` and ``<axis>_summary.csv`` per axis under ``out_dir`` (atomically)."""
    paths = []
    for axis, runs in tables.items():
        for suffix, table in (("runs", runs), ("summary", summarise_sweeps(runs))):
            path = Path(out_dir) / f"{axis}_{suffix}.csv"
            write_csv(table, path)
            paths.append(path)
    return paths

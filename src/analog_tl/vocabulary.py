"""The workflow's words, each spelled once: modes, run files and folders, algorithms, simulators, sweeps, keys.

The Snakemake rules (``workflow/rules/*.smk``), the steps, the result tables
and this library all name things with these words; folder and table contents
depend on their exact spelling, so each is defined here and imported elsewhere.
The config schema (``workflow/schemas/config.schema.yaml``) repeats the ones a
user can choose as enums; ``tests/test_vocabulary.py`` checks that they agree.

This module imports nothing of the project: it sits at the bottom of the import graph.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import NamedTuple

# --- numbers and grid points ------------------------------------------------------------


def fmt_float(value: object) -> str:
    """Canonical wildcard text of a number: 0.1 -> '0.1', 0 -> '0.0' (one spelling per value)."""
    return repr(float(value))  # type: ignore[arg-type]


def grid_value(value: object) -> str:
    """Canonical text of a comparison grid value: numbers as :func:`fmt_float` (1 and 1.0 are one point), else str."""
    return fmt_float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)


DEFAULT_POINT = "default"  # the name of a comparison grid point without fields (an algorithm with no grid)


def grid_point_name(point: Mapping[str, object]) -> str:
    """Folder name of a comparison grid point: ``field~value`` in field order, joined by ``,``; ``default`` if empty."""
    return ",".join(f"{field}~{grid_value(point[field])}" for field in sorted(point)) or DEFAULT_POINT


def grid_point_text(point: Mapping[str, object]) -> str:
    """A comparison run's ``hyperparameters`` column: ``field=value`` (``repr``) in field order, joined by ``,``."""
    return ",".join(f"{field}={point[field]!r}" for field in sorted(point)) or DEFAULT_POINT


def grid_point_values(text: str) -> tuple[object, ...]:
    """The values of a :func:`grid_point_text`, in field order (``()`` for the default point): numbers sort as numbers."""
    if text == DEFAULT_POINT:
        return ()
    return tuple(ast.literal_eval(item.split("=", 1)[1]) for item in text.split(","))


# --- training modes -----------------------------------------------------------------------

PRETRAIN_MODE = "pretrain"  # the digital pre-training run on the source task
DIGITAL_TL = "digital_tl"  # digital transfer learning from the pre-trained model
DIGITAL_SCRATCH = "digital_scratch"  # digital training from a random initialisation
ANALOG_TL = "analog_tl"  # analog (c-TTv2) transfer learning from the converted pre-trained model
ANALOG_TL_FROZEN_DIGITAL = "analog_tl_frozen_digital"  # analog TL with the digital parameters frozen (ablation)
ANALOG_SCRATCH = "analog_scratch"  # analog training from a random initialisation

# The modes of the main grid (Figs. 2 and 3), in the order of the summary table.
MODES = (DIGITAL_TL, ANALOG_TL, DIGITAL_SCRATCH, ANALOG_SCRATCH, ANALOG_TL_FROZEN_DIGITAL)
DIGITAL_MODES = (DIGITAL_TL, DIGITAL_SCRATCH)
ANALOG_TL_MODES = (ANALOG_TL, ANALOG_TL_FROZEN_DIGITAL)  # one rule, wildcard ``tl_mode``
ANALOG_MODES = (*ANALOG_TL_MODES, ANALOG_SCRATCH)
ABLATION_MODES = (ANALOG_TL_FROZEN_DIGITAL,)  # run only when the config asks (analog.frozen_digital_ablation)
FAST_LR_SELECTION_MODES = (ANALOG_TL, ANALOG_SCRATCH)  # each chooses its own fast_lr per task (select_fast_lr)


def fast_lr_mode(mode: str) -> str:
    """The mode whose fast_lr choice the runs of analog ``mode`` use: analog TL's for every analog TL mode."""
    return ANALOG_TL if mode in ANALOG_TL_MODES else mode


@dataclass(frozen=True)
class ModeLabel:
    """How a mode is named: ``figure`` in legends, ``table`` in summary.csv, ``short`` on reference lines."""

    figure: str
    table: str
    short: str


MODE_LABELS: Mapping[str, ModeLabel] = MappingProxyType({
    DIGITAL_TL: ModeLabel("Digital TL (SGD)", "digital TL (SGD)", "digital TL"),
    ANALOG_TL: ModeLabel("Analog TL (c-TTv2)", "analog TL (c-TTv2)", "analog TL"),
    DIGITAL_SCRATCH: ModeLabel("Digital from scratch (SGD)", "digital from scratch (SGD)", "digital from scratch"),
    ANALOG_SCRATCH: ModeLabel("Analog from scratch (c-TTv2)", "analog from scratch (c-TTv2)", "analog from scratch"),
    ANALOG_TL_FROZEN_DIGITAL: ModeLabel("Analog TL, digital parameters frozen",
                                        "analog TL, digital parameters frozen (ablation)",
                                        "analog TL, digital parameters frozen"),
})

# --- run files and run folders ------------------------------------------------------------

METRICS_FILE = "metrics.csv"  # one row per epoch
FINAL_FILE = "final.json"  # final metrics, written last: a run folder with it is finished
MODEL_FILE = "model.pt"  # model state (checksum in final.json)
RECORD_FILE = "run.json"  # settings, inputs, software and hardware of the run
RUN_FILES = (METRICS_FILE, FINAL_FILE, MODEL_FILE, RECORD_FILE)  # what every training run writes into its folder


def _main_run(mode: str, *levels: str) -> str:
    """Folder template of a main-grid run: task, mode, one ``name~{name}`` level per name in ``levels``, seed."""
    return "/".join(["results/runs/{task}", mode, *(f"{name}~{{{name}}}" for name in levels), "seed~{seed}"])


# Run-folder templates (str.format / Snakemake patterns; the field names are the rules' wildcards).
PRETRAIN_RUN = "results/pretrain"
PRETRAIN_DATA = "results/data/pretrain.npz"  # the prepared source task that pre-training reads
DIGITAL_TL_RUN = _main_run(DIGITAL_TL)
DIGITAL_SCRATCH_RUN = _main_run(DIGITAL_SCRATCH)
ANALOG_TL_RUN = _main_run("{tl_mode}", "noise", "fast_lr")  # tl_mode: one of ANALOG_TL_MODES
ANALOG_SCRATCH_RUN = _main_run(ANALOG_SCRATCH, "fast_lr")
ANALOG_INIT = "results/analog_init/{task}/noise~{noise}/seed~{seed}"  # a converted model with transfer noise
SWEEP_RUN = "results/sweeps/{task}/{sweep}~{value}/fast_lr~{fast_lr}/lr~{lr}/seed~{seed}"
COMPARE_RUN = "results/compare/{task}/{algorithm}/{device}/layers~{layers}/{point}/seed~{seed}"
# The template of each main-grid mode.
MAIN_RUNS: Mapping[str, str] = MappingProxyType({
    DIGITAL_TL: DIGITAL_TL_RUN,
    DIGITAL_SCRATCH: DIGITAL_SCRATCH_RUN,
    ANALOG_TL: ANALOG_TL_RUN,
    ANALOG_TL_FROZEN_DIGITAL: ANALOG_TL_RUN,
    ANALOG_SCRATCH: ANALOG_SCRATCH_RUN,
})

# --- the main grid (Figs. 2 and 3) --------------------------------------------------------


class GridRun(NamedTuple):
    """One run of the main grid; ``noise`` (transfer noise tau) is None for the modes without one."""

    task: str
    mode: str
    noise: str | float | None
    seed: str | int


def selection_noise(noise_levels: Iterable[str | float]) -> str | float:
    """The transfer noise at which analog TL chooses fast_lr and the ablation runs: the smallest level."""
    return min(noise_levels, key=float)


def main_grid(
    tasks: Iterable[str], seeds: Sequence[str | int], noise_levels: Sequence[str | float], frozen_digital_ablation: bool
) -> list[GridRun]:
    """Every run of the main grid, per task and seed: the digital modes, analog scratch, analog TL per noise level,
    and (``frozen_digital_ablation``) the frozen-digital ablation at :func:`selection_noise`.

    Seeds and noise levels keep their type (the workflow's wildcard strings, or numbers).
    """
    ablation_noise = selection_noise(noise_levels) if frozen_digital_ablation else None
    runs = []
    for task in tasks:
        for seed in seeds:
            runs += [GridRun(task, mode, None, seed) for mode in (*DIGITAL_MODES, ANALOG_SCRATCH)]
            runs += [GridRun(task, ANALOG_TL, noise, seed) for noise in noise_levels]
            if frozen_digital_ablation:
                runs.append(GridRun(task, ANALOG_TL_FROZEN_DIGITAL, ablation_noise, seed))
    return runs


def main_run_folder(run: GridRun, fast_lr: str | None = None) -> str:
    """The folder of ``run`` (:data:`MAIN_RUNS`); an analog run needs its ``fast_lr`` (wildcard text)."""
    template = MAIN_RUNS[run.mode]
    if fast_lr is None and "{fast_lr}" in template:
        raise ValueError(f"the folder of a {run.mode} run needs its fast_lr")
    return template.format(task=run.task, tl_mode=run.mode, noise=run.noise, fast_lr=fast_lr, seed=run.seed)


def main_run_folders(
    tasks: Iterable[str],
    seeds: Sequence[str],
    noise_levels: Sequence[str],
    selected_fast_lr: Mapping[tuple[str, str], str],
    frozen_digital_ablation: bool,
) -> list[str]:
    """The folders of :func:`main_grid`'s runs, in its order; analog runs at ``selected_fast_lr[task, mode]``
    (the choice of :data:`FAST_LR_SELECTION_MODES`, :func:`fast_lr_mode`)."""
    return [
        main_run_folder(run, selected_fast_lr[run.task, fast_lr_mode(run.mode)] if run.mode in ANALOG_MODES else None)
        for run in main_grid(tasks, seeds, noise_levels, frozen_digital_ablation)
    ]


# --- analog training: algorithms, analog layers, simulators -------------------------------

ALGORITHMS = ("sgd", "mp", "tiki-taka", "ttv2", "c-ttv2", "agad")  # aihwkit build_config names (compare.algorithms)
PAPER_ALGORITHM = "c-ttv2"  # the paper's algorithm: the main grid's, and the comparison's analog-layer ablations
# Algorithms whose compound has a fast_lr field in aihwkit 1.2.0 (tests/test_algorithms.py checks against aihwkit).
FAST_LR_ALGORITHMS = ("tiki-taka", "ttv2", "c-ttv2", "agad")
# Algorithms the fast simulator computes (their Table I configs pass its scope check; tests/test_algorithms.py).
FAST_SIMULATOR_ALGORITHMS = ("ttv2", "c-ttv2", "agad")

ALL_LAYERS = "all"  # every Linear layer analog
BACKBONE_LAYERS = "backbone"  # the backbone analog, the head digital
HEAD_LAYERS = "head"  # the head analog, the backbone digital
ANALOG_LAYER_SETS = (ALL_LAYERS, BACKBONE_LAYERS, HEAD_LAYERS)  # the comparison's ``layers``


def compare_mode(layers: str) -> str:
    """The ``mode`` of a comparison run with analog ``layers``: analog_tl, or analog_tl_<layers>_only."""
    return ANALOG_TL if layers == ALL_LAYERS else f"{ANALOG_TL}_{layers}_only"


AIHWKIT = "aihwkit"  # aihwkit's own tiles
FAST = "fast"  # the project's simulator (analog_tl.simulator)
SIMULATORS = (AIHWKIT, FAST)  # analog.simulator
AUTO = "auto"
# compare.simulator: each policy and the simulators its runs may use (auto: fast where it simulates the run exactly).
SIMULATOR_POLICIES: Mapping[str, tuple[str, ...]] = MappingProxyType({AUTO: SIMULATORS, AIHWKIT: (AIHWKIT,)})

# --- device sweeps ------------------------------------------------------------------------

SPS = "sps"  # symmetry point skew: one sweep axis per SpS reading
SPV = "spv"  # symmetry point variability
PULSE_NOISE = "pulse_noise"  # pulse update noise
DTOD = "dtod"  # device-to-device variability
DEVICE_SWEEPS = (SPS, SPV, PULSE_NOISE, DTOD)  # the swept device properties (config sweeps.<name>: percentages)
SPS_READINGS = ("range_skew", "reference_shift", "asymmetric_range")  # readings of SpS (analog_tl.analog.sweeps)


def sps_axis(reading: object) -> str:
    """The sweep axis of SpS ``reading``: ``sps_<reading>``."""
    return f"{SPS}_{reading}"


def axis_name(sweep: str, sps_reading: object) -> str:
    """The workflow's name of a sweep axis: ``sps_<reading>`` for SpS, else the sweep name (as tables hold them)."""
    return sps_axis(sps_reading) if sweep == SPS else str(sweep)


def split_axis(axis: str) -> tuple[str, str | None]:
    """(sweep, SpS reading or None) of sweep axis ``axis`` (inverse of :func:`axis_name`)."""
    prefix = sps_axis("")
    return (SPS, axis.removeprefix(prefix)) if axis.startswith(prefix) else (axis, None)


def sweep_axes(sps_readings: Iterable[str]) -> list[str]:
    """The sweep axes of a config: one per SpS reading (``sps_<reading>``), then the other device sweeps."""
    return [sps_axis(r) for r in sps_readings] + [s for s in DEVICE_SWEEPS if s != SPS]


# --- config keys and data -----------------------------------------------------------------

CONFIG_SCHEMA = "workflow/schemas/config.schema.yaml"  # the config's schema, relative to the repository root

# How a run evaluates and logs (analog_tl.config.ExecutionConfig): read by the steps from the config, kept out
# of rule params, so that changing them reruns nothing and keeps resumable state.
EXECUTION_KEYS = ("eval_batch_size", "log_every_steps")


def without_execution_keys(section: dict) -> dict:
    """A training config section (``pretrain``, ``finetune``) less the EXECUTION_KEYS: what a rule's params hold."""
    return {key: value for key, value in section.items() if key not in EXECUTION_KEYS}

# Where the images are and whether torchvision may download them (data section): read by the steps from the
# config, kept out of rule params, so that moving an archive or toggling download reruns nothing.
DATA_LOCATION_KEYS = ("pretrain_path", "finetune_path", "download")

SYNTHETIC, FOLDER, TORCHVISION = "synthetic", "folder", "torchvision"
DATA_SOURCES = (SYNTHETIC, FOLDER, TORCHVISION)  # data.source
PRETRAIN_ROLE = "pretrain"  # the source task of pre-training (CIFAR-10 in the paper)
FINETUNE_ROLE = "finetune"  # the pool of the fine-tuning tasks (CIFAR-100 in the paper)
DATA_ROLES = (PRETRAIN_ROLE, FINETUNE_ROLE)
# The torchvision data set of each role (data.source torchvision; one download job each).
TORCHVISION_DATASETS: Mapping[str, str] = MappingProxyType({PRETRAIN_ROLE: "cifar10", FINETUNE_ROLE: "cifar100"})

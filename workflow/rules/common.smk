"""Config validation, wildcard values and per-rule parameters.

Every rule receives, through ``params``, exactly the config sections its
result depends on, so a config change reruns only the jobs it affects.
"""

import re
import json
import os
import sys

import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from analog_tl.errors import ConfigError
from analog_tl.gpu_slots import job_group, job_resources, jobs_per_gpu
from analog_tl.results.captions import settings_caption as caption_of_config
from analog_tl.results.captions import compare_caption as caption_of_compare
from analog_tl.results.captions import sweep_caption as caption_of_sweeps
from analog_tl.results.design import CompareDesign, compare_grid
from analog_tl.vocabulary import (
    ALGORITHMS, ANALOG_INIT, ANALOG_LAYER_SETS, ANALOG_SCRATCH, ANALOG_SCRATCH_RUN, ANALOG_TL,
    ANALOG_TL_FROZEN_DIGITAL, ANALOG_TL_MODES, ANALOG_TL_RUN, COMPARE_RUN, DATA_LOCATION_KEYS, DEFAULT_POINT,
    CONFIG_SCHEMA, DEVICE_SWEEPS, DIGITAL_MODES, DIGITAL_SCRATCH_RUN, DIGITAL_TL_RUN, DTOD,
    FAST_LR_SELECTION_MODES, FINAL_FILE, FINETUNE_ROLE, FOLDER, METRICS_FILE, PRETRAIN_DATA, PRETRAIN_ROLE,
    PRETRAIN_RUN, PULSE_NOISE, RECORD_FILE, RUN_FILES, SIMULATOR_POLICIES, SPS, SPV, SWEEP_RUN, TORCHVISION,
    TORCHVISION_DATASETS, fmt_float, grid_point_name, GridRun, main_run_folder, main_run_folders, selection_noise,
    split_axis, sweep_axes, without_execution_keys,
)  # the workflow's words (wildcard values, run folders and files), shared with the library
from analog_tl.workflow_config import describe_schema_error

SCHEMA_PATH = os.path.join(os.path.dirname(workflow.basedir), CONFIG_SCHEMA)  # workflow/ is in the repository root


def config_error(message):
    """Stop before any job runs with one line that names the problem (no traceback)."""
    sys.exit(f"Config error: {message}")


def validate_config(cfg):
    """Validate against the schema (which fills defaults); on failure, stop with a one-line message."""
    try:
        validate(cfg, schema=SCHEMA_PATH)
    except WorkflowError:
        with open(SCHEMA_PATH) as handle:
            config_error(describe_schema_error(cfg, yaml.safe_load(handle)))


def task_classes(task):
    """Class names of ``task`` (config entry: a list, or a mapping with ``classes`` and ``n_classes``)."""
    entry = config["tasks"][task]
    return list(entry["classes"] if isinstance(entry, dict) else entry)


def _check_unique(values, where):
    """Fail if two entries of a number grid name the same value (e.g. 0.1 and 0.10)."""
    spelled = [fmt_float(v) for v in values]
    if len(set(spelled)) != len(spelled):
        config_error(f"{where} lists a value twice: {values}")


def _check_tasks(cfg):
    """A task that declares ``n_classes`` must list exactly that many classes."""
    for task, entry in cfg["tasks"].items():
        if isinstance(entry, dict) and "n_classes" in entry and len(entry["classes"]) != entry["n_classes"]:
            config_error(
                f"tasks.{task} declares n_classes {entry['n_classes']} but lists "
                f"{len(entry['classes'])} classes: {entry['classes']}"
            )


def _check_section_tasks(cfg):
    """sweeps.tasks and compare.tasks may only name tasks of the config."""
    for section in ("sweeps", "compare"):
        unknown = [t for t in cfg[section]["tasks"] if t not in cfg["tasks"]]
        if unknown:
            config_error(f"{section}.tasks: {unknown} not among the config's tasks {list(cfg['tasks'])}")


def _check_data(data):
    """A folder source needs both paths, and they must exist (a typo fails here, not after hours)."""
    if data["source"] != FOLDER:
        return
    for key in ("pretrain_path", "finetune_path"):
        if not data[key]:
            config_error(f"data.{key} must be set when data.source is 'folder'")
        if not os.path.exists(data[key]):
            config_error(f"data.{key}: {data[key]} does not exist (relative paths start at {os.getcwd()})")


def _check_compare_algorithms(compare):
    """compare.algorithms name aihwkit algorithms or compare.variants; a device's algorithms are among them."""
    for name in compare["variants"]:
        if name in ALGORITHMS:
            config_error(f"compare.variants.{name}: the name of an aihwkit algorithm; give the variant its own name")
    known = [*ALGORITHMS, *compare["variants"]]
    unknown = [a for a in compare["algorithms"] if a not in known]
    if unknown:
        config_error(f"compare.algorithms: {unknown} are neither aihwkit algorithms {list(ALGORITHMS)} nor keys of "
                     f"compare.variants {sorted(compare['variants'])}")
    for device, entry in compare["devices"].items():
        extra = [a for a in entry.get("algorithms", []) if a not in compare["algorithms"]]
        if extra:
            config_error(f"compare.devices.{device}.algorithms: {extra} not in compare.algorithms {compare['algorithms']}")


def _check_config(cfg):
    """Cross-field checks that a JSON schema cannot express; fail before any job runs."""
    _check_unique(cfg["analog"]["transfer_noise"], "analog.transfer_noise")
    _check_unique(cfg["analog"]["fast_lrs"], "analog.fast_lrs")
    if "fast_lr" in cfg["analog"]["compound"]:
        config_error("analog.compound.fast_lr: list the candidates in analog.fast_lrs (one is chosen per task on validation)")
    for key in (*DEVICE_SWEEPS, "lrs"):
        _check_unique(cfg["sweeps"][key], f"sweeps.{key}")
    _check_tasks(cfg)
    _check_section_tasks(cfg)
    _check_compare_algorithms(cfg["compare"])
    ablation = cfg["compare"]["ablation_device"]
    if ablation is not None and ablation not in cfg["compare"]["devices"]:
        config_error(f"compare.ablation_device: {ablation!r} is not a key of compare.devices {sorted(cfg['compare']['devices'])}")
    model = cfg["model"]
    if model["backbone"] == "timm" and not model["timm_name"]:
        config_error("model.timm_name must name a timm model when model.backbone is 'timm'")
    _check_data(cfg["data"])


validate_config(config)
_check_config(config)

TASKS = list(config["tasks"])
SWEEP_TASKS = config["sweeps"]["tasks"] or TASKS  # the tasks that run the device sweeps
COMPARE_TASKS = config["compare"]["tasks"] or TASKS  # the tasks that run the comparison
# Sweep axes: one per SpS reading (sps_<reading>), then SpV, pulse noise, device-to-device (analog_tl.vocabulary).
SWEEP_NAMES = sweep_axes(config["sweeps"]["sps_readings"])
SPS_AXES = SWEEP_NAMES[: len(config["sweeps"]["sps_readings"])]
GPUS_PER_JOB = config["compute"]["gpus_per_job"]  # GPUs per SLURM job (a job group shares them)
JOBS_PER_GPU = jobs_per_gpu(config)  # training jobs that share one GPU (compute.jobs_per_gpu)
# Resources of every GPU job (training rules, preflight): a GPU job slot (gpu_jobs=1) and the SLURM GPU request.
GPU_JOB = job_resources(GPUS_PER_JOB, JOBS_PER_GPU)
# Every job behind Figs. 2 and 3 and their tables (data, pre-training, the main fine-tuning grid, the
# fast_lr choice, tables, figures) outranks the sweeps and the comparison (priority 0), so a new
# user's first figures come first; the preflight (100) goes before everything.
FIGS_2_3_PRIORITY = 50
PRETRAIN_PRIORITY = 60  # download and pre-training gate most jobs: they start before the runs that do not need them
PREFLIGHT = "results/preflight/devices.json"  # device report of the preflight checkpoint (see after_preflight)
SEEDS = [str(s) for s in config["finetune"]["seeds"]]
NOISE_LEVELS = [fmt_float(t) for t in config["analog"]["transfer_noise"]]
SELECTION_NOISE = selection_noise(NOISE_LEVELS)  # analog TL at this tau chooses fast_lr (validation only)
FAST_LRS = [fmt_float(f) for f in config["analog"]["fast_lrs"]]
SWEEP_LRS = [fmt_float(lr) for lr in config["sweeps"]["lrs"]]
TABLE_RUN_FILES = [METRICS_FILE, FINAL_FILE, RECORD_FILE]  # the files of a run that the aggregation rules read
SELECTION_RUN_FILES = [FINAL_FILE, RECORD_FILE]  # the files of a run that the fast_lr choice and the figures read


wildcard_constraints:
    task="|".join(TASKS),
    seed=r"\d+",
    noise=r"[0-9.e+-]+",
    sweep="|".join(SWEEP_NAMES),
    tl_mode="|".join(ANALOG_TL_MODES),
    fast_lr=r"[0-9.e+-]+",
    value=r"[0-9.e+-]+",
    lr=r"[0-9.e+-]+",
    algorithm="|".join(re.escape(a) for a in [*ALGORITHMS, *config["compare"]["variants"]]),
    device=r"[A-Za-z0-9_]+",
    layers="|".join(ANALOG_LAYER_SETS),
    point=rf"{DEFAULT_POINT}|[A-Za-z_]+~[^/]+",


def after_preflight(folder):
    """Input function for the training jobs that write into ``folder`` (a pattern): the preflight gate.

    A job whose run is not finished (no ``final.json``) waits for the preflight
    checkpoint when that has to run (report missing, forced, or its settings
    changed). The report is never an input file, so a new report does not make
    finished results outdated and a dry run plans only the preflight.
    """

    def gate(wildcards):
        if not os.path.exists(os.path.join(folder.format(**wildcards), FINAL_FILE)):
            checkpoints.preflight.get()
        return []

    return gate


def gpu_share_group(wildcards):
    """Job group of a training job: with several jobs per GPU, profiles/slurm packs that many into one allocation.

    Fails if the profile's group-components packs another number (Snakemake
    asks for a job's group only when it submits jobs or plans a dry run).
    """
    try:
        return job_group(JOBS_PER_GPU, workflow.group_settings.group_components)
    except ConfigError as error:
        config_error(str(error))


def run_outputs(folder):
    """The four files a training run writes into ``folder`` (RUN_FILES)."""
    return multiext(f"{folder}/", *RUN_FILES)


def run_log(folder):
    """The log file of the training job that writes run folder (template) ``folder``: logs/ instead of results/."""
    return f"logs/{folder.removeprefix('results/')}.log"


def run_benchmark(folder):
    """The benchmark file of the training job that writes run folder (template) ``folder``."""
    return f"benchmarks/{folder.removeprefix('results/')}.tsv"


def run_folder(files):
    """The folder that holds a run's files (inverse of ``run_outputs``)."""
    return os.path.dirname(files[0])


def run_folders_of(files):
    """The run folders of a list of run files, in order, each once."""
    return list(dict.fromkeys(os.path.dirname(f) for f in files))


# --- data -----------------------------------------------------------------------------

_SYNTHETIC_ROLE_KEYS = {
    PRETRAIN_ROLE: {"target_train_per_class", "target_test_per_class"},
    FINETUNE_ROLE: {"source_train_per_class", "source_test_per_class"},
}


def data_params(role):
    """The data config that the ``role`` data set depends on (its location and the other role's keys dropped).

    The location (DATA_LOCATION_KEYS: where the images are, whether torchvision may download them) is read
    by the steps from the config, not from params, so moving an archive or toggling download reruns nothing.
    """
    data = {k: v for k, v in config["data"].items() if k not in DATA_LOCATION_KEYS}
    data["synthetic"] = {
        k: v for k, v in config["data"]["synthetic"].items() if k not in _SYNTHETIC_ROLE_KEYS[role]
    }
    return data


def downloaded(role):
    """Input function of a data preparation job: with ``data.source: torchvision``, the download it reads."""

    def inputs(wildcards):
        if config["data"]["source"] != TORCHVISION:
            return []
        return f"results/data/downloads/{TORCHVISION_DATASETS[role]}.json"

    return inputs


# --- training -------------------------------------------------------------------------


def pretrain_params():
    """TrainConfig fields of digital pre-training.

    Without EXECUTION_KEYS (how a run evaluates and logs): the training steps read them from the
    config, not from params, so changing them reruns nothing and keeps resumable state.
    """
    return without_execution_keys(config["pretrain"])


def finetune_params(kind, seed, lr=None, epochs=None, freeze_digital=False):
    """TrainConfig fields of a fine-tuning run; ``kind`` is 'digital' or 'analog' (Table I lr unless ``lr``).

    ``freeze_digital`` (analog only) trains only the analog tiles.
    """
    ft = config["finetune"]
    analog_only = {"freeze_digital": freeze_digital} if kind == "analog" else {}
    return {
        **analog_only,
        "epochs": epochs or ft["epochs"],
        "batch_size": ft["batch_size"],
        "lr": float(lr) if lr is not None else ft[f"{kind}_lr"],
        "optimizer": "sgd",
        "momentum": ft["momentum"] if kind == "digital" else 0.0,
        "augment": ft["augment"],
        "seed": int(seed),
    }


def analog_params(fast_lr=None):
    """AnalogConfig fields: device, c-TTv2 compound (with ``fast_lr`` if given), mapping, IO and update settings.

    Without ``fast_lr`` (the conversion) the compound has neither ``fast_lr`` nor
    the simulator: what conversion computes (device maps, programmed weights)
    depends on neither.
    """
    keys = ("device", "compound", "mapping", "forward", "backward", "update", "construction_seed")
    params = {k: config["analog"][k] for k in keys}
    if fast_lr is not None:
        params["compound"] = {**params["compound"], "fast_lr": float(fast_lr)}
        params["simulator"] = config["analog"]["simulator"]
    return params


# --- fast_lr selection (checkpoint select_fast_lr) -----------------------------------


def fast_lr_candidate_folders(task):
    """The runs that choose ``task``'s fast_lr: analog TL at SELECTION_NOISE and analog scratch, every candidate and seed."""
    return [
        main_run_folder(GridRun(task, mode, SELECTION_NOISE if mode == ANALOG_TL else None, seed), fast_lr)
        for fast_lr in FAST_LRS
        for seed in SEEDS
        for mode in FAST_LR_SELECTION_MODES
    ]


def selected_fast_lr(task, mode):
    """The fast_lr chosen for ``task`` and ``mode`` (of FAST_LR_SELECTION_MODES), once select_fast_lr has run."""
    with open(checkpoints.select_fast_lr.get(task=task).output[0]) as handle:
        return fmt_float(json.load(handle)["selected"][mode])


# --- device sweeps -------------------------------------------------------------------


def sweep_point(wildcards):
    """SweepPoint fields of a sweep job: the sweep, its value and only the options it uses."""
    sweep, reading = split_axis(wildcards.sweep)
    if reading is not None:
        return {"name": SPS, "percent": float(wildcards.value), "sps_reading": reading}
    options = {SPV: {"subtract_symmetry_point": config["sweeps"]["spv_subtract_symmetry_point"]}}
    return {"name": sweep, "percent": float(wildcards.value), **options.get(sweep, {})}


def sweep_train_params(wildcards):
    """TrainConfig of a sweep job: Table I settings at the job's learning rate and the sweep epochs."""
    return finetune_params("analog", wildcards.seed, lr=wildcards.lr, epochs=config["sweeps"]["epochs"])


def sweep_values(name):
    """Canonical wildcard values (percent) of sweep axis ``name`` (the SpS axes share sweeps.sps)."""
    return [fmt_float(v) for v in config["sweeps"][split_axis(name)[0]]]


def sweep_run_folders(name):
    """Every run folder of sweep axis ``name`` (sweep tasks, values, learning rates, seeds; the task's analog TL fast_lr)."""
    return [
        SWEEP_RUN.format(
            task=task, sweep=name, value=value, fast_lr=selected_fast_lr(task, ANALOG_TL), lr=lr, seed=seed
        )
        for task in SWEEP_TASKS
        for value in sweep_values(name)
        for lr in SWEEP_LRS
        for seed in SEEDS
    ]


def sweep_summaries(names):
    """The per-sweep summary tables of sweeps ``names``."""
    return [f"results/tables/sweeps/{name}_summary.csv" for name in names]


def sweep_caption(names):
    """Settings line of a sweep figure: the base settings plus the sweep protocol (analog_tl.results.captions)."""
    return caption_of_sweeps(config, names)


# --- aggregation ----------------------------------------------------------------------


def run_plan(table):
    """The grid whose runs make aggregate ``table`` (tables, compare, sweeps/<axis>): what its plan file holds.

    Everything that decides which run folders the table reads, short of the
    checkpoints' choices (fast_lr, buildable pairs), which are themselves inputs.
    """
    if table == "tables":
        return {"tasks": TASKS, "seeds": SEEDS, "transfer_noise": NOISE_LEVELS, "fast_lrs": FAST_LRS,
                "frozen_digital_ablation": config["analog"]["frozen_digital_ablation"]}
    if table == "compare":
        arms = [list(arm) for arm in compare_arms()]
        return {"tasks": COMPARE_TASKS, "seeds": SEEDS, "arms": arms,
                "points": {a: sorted(grid_points(a)) for a, _, _ in compare_arms()}}
    sweep = table.removeprefix("sweeps/")
    if table.startswith("sweeps/") and sweep in SWEEP_NAMES:
        return {"tasks": SWEEP_TASKS, "seeds": SEEDS, "values": sweep_values(sweep), "lrs": SWEEP_LRS}
    raise ValueError(f"no run plan for table {table!r}")


def plan_file(table):
    """The plan file (rule write_run_plan) that aggregate ``table`` depends on."""
    return f"results/plans/{table}.json"


def all_run_folders():
    """Every reported fine-tuning run folder (analog_tl.vocabulary.main_grid): analog runs at their task's
    selected fast_lr (after select_fast_lr)."""
    selected = {(task, mode): selected_fast_lr(task, mode) for task in TASKS for mode in FAST_LR_SELECTION_MODES}
    return main_run_folders(TASKS, SEEDS, NOISE_LEVELS, selected, config["analog"]["frozen_digital_ablation"])


def digital_run_files(tasks, files):
    """``files`` of every digital run (DIGITAL_MODES) of ``tasks`` and every seed."""
    return [
        f"{main_run_folder(GridRun(task, mode, None, seed))}/{file}"
        for task in tasks
        for mode in DIGITAL_MODES
        for seed in SEEDS
        for file in files
    ]


def noise_reports():
    """Every realised-transfer-noise table of the config."""
    return expand(
        f"{ANALOG_INIT}/transfer_noise.csv",
        task=TASKS,
        noise=NOISE_LEVELS,
        seed=SEEDS,
    )


# --- comparison: algorithms x devices, analog-layer ablations (rules/compare.smk) ----------

COMPARE = config["compare"]


def compare_design_config():
    """What CompareDesign reads of the config, narrowed to what the comparison depends on (a rule's params)."""
    return {"tasks": list(COMPARE_TASKS), "finetune": {"seeds": [int(s) for s in SEEDS]},
            "analog": {"mapping": config["analog"]["mapping"]},
            "compare": {key: COMPARE[key] for key in sorted(COMPARE) if key != "tasks"}}  # the tasks: above


COMPARE_DESIGN = CompareDesign.from_config(compare_design_config())  # its algorithms, devices, arms, ablation


def base_algorithm(algorithm):
    """The aihwkit build_config name of a compare algorithm: a variant's ``algorithm``, else the name itself."""
    return COMPARE_DESIGN.base.get(algorithm, algorithm)


def variant_fields(algorithm):
    """The compound fields a variant fixes ({} for an aihwkit algorithm)."""
    return dict(COMPARE["variants"].get(algorithm, {}).get("fields", {}))


def grid_points(algorithm):
    """``{point: {field: value}}`` of ``algorithm``'s grid: fast_lr (if it has one) and compare.grids fields."""
    return {grid_point_name(p): p for p in compare_grid(COMPARE, algorithm, base_algorithm(algorithm))}


def compare_arms():
    """The (algorithm, device, analog layers) combinations to run: each algorithm on each device that lists it
    (a device without ``algorithms`` takes all), plus c-TTv2's analog-layer ablations on the ablation device."""
    return [(arm.algorithm, arm.device, arm.layers) for arm in COMPARE_DESIGN.arms]


def analog_simulators():
    """The analog simulators this config's runs may use (the preflight checks each against compute.device).

    analog.simulator for the main grid and the sweeps; for the comparison those
    its policy compare.simulator may pick (auto: both, per run after the pair check; aihwkit: aihwkit).
    """
    used = {config["analog"]["simulator"]}
    if compare_arms():
        used |= set(SIMULATOR_POLICIES[COMPARE["simulator"]])
    return sorted(used)


ANALOG_SIMULATORS = analog_simulators()


def compare_device_params(device):
    """AnalogConfig fields of a comparison run on named device ``device``: the compare entry replaces analog.device,
    and its ``mapping`` fields are set over analog.mapping."""
    entry = COMPARE["devices"][device]
    params = analog_params()
    return {**params, "device": {"name": entry["name"], "fields": entry.get("fields", {})},
            "mapping": {**params["mapping"], **entry.get("mapping", {})}}


def buildable_pairs():
    """The (algorithm, device) pairs that compare_pairs built and trained one step (after the checkpoint)."""
    with open(checkpoints.compare_pairs.get().output[0]) as handle:
        pairs = json.load(handle)["pairs"]
    return {(p["algorithm"], p["device"]) for p in pairs if p["status"] == "ok"}


def compare_run_folders():
    """Every comparison run folder of a buildable pair: comparison tasks x arms x grid points x seeds."""
    ok = buildable_pairs()
    return [
        COMPARE_RUN.format(task=task, algorithm=a, device=d, layers=layers, point=point, seed=seed)
        for task in COMPARE_TASKS
        for a, d, layers in compare_arms()
        if (a, d) in ok
        for point in grid_points(a)
        for seed in SEEDS
    ]


def compare_caption():
    """Settings line of the comparison figures and tables."""
    return caption_of_compare(config)


def settings_caption():
    """One line with the run's settings, for figure titles and report captions (analog_tl.results.captions)."""
    return caption_of_config(config)

"""The training steps of the workflow: pre-training, digital and analog fine-tuning.

Each function is one Snakemake job: it reads prepared data (checksum-checked),
trains, and writes a run folder (see :class:`~analog_tl.training.artifacts.RunPaths`).
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn

from analog_tl.analog.devices import build_device, device_summary
from analog_tl.analog.parameters import freeze_digital, parameter_counts
from analog_tl.analog.populations import population_seeds
from analog_tl.analog.rpu import build_rpu_config, resolve, table_i_view
from analog_tl.analog.sweeps import SweepPoint, apply_sweep
from analog_tl.analog.symmetry import symmetry_points
from analog_tl.analog.transfer import apply_transfer_noise, convert
from analog_tl.config import AnalogConfig, ModelConfig, TrainConfig, to_dict
from analog_tl.data.prepared import PreparedData, load_prepared, sidecar_path, verify_checksum
from analog_tl.errors import AnalogConfigError
from analog_tl.io import atomic_path, read_json, write_json
from analog_tl.models.factory import build_model, describe, head_name, swap_head
from analog_tl.training.artifacts import RunPaths, load_checked_model, recorded_sha256, save_model
from analog_tl.training.runner import RunContext, train_and_write
from analog_tl.vocabulary import (
    AIHWKIT, ALL_LAYERS, ANALOG_LAYER_SETS, ANALOG_SCRATCH, ANALOG_TL, BACKBONE_LAYERS, DIGITAL_SCRATCH, DIGITAL_TL,
    FAST, HEAD_LAYERS, PRETRAIN_MODE, SIMULATORS, SPS, fmt_float,
)

log = logging.getLogger(__name__)


def digital_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """SGD (Table I for fine-tuning) or AdamW, as ``config.optimizer`` says."""
    if config.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    raise ValueError(f"unknown optimizer {config.optimizer!r}; use sgd or adamw")


def _run_record(
    settings: dict[str, Any], model: nn.Module, model_cfg: ModelConfig, train_cfg: TrainConfig, data_path: str | Path
) -> dict[str, Any]:
    """The ``run.json`` fields of every training run (the data file was checksum-checked when loaded)."""
    meta = read_json(sidecar_path(data_path))
    return {
        "settings": {**settings, **_flat_train(train_cfg)},
        "model": {**to_dict(model_cfg), **describe(model)},
        "parameters": parameter_counts(model),
        "train": to_dict(train_cfg),
        "data": {"path": str(data_path), "sha256": meta["sha256"], "classes": meta["classes"], "counts": meta["counts"]},
    }


def _checkpoint(classes: list[str], model_cfg: ModelConfig) -> dict[str, Any]:
    """What ``model.pt`` holds besides the weights: the class names and the model config."""
    return {"classes": classes, "model": to_dict(model_cfg)}


def _pretrained_inputs(pretrained_dir: str | Path) -> dict[str, str]:
    """The ``inputs`` entry of a run record that starts from the pre-trained model: its recorded checksum."""
    return {"pretrained_model_sha256": recorded_sha256(RunPaths.in_folder(pretrained_dir).final)}


def pretrain(
    data_path: str | Path, model_cfg: ModelConfig, train_cfg: TrainConfig, out_dir: str | Path,
    context: RunContext = RunContext(),
) -> dict[str, Any]:
    """Digital pre-training on the source task; returns the final metrics."""
    data = load_prepared(data_path)
    model = build_model(model_cfg, len(data.classes), seed=train_cfg.seed)
    log.info("pre-training %s on %d images of %d classes", describe(model), len(data.train), len(data.classes))
    record = _run_record({"mode": PRETRAIN_MODE}, model, model_cfg, train_cfg, data_path)
    optimizer = functools.partial(digital_optimizer, config=train_cfg)
    return train_and_write(
        model, optimizer, data, train_cfg, out_dir, record, _checkpoint(data.classes, model_cfg), context, PRETRAIN_MODE
    )


def load_pretrained(pretrained_dir: str | Path, model_cfg: ModelConfig, num_classes: int, head_seed: int) -> nn.Module:
    """The pre-trained model (checksum-checked) with a fresh ``num_classes`` head."""
    paths = RunPaths.in_folder(pretrained_dir)
    checkpoint = load_checked_model(paths.model, paths.final)
    model = build_model(model_cfg, len(checkpoint["classes"]), seed=0)
    model.load_state_dict(checkpoint["state_dict"])
    return swap_head(model, num_classes, seed=head_seed)


def _flat_train(config: TrainConfig) -> dict[str, Any]:
    return {
        "epochs": config.epochs,
        "batch_size": config.batch_size,
        "lr": config.lr,
        "optimizer": config.optimizer,
        "momentum": config.momentum,
        "seed": config.seed,
    }


def finetune_digital(
    data_path: str | Path,
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    out_dir: str | Path,
    task: str,
    pretrained_dir: str | Path | None,
    context: RunContext = RunContext(),
) -> dict[str, Any]:
    """Digital transfer learning (``pretrained_dir`` given) or training from scratch (None)."""
    data = load_prepared(data_path)
    k = len(data.classes)
    if pretrained_dir is None:
        mode, model = DIGITAL_SCRATCH, build_model(model_cfg, k, seed=train_cfg.seed)
    else:
        mode, model = DIGITAL_TL, load_pretrained(pretrained_dir, model_cfg, k, head_seed=train_cfg.seed)
    settings = {"mode": mode, "task": task, "n_classes": k, "transfer_noise": None}
    record = _run_record(settings, model, model_cfg, train_cfg, data_path)
    if pretrained_dir is not None:
        record["inputs"] = _pretrained_inputs(pretrained_dir)
    return train_and_write(
        model, functools.partial(digital_optimizer, config=train_cfg), data, train_cfg, out_dir, record,
        _checkpoint(data.classes, model_cfg), context, f"{task}/{mode}/seed~{train_cfg.seed}",
    )


def noise_generator(noise_seed: int, seed: int) -> torch.Generator:
    """Generator of the transfer-noise draw; the same pattern, scaled by tau, for every tau."""
    return torch.Generator().manual_seed(noise_seed * 1_000_003 + seed)


def analog_from_pretrained(
    pretrained_dir: str | Path,
    num_classes: int,
    model_cfg: ModelConfig,
    rpu_config: Any,
    tau: float,
    noise_seed: int,
    seed: int,
    head_noise: bool = True,
    layers: str = ALL_LAYERS,
) -> tuple[nn.Module, pd.DataFrame]:
    """Head-swapped pre-trained model converted to analog with transfer noise ``tau`` programmed.

    ``head_noise`` False programs the fresh head without noise (Eq. 1 read as
    noise on the pre-trained weights only). ``layers`` (ANALOG_LAYER_SETS) says
    which Linear layers become analog: ``all``, ``backbone`` (the head stays
    digital) or ``head`` (the backbone stays digital). Returns the analog model
    and the realised noise per analog layer (one row per layer).
    """
    model = load_pretrained(pretrained_dir, model_cfg, num_classes, head_seed=seed)
    reference = {n: m.weight.detach().clone() for n, m in model.named_modules() if isinstance(m, nn.Linear)}
    skip = frozenset() if head_noise else frozenset({head_name(model)})
    analog = convert(model, rpu_config, exclude=digital_layers(model, layers))
    report = pd.DataFrame(
        [r.as_dict() for r in apply_transfer_noise(analog, reference, tau, noise_generator(noise_seed, seed), skip)]
    )
    share = report.rows * report.cols / (report.rows * report.cols).sum()  # each layer's share of the weights
    log.info(
        "transfer noise tau=%g: realised std %.4g (weight-weighted mean over %d layers), clipped %.2f%%",
        tau, (report.realised_std * share).sum(), len(report), 100 * (report.clipped_fraction * share).sum(),
    )
    return analog, report


def digital_layers(model: nn.Module, layers: str) -> list[str]:
    """Names of the ``nn.Linear`` layers that stay digital when ``layers`` (ANALOG_LAYER_SETS) are analog."""
    if layers not in ANALOG_LAYER_SETS:
        raise ValueError(f"analog layers must be one of {ANALOG_LAYER_SETS}, got {layers!r}")
    head = head_name(model)
    linear = [name for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    return {ALL_LAYERS: [], BACKBONE_LAYERS: [head], HEAD_LAYERS: [n for n in linear if n != head]}[layers]


def convert_pretrained(
    pretrained_dir: str | Path,
    data_path: str | Path,
    model_cfg: ModelConfig,
    analog_cfg: AnalogConfig,
    tau: float,
    noise_seed: int,
    seed: int,
    out_model: str | Path,
    out_noise: str | Path,
    head_noise: bool = True,
) -> pd.DataFrame:
    """Head-swapped pre-trained model -> analog c-TTv2 model with transfer noise ``tau``.

    Writes the analog state (``out_model``), its record (checksum, seeds, the
    per-tile construction seeds) and the realised noise per layer
    (``out_noise``, CSV); returns the latter.
    """
    classes = verify_checksum(data_path)["classes"]
    analog, report = analog_from_pretrained(
        pretrained_dir, len(classes), model_cfg, build_rpu_config(analog_cfg), tau, noise_seed, seed, head_noise
    )
    state = {"state_dict": analog.state_dict(), "classes": classes, "tau": tau, "noise_seed": noise_seed, "seed": seed}
    with atomic_path(out_noise) as tmp:
        report.to_csv(tmp, index=False)
    checksum = save_model(state, Path(out_model))
    record = {
        "model_sha256": checksum, "tau": tau, "noise_seed": noise_seed, "seed": seed, "head_transfer_noise": head_noise,
        "tile_seeds": [t.as_dict() for t in population_seeds(analog, analog_cfg.construction_seed)],
    }
    write_json(init_record_path(out_model), record)
    return report


def init_record_path(model_path: str | Path) -> Path:
    """The JSON record (checksum, tau, seeds) written beside a converted analog model."""
    return Path(model_path).with_suffix(".json")


def analog_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """``AnalogSGD`` with the run's learning rate, regrouped for the analog tiles."""
    from aihwkit.optim import AnalogSGD

    optimizer = AnalogSGD(model.parameters(), lr=config.lr)
    optimizer.regroup_param_groups(model)
    return optimizer


def analog_layout(model: nn.Module) -> list[dict[str, Any]]:
    """Analog layers with their shapes and tile counts (tile splitting made visible)."""
    layout = []
    for name, layer in model.named_analog_layers():
        weight, bias = layer.get_weights()
        tiles = list(layer.analog_tiles())
        layout.append(
            {"layer": name, "out": weight.shape[0], "in": weight.shape[1], "tiles": len(tiles),
             "digital_bias": bias is not None}
        )
    return layout


def analog_record(analog: nn.Module, analog_cfg: AnalogConfig) -> dict[str, Any]:
    """What ``run.json`` says about the simulated hardware: device figures, per-tile seeds, symmetry points."""
    return {
        "analog_device": device_summary(analog_cfg.device),
        "device_populations": {
            "construction_seed": analog_cfg.construction_seed,
            "rule": "seed of each tile = analog_tl.seeds.tile_seed(construction_seed, layer, tile)",
            "tiles": [t.as_dict() for t in population_seeds(analog, analog_cfg.construction_seed)],
        },
        "symmetry_points": [p.as_dict() for p in symmetry_points(analog)],
    }


def check_simulator(analog_cfg: AnalogConfig, rpu_config: Any) -> None:
    """Fail before any work if ``analog_cfg.simulator`` is unknown or cannot simulate ``rpu_config``."""
    if analog_cfg.simulator not in SIMULATORS:
        raise AnalogConfigError(f"analog.simulator: unknown simulator {analog_cfg.simulator!r}; use one of {SIMULATORS}")
    if analog_cfg.simulator == FAST:
        from analog_tl.simulator import check_scope

        check_scope(rpu_config)


def simulator_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """The fast simulator's ``AnalogSGD`` with the run's learning rate."""
    from analog_tl.simulator import AnalogSGD

    return AnalogSGD(model, lr=config.lr)


def trainable(
    analog: nn.Module, rpu_config: Any, analog_cfg: AnalogConfig, model_cfg: ModelConfig, train_cfg: TrainConfig,
    n_classes: int,
) -> tuple[nn.Module, Any, dict[str, Any]]:
    """The model that trains, its optimiser factory and the simulator's record.

    aihwkit: the converted model and aihwkit's ``AnalogSGD``. fast: the
    simulator's copy of it (same devices and state, tiles keyed by the run's
    seed) and the simulator's ``AnalogSGD``.
    """
    if analog_cfg.simulator == AIHWKIT:
        record = {"name": AIHWKIT, "runtime_noise": "clock-seeded (aihwkit offers no seed): not bit-reproducible"}
        return analog, functools.partial(analog_optimizer, config=train_cfg), record
    from analog_tl import simulator

    template = build_model(model_cfg, n_classes, seed=0)  # structure only: every tensor is copied from ``analog``
    model = simulator.from_aihwkit(analog, template, rpu_config, seed=train_cfg.seed)
    record = simulator.describe(model, seed=train_cfg.seed)
    return model, functools.partial(simulator_optimizer, config=train_cfg), record


def _fit_analog(
    analog: nn.Module,
    rpu_config: Any,
    data: PreparedData,
    data_path: str | Path,
    model_cfg: ModelConfig,
    analog_cfg: AnalogConfig,
    train_cfg: TrainConfig,
    out_dir: str | Path,
    settings: dict[str, Any],
    extra_record: dict[str, Any],
    label: str,
    context: RunContext,
) -> dict[str, Any]:
    """Train an analog model with AnalogSGD and write its run folder (settings and rpu_config recorded).

    With ``train_cfg.freeze_digital`` only the analog tiles train. The
    simulator (``analog_cfg.simulator``) trains either aihwkit's model or the
    fast simulator's copy of it; everything recorded about the devices is read
    from the aihwkit model before training.
    """
    layout = analog_layout(analog)
    log.info("%s: %d analog layers, %d tiles", label, len(layout), analog.analog_tile_count())
    if train_cfg.freeze_digital:
        log.info("%s: %d digital parameters frozen", label, freeze_digital(analog))
    settings = {**settings, "fast_lr": getattr(rpu_config.device, "fast_lr", None), "simulator": analog_cfg.simulator}
    record = {
        **_run_record(settings, analog, model_cfg, train_cfg, data_path),
        "table_i": table_i_view(rpu_config, train_cfg.lr, train_cfg.batch_size),
        "analog_config": to_dict(analog_cfg),
        "analog_layers": layout,
        "rpu_config": resolve(rpu_config),
        **analog_record(analog, analog_cfg),
        **extra_record,
    }
    model, make_optimizer, record["simulator"] = trainable(
        analog, rpu_config, analog_cfg, model_cfg, train_cfg, len(data.classes)
    )
    return train_and_write(
        model, make_optimizer, data, train_cfg, out_dir, record, _checkpoint(data.classes, model_cfg), context, label,
        trains=analog_cfg.simulator,
    )


def finetune_analog(
    data_path: str | Path,
    model_cfg: ModelConfig,
    analog_cfg: AnalogConfig,
    train_cfg: TrainConfig,
    out_dir: str | Path,
    task: str,
    init_path: str | Path | None,
    tau: float | None,
    context: RunContext = RunContext(),
    mode: str | None = None,
) -> dict[str, Any]:
    """c-TTv2 fine-tuning from a converted pre-trained model (``init_path``) or from scratch (None).

    The converted model's tiles (device maps, programmed weights) are loaded
    under this run's ``rpu_config`` (its ``fast_lr`` and other compound settings).
    ``mode`` names the run (default ``analog_tl`` or ``analog_scratch``).
    """
    data = load_prepared(data_path)
    rpu_config = build_rpu_config(analog_cfg)
    check_simulator(analog_cfg, rpu_config)
    digital = build_model(model_cfg, len(data.classes), seed=train_cfg.seed)
    analog = convert(digital, rpu_config, populate=init_path is None)  # a converted model brings its populations
    extra: dict[str, Any] = {}
    if init_path is not None:
        saved = load_checked_model(init_path, init_record_path(init_path))["state_dict"]
        analog.load_state_dict(saved, load_rpu_config=False)
        extra["inputs"] = {"init_model_sha256": recorded_sha256(init_record_path(init_path))}
    mode = mode or (ANALOG_SCRATCH if init_path is None else ANALOG_TL)
    settings = {"mode": mode, "task": task, "n_classes": len(data.classes), "transfer_noise": tau}
    noise = f"/noise~{fmt_float(tau)}" if tau is not None else ""
    label = f"{task}/{mode}{noise}/fast_lr~{fmt_float(rpu_config.device.fast_lr)}/seed~{train_cfg.seed}"
    return _fit_analog(
        analog, rpu_config, data, data_path, model_cfg, analog_cfg, train_cfg, out_dir, settings, extra, label, context
    )


def finetune_analog_sweep(
    data_path: str | Path,
    pretrained_dir: str | Path,
    model_cfg: ModelConfig,
    analog_cfg: AnalogConfig,
    point: SweepPoint,
    train_cfg: TrainConfig,
    tau: float,
    noise_seed: int,
    out_dir: str | Path,
    task: str,
    context: RunContext = RunContext(),
    head_noise: bool = True,
) -> dict[str, Any]:
    """One device-sweep point: analog TL on the nominal device with ``point``'s fields applied.

    The pre-trained model is converted onto the swept device (transfer noise
    ``tau`` programmed as in :func:`convert_pretrained`) and fine-tuned with
    c-TTv2 at ``train_cfg.lr``; the run record holds the sweep point, its
    device fields and the realised transfer noise.
    """
    data = load_prepared(data_path)
    swept = apply_sweep(analog_cfg, point)
    rpu_config = build_rpu_config(swept)
    check_simulator(swept, rpu_config)
    analog, noise = analog_from_pretrained(
        pretrained_dir, len(data.classes), model_cfg, rpu_config, tau, noise_seed, train_cfg.seed, head_noise
    )
    settings = {
        "mode": ANALOG_TL,
        "task": task,
        "n_classes": len(data.classes),
        "transfer_noise": tau,
        "sweep": point.name,
        "sweep_value": point.percent,
        "sps_reading": point.sps_reading if point.name == SPS else None,
    }
    extra = {
        "sweep": point.describe(build_device(analog_cfg.device)),
        "transfer_noise_layers": noise.to_dict(orient="records"),
        "inputs": _pretrained_inputs(pretrained_dir),
    }
    label = f"{task}/{point.axis}~{fmt_float(point.percent)}/lr~{fmt_float(train_cfg.lr)}/seed~{train_cfg.seed}"
    return _fit_analog(
        analog, rpu_config, data, data_path, model_cfg, swept, train_cfg, out_dir, settings, extra, label, context
    )

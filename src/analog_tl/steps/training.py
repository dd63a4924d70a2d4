"""The training steps of the workflow: pre-training, digital and analog fine-tuning, device sweeps.

Each function is one Snakemake job: it reads prepared data (checksum-checked),
trains, and writes a run folder (see :class:`~analog_tl.training.artifacts.RunPaths`).
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from analog_tl.analog.devices import build_device
from analog_tl.analog.rpu import build_rpu_config
from analog_tl.analog.sweeps import apply_sweep
from analog_tl.analog.transfer import convert
from analog_tl.data.prepared import load_prepared
from analog_tl.models.factory import build_model, describe
from analog_tl.steps.conversion import analog_from_pretrained, init_record_path, load_pretrained
from analog_tl.steps.jobs import AnalogJob, DigitalJob, SweepJob
from analog_tl.training.analog_fit import AnalogFit, fit_analog
from analog_tl.training.artifacts import load_checked_model, recorded_sha256
from analog_tl.training.jobs import TrainingJob
from analog_tl.training.optimizers import digital_optimizer
from analog_tl.training.records import checkpoint_extras, pretrained_inputs, run_record
from analog_tl.training.runner import TrainingRun, train_and_write
from analog_tl.training.simulators import check_simulator
from analog_tl.vocabulary import ANALOG_SCRATCH, ANALOG_TL, DIGITAL_SCRATCH, DIGITAL_TL, PRETRAIN_MODE, SPS, fmt_float

log = logging.getLogger(__name__)


def pretrain(job: TrainingJob) -> dict[str, Any]:
    """Digital pre-training on the source task; returns the final metrics."""
    data = load_prepared(job.data_path)
    model = build_model(job.model_cfg, len(data.classes), seed=job.train_cfg.seed)
    log.info("pre-training %s on %d images of %d classes", describe(model), len(data.train), len(data.classes))
    record = run_record({"mode": PRETRAIN_MODE}, model, job.model_cfg, job.train_cfg, job.data_path)
    run = TrainingRun(
        model=model, make_optimizer=functools.partial(digital_optimizer, config=job.train_cfg), data=data,
        train_cfg=job.train_cfg, out_dir=job.out_dir, record=record,
        checkpoint=checkpoint_extras(data.classes, job.model_cfg), label=PRETRAIN_MODE,
    )
    return train_and_write(run, job.context)


def finetune_digital(job: DigitalJob) -> dict[str, Any]:
    """Digital transfer learning (``job.pretrained_dir`` given) or training from scratch (None)."""
    train_cfg = job.train_cfg
    data = load_prepared(job.data_path)
    k = len(data.classes)
    if job.pretrained_dir is None:
        mode, model = DIGITAL_SCRATCH, build_model(job.model_cfg, k, seed=train_cfg.seed)
    else:
        mode, model = DIGITAL_TL, load_pretrained(job.pretrained_dir, job.model_cfg, k, head_seed=train_cfg.seed)
    settings = {"mode": mode, "task": job.task, "n_classes": k, "transfer_noise": None}
    record = run_record(settings, model, job.model_cfg, train_cfg, job.data_path)
    if job.pretrained_dir is not None:
        record["inputs"] = pretrained_inputs(job.pretrained_dir)
    run = TrainingRun(
        model=model, make_optimizer=functools.partial(digital_optimizer, config=train_cfg), data=data,
        train_cfg=train_cfg, out_dir=job.out_dir, record=record,
        checkpoint=checkpoint_extras(data.classes, job.model_cfg), label=f"{job.task}/{mode}/seed~{train_cfg.seed}",
    )
    return train_and_write(run, job.context)


def finetune_analog(job: AnalogJob) -> dict[str, Any]:
    """c-TTv2 fine-tuning from a converted pre-trained model (``job.init_path``) or from scratch (None).

    The converted model's tiles (device maps, programmed weights) are loaded
    under this run's ``rpu_config`` (its ``fast_lr`` and other compound settings).
    ``job.mode`` names the run (default ``analog_tl`` or ``analog_scratch``).
    """
    init_path, tau = job.init_path, job.tau
    data = load_prepared(job.data_path)
    rpu_config = build_rpu_config(job.analog_cfg)
    check_simulator(job.analog_cfg, rpu_config)
    digital = build_model(job.model_cfg, len(data.classes), seed=job.train_cfg.seed)
    analog = convert(digital, rpu_config, populate=init_path is None)  # a converted model brings its populations
    extra: dict[str, Any] = {}
    if init_path is not None:
        saved = load_checked_model(init_path, init_record_path(init_path))["state_dict"]
        analog.load_state_dict(saved, load_rpu_config=False)
        extra["inputs"] = {"init_model_sha256": recorded_sha256(init_record_path(init_path))}
    mode = job.mode or (ANALOG_SCRATCH if init_path is None else ANALOG_TL)
    settings = {"mode": mode, "task": job.task, "n_classes": len(data.classes), "transfer_noise": tau}
    noise = f"/noise~{fmt_float(tau)}" if tau is not None else ""
    label = f"{job.task}/{mode}{noise}/fast_lr~{fmt_float(rpu_config.device.fast_lr)}/seed~{job.train_cfg.seed}"
    fit = AnalogFit(
        analog=analog, rpu_config=rpu_config, analog_cfg=job.analog_cfg, data=data, settings=settings,
        extra_record=extra, label=label,
    )
    return fit_analog(job, fit)


def finetune_analog_sweep(job: SweepJob) -> dict[str, Any]:
    """One device-sweep point: analog TL on the nominal device with ``job.point``'s fields applied.

    The pre-trained model is converted onto the swept device (transfer noise
    programmed as in :func:`~analog_tl.steps.conversion.convert_pretrained`)
    and fine-tuned with c-TTv2 at ``job.train_cfg.lr``; the run record holds
    the sweep point, its device fields and the realised transfer noise.
    """
    point, train_cfg = job.point, job.train_cfg
    data = load_prepared(job.data_path)
    swept = apply_sweep(job.analog_cfg, point)
    rpu_config = build_rpu_config(swept)
    check_simulator(swept, rpu_config)
    analog, noise = analog_from_pretrained(job.transfer, job.model_cfg, rpu_config, len(data.classes), train_cfg.seed)
    settings = {
        "mode": ANALOG_TL,
        "task": job.task,
        "n_classes": len(data.classes),
        "transfer_noise": job.transfer.tau,
        "sweep": point.name,
        "sweep_value": point.percent,
        "sps_reading": point.sps_reading if point.name == SPS else None,
    }
    extra = {
        "sweep": point.describe(build_device(job.analog_cfg.device)),
        "transfer_noise_layers": noise.to_dict(orient="records"),
        "inputs": pretrained_inputs(job.transfer.pretrained_dir),
    }
    label = f"{job.task}/{point.axis}~{fmt_float(point.percent)}/lr~{fmt_float(train_cfg.lr)}/seed~{train_cfg.seed}"
    fit = AnalogFit(
        analog=analog, rpu_config=rpu_config, analog_cfg=swept, data=data, settings=settings, extra_record=extra,
        label=label,
    )
    return fit_analog(job, fit)

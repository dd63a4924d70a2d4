"""Fine-tune an analog model: record its devices and tiles, choose the simulator that trains it, train and write."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from torch import nn

from analog_tl.analog.parameters import freeze_digital
from analog_tl.analog.rpu import resolve, table_i_view
from analog_tl.config import AnalogConfig, to_dict
from analog_tl.data.prepared import PreparedData
from analog_tl.training.jobs import TrainingJob
from analog_tl.training.records import analog_layout, analog_record, checkpoint_extras, run_record
from analog_tl.training.runner import TrainingRun, train_and_write
from analog_tl.training.simulators import trainable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AnalogFit:
    """An analog model ready to fine-tune and what its run record says beyond the common fields.

    Attributes:
        analog: the aihwkit model (converted, tiles programmed or freshly initialised).
        rpu_config: the aihwkit RPU config ``analog`` was built with.
        analog_cfg: the analog settings it was built from (as recorded; ``simulator`` says what trains it).
        data: the job's prepared data, loaded.
        settings: the mode's ``run.json`` settings (mode, task, classes, transfer noise, ...).
        extra_record: further ``run.json`` entries (inputs' checksums, sweep point, realised transfer noise, ...).
        label: names the run in the log.
    """

    analog: nn.Module
    rpu_config: Any
    analog_cfg: AnalogConfig
    data: PreparedData
    settings: dict[str, Any]
    extra_record: dict[str, Any]
    label: str


def fit_analog(job: TrainingJob, fit: AnalogFit) -> dict[str, Any]:
    """Train ``fit.analog`` with AnalogSGD and write ``job``'s run folder (settings and rpu_config recorded).

    With ``job.train_cfg.freeze_digital`` only the analog tiles train. The
    simulator (``fit.analog_cfg.simulator``) trains either aihwkit's model or the
    fast simulator's copy of it; everything recorded about the devices is read
    from the aihwkit model before training. Returns the final metrics.
    """
    analog, rpu_config, analog_cfg, label = fit.analog, fit.rpu_config, fit.analog_cfg, fit.label
    train_cfg = job.train_cfg
    layout = analog_layout(analog)
    log.info("%s: %d analog layers, %d tiles", label, len(layout), analog.analog_tile_count())
    if train_cfg.freeze_digital:
        log.info("%s: %d digital parameters frozen", label, freeze_digital(analog))
    fast_lr = getattr(rpu_config.device, "fast_lr", None)
    settings = {**fit.settings, "fast_lr": fast_lr, "simulator": analog_cfg.simulator}
    record = {
        **run_record(settings, analog, job.model_cfg, train_cfg, job.data_path),
        "table_i": table_i_view(rpu_config, train_cfg.lr, train_cfg.batch_size),
        "analog_config": to_dict(analog_cfg),
        "analog_layers": layout,
        "rpu_config": resolve(rpu_config),
        **analog_record(analog, analog_cfg),
        **fit.extra_record,
    }
    model, make_optimizer, record["simulator"] = trainable(
        analog, rpu_config, analog_cfg, job.model_cfg, train_cfg, len(fit.data.classes)
    )
    run = TrainingRun(
        model=model, make_optimizer=make_optimizer, data=fit.data, train_cfg=train_cfg, out_dir=job.out_dir,
        record=record, checkpoint=checkpoint_extras(fit.data.classes, job.model_cfg), label=label,
        trains=analog_cfg.simulator,
    )
    return train_and_write(run, job.context)

"""The comparison experiments: analog training algorithms x devices, and which layers are analog.

:func:`check_pairs` tries every configured (algorithm, device) pair on a tiny
analog layer (build, one AnalogSGD step) and records which can be built and
why not; :func:`finetune_compare` is one run of a buildable pair: the
pre-trained model converted (all layers, the backbone only, or the head only)
and fine-tuned with the algorithm at one grid point.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

import torch

from analog_tl.analog.algorithms import build_algorithm_config, compound_fields
from analog_tl.analog.devices import device_summary
from analog_tl.config import AnalogConfig, TrainConfig
from analog_tl.data.prepared import load_prepared
from analog_tl.errors import AnalogConfigError, first_line
from analog_tl.io import write_json
from analog_tl.steps.conversion import analog_from_pretrained
from analog_tl.steps.jobs import CompareJob
from analog_tl.training.analog_fit import AnalogFit, fit_analog
from analog_tl.training.optimizers import analog_optimizer
from analog_tl.training.records import pretrained_inputs
from analog_tl.vocabulary import AIHWKIT, FAST, SIMULATOR_POLICIES, compare_mode, grid_point_name, grid_point_text

log = logging.getLogger(__name__)


def try_pair(algorithm: str, analog_cfg: AnalogConfig, seed: int = 0, fields: dict[str, Any] | None = None
             ) -> dict[str, Any]:
    """Build ``algorithm`` (with a variant's compound ``fields``) on ``analog_cfg.device`` and train a 6->3 analog
    layer one step; what happened.

    ``status`` is ``ok`` (built, and the step ran) or ``fails``, with ``stage``
    (build, layer, step) and aihwkit's message as ``reason``. ``weights_moved``
    says whether the visible weights changed in that one step (the Tiki-Taka
    family moves them only at transfers, so False is expected there).
    """
    from aihwkit.nn import AnalogLinear

    stage, start = "build", time.perf_counter()
    try:
        rpu_config, applied = build_algorithm_config(algorithm, analog_cfg, fields)
        stage = "layer"
        torch.manual_seed(seed)
        layer = AnalogLinear(6, 3, bias=True, rpu_config=rpu_config)
        before = layer.get_weights()[0].clone()
        stage = "step"
        optimizer = analog_optimizer(layer, TrainConfig(lr=0.1))
        x, y = torch.randn(4, 6), torch.randn(4, 3)
        torch.nn.functional.mse_loss(layer(x), y).backward()
        optimizer.step()
        moved = bool((layer.get_weights()[0] - before).abs().max() > 0)
    except AnalogConfigError:
        raise  # a mistake in the config (unknown device, field), not a property of the pair
    except Exception as error:  # noqa: BLE001 (any aihwkit refusal is the recorded result)
        return {"status": "fails", "stage": stage, "reason": first_line(error)}
    return {
        "status": "ok",
        "stage": "",
        "reason": "",
        "weights_moved": moved,
        "has_fast_lr": "fast_lr" in compound_fields(rpu_config),
        "rpu_config_class": applied["rpu_config_class"],
        "compound_class": applied["compound_class"],
        "table_i_applied": sorted(applied["table_i_applied"]),
        "table_i_not_applicable": applied["table_i_not_applicable"],
        "seconds": time.perf_counter() - start,
    }


def check_pairs(algorithms: dict[str, tuple[str, dict[str, Any]]], devices: dict[str, AnalogConfig],
                out: str | Path, pairs: list[tuple[str, str]] | None = None) -> dict[str, Any]:
    """Try every (algorithm, named device) pair of ``pairs`` (default: all) (:func:`try_pair`); write the report
    (JSON) to ``out``.

    ``algorithms`` maps each arm's algorithm name to its aihwkit ``build_config`` name and fixed compound
    fields (a ``compare.variants`` entry; the name itself and none otherwise); ``devices`` maps each name
    of ``compare.devices`` to the analog settings of its runs (its device, and its weight mapping). Each
    device entry also carries its key figures (states, noise, variability).
    """
    wanted = None if pairs is None else {tuple(pair) for pair in pairs}
    report: dict[str, Any] = {"pairs": [], "devices": {}}
    for name, analog_cfg in devices.items():
        device = analog_cfg.device
        try:
            report["devices"][name] = device_summary(device)
        except Exception as error:  # noqa: BLE001 (recorded: e.g. a unit cell has no single-device figures)
            report["devices"][name] = {"device": device.name, "summary_error": f"{type(error).__name__}: {error}"}
        for algorithm, (base, fields) in algorithms.items():
            if wanted is not None and (algorithm, name) not in wanted:
                continue
            result = try_pair(base, analog_cfg, fields=fields)
            log.info("%s on %s: %s %s", algorithm, name, result["status"], result["reason"])
            report["pairs"].append({"algorithm": algorithm, "device": name, **result})
    write_json(out, report)
    return report


def finetune_compare(job: CompareJob) -> dict[str, Any]:
    """One comparison run: analog TL with ``job.algorithm`` at ``job.hyperparameters`` on ``job.analog_cfg.device``.

    Only ``job.layers`` (all, backbone, head) are analog. The simulator follows
    ``job.simulator_policy`` (:func:`simulator_for`); the run records which one ran and why.
    """
    algorithm, hyperparameters, layers, train_cfg = job.algorithm, job.hyperparameters, job.layers, job.train_cfg
    data = load_prepared(job.data_path)
    base = job.base_algorithm or algorithm
    rpu_config, applied = build_algorithm_config(base, job.analog_cfg, {**job.fixed_fields, **hyperparameters})
    simulator, reason = simulator_for(job.simulator_policy, rpu_config)
    analog_cfg = dataclasses.replace(job.analog_cfg, simulator=simulator)
    log.info("%s on %s: simulator %s (%s)", algorithm, job.device_name, simulator, reason)
    analog, noise = analog_from_pretrained(
        job.transfer, job.model_cfg, rpu_config, len(data.classes), train_cfg.seed, layers=layers
    )
    settings = {
        "mode": compare_mode(layers),
        "task": job.task,
        "n_classes": len(data.classes),
        "transfer_noise": job.transfer.tau,
        "algorithm": algorithm,
        "base_algorithm": base,
        "compare_device": job.device_name,
        "analog_layers": layers,
        "hyperparameters": grid_point_text(hyperparameters),
    }
    extra = {
        "algorithm": applied,
        "variant_fields": job.fixed_fields,
        "simulator_choice": {"policy": job.simulator_policy, "simulator": simulator, "reason": reason},
        "transfer_noise_layers": noise.to_dict(orient="records"),
        "inputs": pretrained_inputs(job.transfer.pretrained_dir),
    }
    point = grid_point_name(hyperparameters)  # the run folder's name of the grid point
    label = f"{job.task}/{algorithm}/{job.device_name}/layers~{layers}/{point}/seed~{train_cfg.seed}"
    fit = AnalogFit(
        analog=analog, rpu_config=rpu_config, analog_cfg=analog_cfg, data=data, settings=settings, extra_record=extra,
        label=label,
    )
    return fit_analog(job, fit)


def simulator_for(policy: str, rpu_config: Any) -> tuple[str, str]:
    """The simulator of a comparison run and why: ``fast`` where it simulates ``rpu_config`` exactly (policy auto)."""
    if policy not in SIMULATOR_POLICIES:
        raise ValueError(f"compare.simulator must be one of {tuple(SIMULATOR_POLICIES)}, got {policy!r}")
    if policy == AIHWKIT:
        return AIHWKIT, "compare.simulator is aihwkit"
    from analog_tl.simulator import SimulatorScopeError, check_scope

    try:
        check_scope(rpu_config)
    except SimulatorScopeError as error:
        return AIHWKIT, f"not in the fast simulator's scope: {error}"
    return FAST, "in the fast simulator's scope"


__all__ = ["check_pairs", "finetune_compare", "simulator_for", "try_pair"]

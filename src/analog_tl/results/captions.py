"""The settings line under every figure and report table, from the workflow config."""

from __future__ import annotations

from typing import Any

from analog_tl.vocabulary import AIHWKIT, FAST, SPV, split_axis

SIMULATOR_NAMES = {AIHWKIT: "aihwkit 1.2.0 CPU", FAST: "fast (analog_tl.simulator, aihwkit 1.2.0's CPU step, seeded)"}


def settings_caption(config: dict[str, Any]) -> str:
    """One line with a run's settings (data, model, Table I, device, simulator, seeds) for titles and captions.

    ``config`` is the workflow config with the schema's defaults filled in.
    """
    ft, model, analog = config["finetune"], config["model"], config["analog"]
    backbone = f"Swin '{model['preset']}'" if model["backbone"] == "swin" else f"timm {model['timm_name']}"
    return (
        f"data={config['data']['source']}, {backbone}, {ft['epochs']} fine-tuning epochs, batch {ft['batch_size']}, "
        f"digital SGD lr {ft['digital_lr']}, analog c-TTv2 AnalogSGD lr {ft['analog_lr']}, "
        f"c-TTv2 fast_lr chosen per task from {analog['fast_lrs']} on validation, "
        f"device {analog['device']['name']} with fields {analog['device']['fields']} "
        "(class, preset, states, pulse/write noise, dtod: the device_* and states columns of the tables), "
        f"construction_seed {analog['construction_seed']} (one device population per tile), "
        f"analog simulator {SIMULATOR_NAMES[analog['simulator']]}, "
        f"seeds {ft['seeds']}"
    )


def sweep_caption(config: dict[str, Any], names: list[str]) -> str:
    """The settings line of a device-sweep figure or table: :func:`settings_caption` plus the sweep protocol.

    ``names``: the sweep axes shown (``sps_<reading>``, ``spv``, ``pulse_noise``,
    ``dtod``); only their options are named, so adding an axis changes no other
    axis's caption.
    """
    sweeps = config["sweeps"]
    parts = [
        f"learning rates {sweeps['lrs']} (selected per point on validation error, ties by validation loss)",
        f"{sweeps['epochs'] or config['finetune']['epochs']} fine-tuning epochs per sweep run",
        f"transfer noise tau {sweeps['transfer_noise']}",
    ]
    readings = [reading for reading in (split_axis(n)[1] for n in names) if reading is not None]
    if readings:
        parts.append(f"SpS readings {readings}")
    if SPV in names:
        parts.append(f"subtract_symmetry_point {sweeps['spv_subtract_symmetry_point']}")
    return settings_caption(config) + "; sweep: " + ", ".join(parts)


def compare_caption(config: dict[str, Any]) -> str:
    """The settings line of the comparison's figures and tables: :func:`settings_caption` plus the comparison's."""
    compare = config["compare"]
    epochs = compare["epochs"] or config["finetune"]["epochs"]
    devices = "; ".join(
        f"{n} = {e['name']} {e.get('fields', {})}" + (f" mapping {e['mapping']}" if e.get("mapping") else "")
        for n, e in compare["devices"].items()
    )
    return (
        f"{settings_caption(config)}; comparison: algorithms {compare['algorithms']} (aihwkit build_config, Table I "
        f"where the compound has the field; variants {compare['variants'] or 'none'}), devices {devices}, {epochs} "
        f"epochs, transfer noise tau {compare['transfer_noise']}, grid fast_lr {compare['fast_lrs']} "
        f"{compare['grids'] or ''} chosen per task, algorithm and device on validation, simulator policy "
        f"{compare['simulator']} (each run's simulator in compare_runs.csv)"
    )

"""The analog device: aihwkit device classes and presets by name, and a summary of what each simulates.

``analog.device.name`` names either a pulsed device class of
``aihwkit.simulator.configs.devices`` (e.g. ``SoftBoundsReferenceDevice``, whose
fields start at aihwkit's generic defaults) or a preset of
``aihwkit.simulator.presets.devices`` (e.g. ``ReRamArrayHfO2PresetDevice``, a
soft-bounds fit to the HfO2 ReRAM arrays of Gong, Rasch et al., IEDM 2022);
``analog.device.fields`` are set over the class's or preset's own values.

:func:`device_summary` gives the key figures every table and caption reports:
the number of states ``(w_max - w_min) / dw_min``, pulse (cycle-to-cycle) noise
``dw_min_std`` and write noise ``write_noise_std`` (both in units of ``dw_min``),
the step-size device-to-device spread ``dw_min_dtod`` and the reference spread.
"""

from __future__ import annotations

import copy
import dataclasses
import enum
from typing import Any

from analog_tl.config import DeviceConfig
from analog_tl.errors import AnalogConfigError


def set_fields(target: Any, values: dict[str, Any], where: str) -> None:
    """Set dataclass fields by name; unknown names fail with the list of valid ones."""
    names = {f.name for f in dataclasses.fields(target)}
    for key, value in values.items():
        if key not in names:
            raise AnalogConfigError(
                f"{where}: {type(target).__name__} has no field {key!r}; valid fields: {sorted(names)}"
            )
        current = getattr(target, key)
        if isinstance(current, enum.Enum) and isinstance(value, str):
            try:
                value = type(current)[value] if value in type(current).__members__ else type(current)(value)
            except ValueError as error:
                options = list(type(current).__members__)
                raise AnalogConfigError(f"{where}.{key}: {value!r} is not one of {options}") from error
        setattr(target, key, value)


def device_catalogue() -> dict[str, dict[str, type]]:
    """Selectable device names: ``{"devices": ..., "presets": ..., "unit_cells": ...}`` (name -> class).

    ``unit_cells`` are aihwkit's unit-cell presets (``PCMPresetUnitCell``: two
    one-directional PCM devices with refresh), for devices that need one.
    """
    from aihwkit.simulator.configs import compounds, devices
    from aihwkit.simulator.presets import compounds as preset_compounds
    from aihwkit.simulator.presets import devices as presets

    def members(module: Any, base: type) -> dict[str, type]:
        return {
            n: c for n, c in vars(module).items()
            if isinstance(c, type) and issubclass(c, base) and c.__module__ == module.__name__
        }

    return {
        "devices": members(devices, devices.PulsedDevice),
        "presets": members(presets, devices.PulsedDevice),
        "unit_cells": members(preset_compounds, compounds.UnitCell),
    }


def device_class(name: str) -> tuple[type, bool]:
    """The aihwkit class named ``name`` and whether it is a preset (unit-cell presets included).

    Raises:
        AnalogConfigError: listing every group when no device or preset has that name.
    """
    catalogue = device_catalogue()
    if name in catalogue["devices"]:
        return catalogue["devices"][name], False
    for group in ("presets", "unit_cells"):
        if name in catalogue[group]:
            return catalogue[group][name], True
    raise AnalogConfigError(
        f"analog.device.name: unknown pulsed device {name!r}; device classes: {sorted(catalogue['devices'])}; "
        f"presets: {sorted(catalogue['presets'])}; unit-cell presets: {sorted(catalogue['unit_cells'])}"
    )


def is_unit_cell(device: Any) -> bool:
    """Whether ``device`` is an aihwkit unit cell (several devices per weight) rather than one pulsed device."""
    from aihwkit.simulator.configs.compounds import UnitCell

    return isinstance(device, UnitCell)


def device_factory(device: Any) -> Any:
    """What aihwkit's ``build_config`` takes: a pulsed device as is, a unit cell as a factory of copies.

    ``build_config`` copies a ``PulsedDevice`` itself but calls anything else, so
    a unit cell (``PCMPresetUnitCell``) is passed as a function returning copies
    with the given fields set.
    """
    if not is_unit_cell(device):
        return device

    def make(**fields: Any) -> Any:
        copy_ = copy.deepcopy(device)
        for key, value in fields.items():
            setattr(copy_, key, value)
        return copy_

    return make


def build_device(config: DeviceConfig) -> Any:
    """An aihwkit pulsed device (class or preset ``config.name``) with ``config.fields`` set over its values."""
    cls, _ = device_class(config.name)
    device = cls()
    set_fields(device, config.fields, "analog.device.fields")
    return device


def device_summary(config: DeviceConfig) -> dict[str, Any]:
    """Key figures of the configured device (one flat dict, for tables, captions and ``run.json``).

    ``states`` is ``(w_max - w_min) / dw_min`` (of one device of a unit cell); ``dw_min_std`` and
    ``write_noise_std`` are in units of ``dw_min``; ``dw_min_dtod`` is relative.
    """
    cls, preset = device_class(config.name)
    device = build_device(config)
    unit_cell = ""
    if is_unit_cell(device):  # a unit cell: the figures of its (first) device
        unit_cell = f"{type(device).__name__} of {len(device.unit_cell_devices)} x {type(device.unit_cell_devices[0]).__name__}"
        device, cls = device.unit_cell_devices[0], type(device.unit_cell_devices[0])
    value = lambda key: getattr(device, key, None)  # noqa: E731 (not every device class has every field)
    base = next(c.__name__ for c in cls.__mro__ if c.__module__.endswith("configs.devices"))
    return {
        "device": config.name,
        "device_class": base,
        "unit_cell": unit_cell,
        "device_preset": config.name if preset else "",
        "device_fields": dict(config.fields),
        "w_max": value("w_max"),
        "w_min": value("w_min"),
        "dw_min": value("dw_min"),
        "states": (value("w_max") - value("w_min")) / value("dw_min"),
        "dw_min_std": value("dw_min_std"),
        "dw_min_dtod": value("dw_min_dtod"),
        "dw_min_dtod_log_normal": value("dw_min_dtod_log_normal"),
        "w_max_dtod": value("w_max_dtod"),
        "w_min_dtod": value("w_min_dtod"),
        "up_down": value("up_down"),
        "up_down_dtod": value("up_down_dtod"),
        "write_noise_std": value("write_noise_std"),
        "reference_mean": value("reference_mean"),
        "reference_std": value("reference_std"),
        "subtract_symmetry_point": value("subtract_symmetry_point"),
    }


def describe_device(summary: dict[str, Any]) -> str:
    """One caption line from :func:`device_summary`: class, preset and key fields."""
    name = summary["device_class"] + (f" (preset {summary['device_preset']})" if summary["device_preset"] else "")
    return (
        f"device {name}: {summary['states']:.0f} states (range/dw_min), pulse noise dw_min_std {summary['dw_min_std']:g}, "
        f"dtod dw_min_dtod {summary['dw_min_dtod']:g}, write noise {summary['write_noise_std']:g} dw_min"
    )


def device_caption(fields: dict[str, Any]) -> str:
    """Caption line of the ``analog.device`` config section (``name`` and ``fields``)."""
    return describe_device(device_summary(DeviceConfig(name=fields["name"], fields=dict(fields.get("fields", {})))))

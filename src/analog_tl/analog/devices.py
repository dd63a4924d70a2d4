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

import dataclasses
import enum
from typing import Any

from analog_tl.config import DeviceConfig
from analog_tl.errors import ConfigError


class AnalogConfigError(ConfigError):
    """An analog setting names a device or field that aihwkit does not have."""


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
    """Selectable device names: ``{"devices": {name: class}, "presets": {name: class}}``."""
    from aihwkit.simulator.configs import devices
    from aihwkit.simulator.presets import devices as presets

    def pulsed(module: Any) -> dict[str, type]:
        return {
            n: c for n, c in vars(module).items()
            if isinstance(c, type) and issubclass(c, devices.PulsedDevice) and c.__module__ == module.__name__
        }

    return {"devices": pulsed(devices), "presets": pulsed(presets)}


def device_class(name: str) -> tuple[type, bool]:
    """The aihwkit class named ``name`` and whether it is a preset.

    Raises:
        AnalogConfigError: listing both groups when no device or preset has that name.
    """
    catalogue = device_catalogue()
    if name in catalogue["devices"]:
        return catalogue["devices"][name], False
    if name in catalogue["presets"]:
        return catalogue["presets"][name], True
    raise AnalogConfigError(
        f"analog.device.name: unknown pulsed device {name!r}; device classes: {sorted(catalogue['devices'])}; "
        f"presets: {sorted(catalogue['presets'])}"
    )


def build_device(config: DeviceConfig) -> Any:
    """An aihwkit pulsed device (class or preset ``config.name``) with ``config.fields`` set over its values."""
    cls, _ = device_class(config.name)
    device = cls()
    set_fields(device, config.fields, "analog.device.fields")
    return device


def device_summary(config: DeviceConfig) -> dict[str, Any]:
    """Key figures of the configured device (one flat dict, for tables, captions and ``run.json``).

    ``states`` is ``(w_max - w_min) / dw_min``; ``dw_min_std`` and
    ``write_noise_std`` are in units of ``dw_min``; ``dw_min_dtod`` is relative.
    """
    cls, preset = device_class(config.name)
    device = build_device(config)
    value = lambda key: getattr(device, key, None)  # noqa: E731 (not every device class has every field)
    base = next(c.__name__ for c in cls.__mro__ if c.__module__.endswith("configs.devices"))
    return {
        "device": config.name,
        "device_class": base,
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

"""Device-robustness sweeps: from a percentage to aihwkit device fields, in one place.

The paper sweeps four device properties of the soft-bounds ReRAM device and
states each as a percentage. This module is the only place where such a
percentage ``x`` becomes aihwkit ``SoftBoundsReferenceDevice`` fields (set on
both the fast A and the slow C device of c-TTv2, on top of the configured
nominal device):

==============  ==========================================================================
sweep           device fields for ``x`` percent (``s = x / 100``)
==============  ==========================================================================
``sps``         symmetry point skew; the paper's definition is ambiguous, so the reading
                is a choice (:data:`SPS_READINGS`):
                ``range_skew`` (default): ``w_max = 1 + s``, ``w_min = -1 + s``
                (the skewed range of aihwkit's ``ReRamSBPresetDevice``);
                ``reference_shift``: ``reference_mean = -s`` (the symmetry point moves
                by ``s`` in the visible weight);
                ``asymmetric_range``: ``w_max = 1 + s``, ``w_min = -1``,
                ``up_down = s / (1 + s)``.
``spv``         symmetry point variability, ``x`` % of the weight range 2:
                ``reference_std = 2 s`` (5 % -> 0.10), with
                ``subtract_symmetry_point`` (default True).
``pulse_noise`` pulse update noise (cycle-to-cycle): ``dw_min_std = s``.
``dtod``        mean pulse device-to-device variability: ``dw_min_dtod = s``.
==============  ==========================================================================

The nominal device of the config (``SoftBoundsReferenceDevice`` with aihwkit
defaults ``dw_min_std = dw_min_dtod = 0.3``, ``reference_std = 0``) keeps
every field a sweep does not set. Every run records the fields it used.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from analog_tl.config import AnalogConfig

SPS_READINGS = ("range_skew", "reference_shift", "asymmetric_range")


@dataclass(frozen=True)
class SweepSpec:
    """One device sweep: its axis label and the valid percentages (inclusive unless stated)."""

    name: str
    label: str
    minimum: float
    maximum: float
    exclusive_maximum: bool = False


SWEEPS: dict[str, SweepSpec] = {
    "sps": SweepSpec("sps", "symmetry point skew SpS (%)", 0.0, 100.0, exclusive_maximum=True),
    "spv": SweepSpec("spv", "symmetry point variability SpV (% of weight range 2)", 0.0, 100.0),
    "pulse_noise": SweepSpec("pulse_noise", "pulse update noise dw_min_std (%)", 0.0, 100.0),
    "dtod": SweepSpec("dtod", "mean pulse device-to-device variability dw_min_dtod (%)", 0.0, 100.0),
}


@dataclass(frozen=True)
class SweepPoint:
    """One point of a device sweep.

    Attributes:
        name: sweep name, a key of :data:`SWEEPS`.
        percent: the swept value in percent.
        sps_reading: reading of the symmetry point skew (``sps`` only).
        subtract_symmetry_point: device option used with symmetry point variability (``spv`` only).
    """

    name: str
    percent: float
    sps_reading: str = "range_skew"
    subtract_symmetry_point: bool = True

    def __post_init__(self) -> None:
        check_sweep_value(self.name, self.percent)
        if self.sps_reading not in SPS_READINGS:
            raise ValueError(f"sweeps.sps_reading: {self.sps_reading!r} is not one of {list(SPS_READINGS)}")

    def device_fields(self) -> dict[str, Any]:
        """The aihwkit device fields this point sets (on top of the nominal device)."""
        s = self.percent / 100.0
        if self.name == "sps":
            return {
                "range_skew": {"w_max": 1.0 + s, "w_min": -1.0 + s},
                "reference_shift": {"reference_mean": -s},
                "asymmetric_range": {"w_max": 1.0 + s, "w_min": -1.0, "up_down": s / (1.0 + s)},
            }[self.sps_reading]
        if self.name == "spv":
            return {"reference_std": 2.0 * s, "subtract_symmetry_point": self.subtract_symmetry_point}
        if self.name == "pulse_noise":
            return {"dw_min_std": s}
        return {"dw_min_dtod": s}

    def describe(self) -> dict[str, Any]:
        """The record of this point saved with every run (name, value, reading, fields)."""
        record: dict[str, Any] = {"name": self.name, "percent": self.percent, "label": SWEEPS[self.name].label}
        if self.name == "sps":
            record["sps_reading"] = self.sps_reading
        return {**record, "device_fields": self.device_fields()}


def check_sweep_value(name: str, percent: float) -> None:
    """Fail with the valid range if ``percent`` is not a valid value of sweep ``name``."""
    if name not in SWEEPS:
        raise ValueError(f"unknown device sweep {name!r}; available: {sorted(SWEEPS)}")
    spec = SWEEPS[name]
    above = percent >= spec.maximum if spec.exclusive_maximum else percent > spec.maximum
    if percent < spec.minimum or above:
        bracket = ")" if spec.exclusive_maximum else "]"
        raise ValueError(
            f"sweeps.{name}: {percent} % is outside the valid range [{spec.minimum:g}, {spec.maximum:g}{bracket}"
        )


def apply_sweep(config: AnalogConfig, point: SweepPoint) -> AnalogConfig:
    """``config`` with the device fields of ``point`` set over the nominal ones."""
    device = dataclasses.replace(config.device, fields={**config.device.fields, **point.device_fields()})
    return dataclasses.replace(config, device=device)

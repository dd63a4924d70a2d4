"""Device-robustness sweeps: from a percentage to aihwkit device fields, in one place.

The paper sweeps four device properties of the soft-bounds ReRAM device and
states each as a percentage. This module is the only place where such a
percentage ``x`` (``s = x / 100``) becomes aihwkit device fields, set on both
the fast A and the slow C device of c-TTv2, over the configured nominal device
(an aihwkit class or preset, :mod:`analog_tl.analog.devices`).

Units, decided once: a sweep value is an *absolute* setting of the swept
quantity, not a multiple of the nominal device's value. SpS and SpV are
percentages of the nominal device's weight range: half-range
``r = (w_max - w_min) / 2`` (1 for the default +-1 device), range
``2 r``. Pulse noise and device-to-device variability are aihwkit's own
fields in percent (``dw_min_std`` and ``dw_min_dtod`` are already relative to
``dw_min``), so ``ReRamSBPresetDevice``'s ``dw_min_std`` of 3.75 is 375 %.

==============  ==========================================================================
sweep           device fields for ``x`` percent over a nominal device with
                ``w_max``, ``w_min``, ``reference_mean`` = ``ref``
==============  ==========================================================================
``sps``         symmetry point skew; the paper's definition is ambiguous, so the reading
                is a choice (:data:`~analog_tl.vocabulary.SPS_READINGS`); the realised
                symmetry point is measured per run (:mod:`analog_tl.analog.symmetry`):
                ``range_skew`` (the paper's Eq. 2 through W_max, W_min):
                ``w_max + s r``, ``w_min + s r`` (the skewed range of aihwkit's
                ``ReRamSBPresetDevice``; leaves the soft-bounds symmetry point at 0);
                ``reference_shift``: ``reference_mean = ref - s r`` (the visible symmetry
                point moves by ``+s r``);
                ``asymmetric_range``: ``w_max + s r``, ``w_min`` kept, ``up_down = s / (1 + s)``.
``spv``         symmetry point variability, ``x`` % of the weight range ``2 r``:
                ``reference_std = 2 s r`` (5 % -> 0.10 on +-1), with
                ``subtract_symmetry_point`` (default True).
``pulse_noise`` pulse update noise (cycle-to-cycle): ``dw_min_std = s``.
``dtod``        mean pulse device-to-device variability: ``dw_min_dtod = s``.
==============  ==========================================================================

Every field a sweep does not set keeps the nominal device's value; every run
records the fields it used. The names of the sweeps, their readings and the
workflow's sweep axes are :mod:`analog_tl.vocabulary`'s.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from analog_tl.analog.devices import build_device
from analog_tl.config import AnalogConfig
from analog_tl.vocabulary import DTOD, PULSE_NOISE, SPS, SPS_READINGS, SPV, axis_name

# What each SpS reading (SPS_READINGS) varies (s = x/100, r = half-range), for figure titles and captions.
SPS_READING_TEXT = {
    "range_skew": "w_max + s r, w_min + s r (Eq. 2)",
    "reference_shift": "reference_mean - s r",
    "asymmetric_range": "w_max + s r, up_down = s/(1+s)",
}


@dataclass(frozen=True)
class SweepSpec:
    """One device sweep: its axis label and the valid percentages (inclusive unless stated)."""

    name: str
    label: str
    minimum: float
    maximum: float
    exclusive_maximum: bool = False


# The axis label and valid range of each device sweep (analog_tl.vocabulary.DEVICE_SWEEPS).
SWEEPS: dict[str, SweepSpec] = {
    SPS: SweepSpec(SPS, "symmetry point skew SpS (% of the half-range (w_max - w_min)/2)", 0.0, 100.0,
                   exclusive_maximum=True),
    SPV: SweepSpec(SPV, "symmetry point variability SpV (% of the weight range w_max - w_min)", 0.0, 100.0),
    PULSE_NOISE: SweepSpec(PULSE_NOISE, "pulse update noise dw_min_std (% of dw_min, absolute)", 0.0, 1000.0),
    DTOD: SweepSpec(DTOD, "device-to-device variability dw_min_dtod (% of dw_min, absolute)", 0.0, 1000.0),
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
    sps_reading: str = SPS_READINGS[0]
    subtract_symmetry_point: bool = True

    def __post_init__(self) -> None:
        check_sweep_value(self.name, self.percent)
        if self.sps_reading not in SPS_READINGS:
            raise ValueError(f"sweeps.sps_reading: {self.sps_reading!r} is not one of {list(SPS_READINGS)}")

    @property
    def axis(self) -> str:
        """The workflow's name of this point's sweep axis: ``sps_<reading>`` for SpS, else the sweep name."""
        return axis_name(self.name, self.sps_reading)

    def device_fields(self, nominal: Any | None = None) -> dict[str, Any]:
        """The aihwkit device fields this point sets over ``nominal`` (an aihwkit device; default +-1, reference 0)."""
        s = self.percent / 100.0
        w_max, w_min = (nominal.w_max, nominal.w_min) if nominal is not None else (1.0, -1.0)
        reference = getattr(nominal, "reference_mean", 0.0) if nominal is not None else 0.0
        r = (w_max - w_min) / 2.0
        if self.name == SPS:
            return {
                "range_skew": {"w_max": w_max + s * r, "w_min": w_min + s * r},
                "reference_shift": {"reference_mean": reference - s * r},
                "asymmetric_range": {"w_max": w_max + s * r, "w_min": w_min, "up_down": s / (1.0 + s)},
            }[self.sps_reading]
        if self.name == SPV:
            return {"reference_std": 2.0 * s * r, "subtract_symmetry_point": self.subtract_symmetry_point}
        if self.name == PULSE_NOISE:
            return {"dw_min_std": s}
        return {"dw_min_dtod": s}

    def describe(self, nominal: Any | None = None) -> dict[str, Any]:
        """The record of this point saved with every run (name, value, reading, fields over ``nominal``)."""
        record: dict[str, Any] = {"name": self.name, "percent": self.percent, "label": SWEEPS[self.name].label}
        if self.name == SPS:
            record["sps_reading"] = self.sps_reading
        return {**record, "device_fields": self.device_fields(nominal)}


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
    """``config`` with the device fields of ``point`` set over the nominal ones (class or preset values + fields)."""
    fields = point.device_fields(build_device(config.device))
    device = dataclasses.replace(config.device, fields={**config.device.fields, **fields})
    return dataclasses.replace(config, device=device)

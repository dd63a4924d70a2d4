"""What the simulator simulates, read from an aihwkit ``rpu_config``, and the scope check.

:func:`tile_settings` turns a c-TTv2 or AGAD ``UnitCellRPUConfig`` into plain
dataclasses of float32-exact values (as aihwkit's C++ holds them), after
:func:`check_scope` made sure that every setting is one the simulator computes
exactly: a ``ChoppedTransferCompound`` (c-TTv2) or ``DynamicTransferCompound``
(AGAD) of two ``SoftBoundsReferenceDevice`` on linear layers with digital bias. Anything else fails before training with one
line that names the setting and points to ``analog.simulator: aihwkit``.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from analog_tl.errors import SimulatorScopeError

__all__ = ["CompoundSettings", "DeviceSettings", "IOSettings", "MappingSettings", "SimulatorScopeError", "TileSettings",
           "check_scope", "tile_settings"]


def _f32(value: float) -> float:
    """The float32 value aihwkit's C++ holds for a Python float."""
    return float(np.float32(value))


@dataclass(frozen=True)
class IOSettings:
    """One pass's IO model (forward, backward or the transfer read); resolutions are steps, not fractions."""

    inp_res: float  # DAC step (aihwkit's inp_res * 2 * inp_bound), 0 = no quantisation
    inp_bound: float
    out_res: float  # ADC step
    out_bound: float
    out_noise: float  # std of the additive output noise
    noise_management: bool  # abs-max input scaling
    bound_management: bool  # iterative: halve the input until no output saturates
    bm_test_negative_bound: bool
    max_bm_factor: int
    max_bm_res: float

    @classmethod
    def from_aihwkit(cls, io: Any, backward: bool = False, transfer: bool = False) -> "IOSettings":
        """From an aihwkit ``IOParameters`` (backward and transfer passes have no bound management)."""
        return cls(
            inp_res=_resolution(io.inp_res, io.inp_bound),
            inp_bound=_f32(io.inp_bound),
            out_res=_resolution(io.out_res, io.out_bound),
            out_bound=_f32(io.out_bound) if io.out_bound > 0 else float("inf"),
            out_noise=_f32(io.out_noise),
            noise_management=not transfer and io.noise_management.name == "ABS_MAX",
            bound_management=not (backward or transfer) and io.bound_management.name == "ITERATIVE",
            bm_test_negative_bound=bool(io.bm_test_negative_bound),
            max_bm_factor=int(io.max_bm_factor),
            max_bm_res=_f32(io.max_bm_res),
        )


def _resolution(res: float, bound: float) -> float:
    """aihwkit's ``checkAndSetRes``: a fraction of the range (or 1/levels), times the range 2 * bound, in float32."""
    r = np.float32(max(res, 0.0))
    if r > 1:
        r = np.float32(1.0) / r
    return float(r * np.float32(2.0) * np.float32(bound))


@dataclass(frozen=True)
class DeviceSettings:
    """The per-pulse response of one device role (A or C); per-crosspoint values live in the tile state."""

    dw_min: float
    dw_min_std: float  # cycle-to-cycle noise, relative to the step
    write_noise: float  # std of the write noise in weight units (write_noise_std * dw_min)
    mult_noise: bool

    @classmethod
    def from_aihwkit(cls, device: Any) -> "DeviceSettings":
        """From an aihwkit ``SoftBoundsReferenceDevice``."""
        dw_min = np.float32(device.dw_min)
        return cls(
            dw_min=float(dw_min),
            dw_min_std=_f32(device.dw_min_std),
            write_noise=float(np.float32(device.write_noise_std) * dw_min),
            mult_noise=bool(device.mult_noise),
        )


# The compounds simulated: aihwkit class name -> (the algorithm's ``build_config`` name, its ``enum Algorithm`` code
# in csrc/cttv2.cpp)
COMPOUNDS = {"ChoppedTransferCompound": ("c-ttv2", 0), "DynamicTransferCompound": ("agad", 1)}
ALGORITHM_CODES = dict(COMPOUNDS.values())


@dataclass(frozen=True)
class CompoundSettings:
    """The ``ChoppedTransferCompound`` (c-TTv2) or ``DynamicTransferCompound`` (AGAD) settings the update uses.

    The last three are AGAD's (``DynamicTransferCompound``); c-TTv2 tiles hold aihwkit's defaults there,
    unused. ``in_chop_random`` is True for c-TTv2 (its chopper switches at random).
    """

    fast_lr: float
    desired_bl: int
    auto_scale: bool
    auto_momentum: float
    auto_granularity: float
    buffer_granularity: float
    transfer_every: float
    transfer_lr: float
    momentum: float
    forget_buffer: bool
    in_chop_prob: float
    max_steps: int
    algorithm: str = "c-ttv2"
    gamma: float = 0.0  # residual learning: the visible weight is gamma * A (de-chopped) + C
    in_chop_random: bool = True
    tail_weightening: float = 5.0
    buffer_cap: float = 0.0


@dataclass(frozen=True)
class MappingSettings:
    """aihwkit's weight mapping (``rpu_config.mapping``): weights programmed as W / alpha, outputs times alpha.

    ``weight_scaling_omega`` 0 (aihwkit's default) maps nothing. Otherwise alpha = max |W| / omega per tile
    (per output row if ``columnwise``); forward outputs and backward inputs are multiplied by alpha in
    digital, update gradients divided by alpha times the learning-rate scale, which is 1 / mean(alpha)
    with ``lr_compensation`` (and multiplies the tile's learning rate), else 1.
    """

    weight_scaling_omega: float = 0.0
    columnwise: bool = False
    lr_compensation: bool = False

    @classmethod
    def from_aihwkit(cls, mapping: Any) -> "MappingSettings":
        """From an aihwkit ``MappingParameter``."""
        return cls(float(mapping.weight_scaling_omega or 0.0), bool(mapping.weight_scaling_columnwise),
                   bool(mapping.weight_scaling_lr_compensation))


@dataclass(frozen=True)
class TileSettings:
    """Everything one tile needs besides its state."""

    forward: IOSettings
    backward: IOSettings
    read: IOSettings
    compound: CompoundSettings
    device_a: DeviceSettings
    device_c: DeviceSettings
    max_input_size: int
    max_output_size: int
    mapping: MappingSettings = MappingSettings()

    def kernel_config(self) -> torch.Tensor:
        """The float64 vector the C++ kernel reads (layout: ``enum Cfg`` in ``csrc/cttv2.cpp``)."""
        c, a, s = self.compound, self.device_a, self.device_c
        values = [
            c.fast_lr, c.desired_bl, a.dw_min, s.dw_min, c.auto_momentum, c.auto_granularity, c.buffer_granularity,
            c.transfer_every, c.transfer_lr, c.momentum, float(c.forget_buffer),
            c.in_chop_prob, c.max_steps, self.read.out_noise, self.read.out_res, self.read.out_bound,
            a.dw_min_std, a.write_noise, float(a.mult_noise), s.dw_min_std, s.write_noise, float(s.mult_noise),
            float(c.auto_scale), float(ALGORITHM_CODES[c.algorithm]), float(c.in_chop_random), c.tail_weightening,
            c.buffer_cap, c.gamma,
        ]
        return torch.tensor(values, dtype=torch.float64)

    def as_dict(self) -> dict[str, Any]:
        """Plain dict, for run records."""
        return dataclasses.asdict(self)


def tile_settings(rpu_config: Any) -> TileSettings:
    """The simulator's settings for ``rpu_config`` (scope-checked first)."""
    check_scope(rpu_config)
    compound = rpu_config.device
    devices = compound.unit_cell_devices
    algorithm = COMPOUNDS[type(compound).__name__][0]
    agad = algorithm == "agad"
    return TileSettings(
        forward=IOSettings.from_aihwkit(rpu_config.forward),
        backward=IOSettings.from_aihwkit(rpu_config.backward, backward=True),
        read=IOSettings.from_aihwkit(compound.transfer_forward, transfer=True),
        compound=CompoundSettings(
            fast_lr=_f32(compound.fast_lr),
            desired_bl=int(rpu_config.update.desired_bl),
            auto_scale=bool(compound.auto_scale),
            auto_momentum=_f32(compound.auto_momentum),
            auto_granularity=_f32(compound.auto_granularity),
            buffer_granularity=_f32(compound.buffer_granularity),
            transfer_every=_f32(compound.transfer_every),
            transfer_lr=_f32(compound.transfer_lr),
            momentum=_f32(compound.momentum),
            forget_buffer=bool(compound.forget_buffer),
            in_chop_prob=_f32(compound.in_chop_prob),
            max_steps=int(compound.transfer_update.desired_bl),
            algorithm=algorithm,
            gamma=_gamma(compound),
            in_chop_random=bool(compound.in_chop_random),
            tail_weightening=_f32(compound.tail_weightening) if agad else 5.0,
            buffer_cap=_f32(compound.buffer_cap) if agad else 0.0,
        ),
        device_a=DeviceSettings.from_aihwkit(devices[0]),
        device_c=DeviceSettings.from_aihwkit(devices[1]),
        max_input_size=int(rpu_config.mapping.max_input_size),
        max_output_size=int(rpu_config.mapping.max_output_size),
        mapping=MappingSettings.from_aihwkit(rpu_config.mapping),
    )


# ---------------------------------------------------------------------------------------------------------------
# Scope: every field either handled by the simulator or at the value of the reference configuration.

# Fields the simulator reads (any value); every other field must keep the reference value.
_FREE_COMPOUND = {"construction_seed", "fast_lr", "transfer_lr", "in_chop_prob", "momentum",
                  "forget_buffer", "auto_momentum", "auto_granularity", "buffer_granularity", "unit_cell_devices",
                  "transfer_forward", "transfer_update", "transfer_every_vec", "transfer_lr_vec", "gamma_vec",
                  "in_chop_random", "tail_weightening", "buffer_cap", "gamma"}
# Device fields drawn at construction (aihwkit draws them, the simulator copies the result) or read per pulse.
_FREE_DEVICE = {"construction_seed", "dw_min", "dw_min_dtod", "dw_min_dtod_log_normal", "dw_min_std", "up_down",
                "up_down_dtod", "w_max", "w_max_dtod", "w_min", "w_min_dtod", "enforce_consistency", "mult_noise",
                "write_noise_std", "apply_write_noise_on_set", "slope_up_dtod", "slope_down_dtod", "reference_mean",
                "reference_std", "subtract_symmetry_point", "reset", "reset_dtod", "reset_std",
                "corrupt_devices_prob", "corrupt_devices_range"}
_FREE_IO = {"inp_res", "inp_bound", "out_res", "out_bound", "out_noise", "max_bm_factor", "max_bm_res",
            "bm_test_negative_bound", "nm_thres", "ir_drop_g_ratio", "v_offset_w_min"}
_FREE_UPDATE = {"desired_bl"}
_FREE_MAPPING = {"max_input_size", "max_output_size", "weight_scaling_omega", "weight_scaling_columnwise",
                 "weight_scaling_lr_compensation"}


def _refuse(setting: str, value: Any, why: str = "") -> SimulatorScopeError:
    reason = f" ({why})" if why else ""
    return SimulatorScopeError(
        f"analog.simulator 'fast' does not simulate {setting} = {_show(value)}{reason}; use analog.simulator: aihwkit"
    )


def _show(value: Any) -> str:
    if isinstance(value, enum.Enum):
        return value.name
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return type(value).__name__
    return repr(value)


def _same(a: Any, b: Any) -> bool:
    if dataclasses.is_dataclass(a) and dataclasses.is_dataclass(b):
        return type(a) is type(b) and all(
            _same(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a)
        )
    return a == b


def _check_fields(obj: Any, reference: Any, free: set[str], prefix: str) -> None:
    for field in dataclasses.fields(obj):
        if field.name in free:
            continue
        value, expected = getattr(obj, field.name), getattr(reference, field.name)
        if not _same(value, expected):
            raise _refuse(f"{prefix}.{field.name}", value, f"only {_show(expected)} is simulated")


def _gamma(compound: Any) -> float:
    """The weight of A in the visible weight (aihwkit: ``gamma_vec[0]`` if set, else ``gamma``), float32."""
    return _f32(compound.gamma_vec[0] if compound.gamma_vec else compound.gamma)


def _reference_config(algorithm: str) -> Any:
    from aihwkit.simulator.configs import build_config
    from aihwkit.simulator.configs.devices import SoftBoundsReferenceDevice

    return build_config(algorithm, SoftBoundsReferenceDevice())


def _check_agad(compound: Any, devices: Any) -> None:
    """AGAD's own limits: a chopper period, and one-hot reads that never trigger bound management."""
    if not compound.in_chop_prob > 0:
        raise _refuse("rpu_config.device.in_chop_prob", compound.in_chop_prob, "AGAD needs a chopper period > 0")
    if not 0 <= compound.momentum <= 1:
        raise _refuse("rpu_config.device.momentum", compound.momentum, "0 to 1 are simulated for AGAD")
    read = compound.transfer_forward
    if read.noise_management.name != "NONE" and read.nm_thres != 0:
        raise _refuse("rpu_config.device.transfer_forward.nm_thres", read.nm_thres, "a one-hot read's scale must be 1")
    if read.bound_management.name != "NONE":
        # the read of one column is a one-hot forward pass: bound management acts only if a read saturates
        reach = max(max(abs(d.w_max), abs(d.w_min)) * (1 + 6 * max(d.w_max_dtod, d.w_min_dtod)) for d in devices)
        if reach + 6 * read.out_noise >= read.out_bound:
            raise _refuse("rpu_config.device.transfer_forward.out_bound", read.out_bound,
                          f"a read of A may saturate (device range {reach:.3g}) and trigger bound management")


def check_scope(rpu_config: Any) -> None:
    """Raise :class:`SimulatorScopeError` naming the first setting the simulator does not compute exactly."""
    if type(rpu_config).__name__ != "UnitCellRPUConfig":
        raise _refuse("rpu_config", rpu_config, "a c-TTv2 or AGAD UnitCellRPUConfig is simulated")
    compound = rpu_config.device
    if type(compound).__name__ not in COMPOUNDS:
        raise _refuse("rpu_config.device", compound,
                      "only c-TTv2's ChoppedTransferCompound and AGAD's DynamicTransferCompound are simulated")
    algorithm = COMPOUNDS[type(compound).__name__][0]
    reference = _reference_config(algorithm)
    devices = compound.unit_cell_devices
    if len(devices) != 2:
        raise _refuse("rpu_config.device.unit_cell_devices", f"{len(devices)} devices", "two devices (A, C)")
    from aihwkit.simulator.configs.devices import SoftBoundsReferenceDevice

    for index, device in enumerate(devices):
        if not isinstance(device, SoftBoundsReferenceDevice):  # presets (e.g. ReRamArrayHfO2PresetDevice) are subclasses
            raise _refuse(f"rpu_config.device.unit_cell_devices[{index}]", device,
                          "only SoftBoundsReferenceDevice is simulated")
        _check_fields(device, reference.device.unit_cell_devices[0], _FREE_DEVICE,
                      f"rpu_config.device.unit_cell_devices[{index}]")
    _check_fields(compound, reference.device, _FREE_COMPOUND, "rpu_config.device")
    if algorithm == "agad":
        _check_agad(compound, devices)
    elif not compound.in_chop_random:
        raise _refuse("rpu_config.device.in_chop_random", False, "c-TTv2's chopper switches at random")
    if compound.gamma_vec and (len(compound.gamma_vec) != 2 or compound.gamma_vec[1] != 1):
        raise _refuse("rpu_config.device.gamma_vec", compound.gamma_vec, "[gamma, 1] is simulated")
    if compound.fast_lr <= 0:
        raise _refuse("rpu_config.device.fast_lr", compound.fast_lr, "must be > 0")
    _check_fields(compound.transfer_update, reference.device.transfer_update, set(), "rpu_config.device.transfer_update")
    _check_fields(compound.transfer_forward, reference.device.transfer_forward, _FREE_IO,
                  "rpu_config.device.transfer_forward")
    for name in ("forward", "backward"):
        _check_fields(getattr(rpu_config, name), getattr(reference, name), _FREE_IO, f"rpu_config.{name}")
    if rpu_config.forward.noise_management.name == "ABS_MAX" and rpu_config.forward.inp_bound != 1.0:
        raise _refuse("rpu_config.forward.inp_bound", rpu_config.forward.inp_bound, "abs-max scaling needs 1")
    _check_fields(rpu_config.update, reference.update, _FREE_UPDATE, "rpu_config.update")
    if not 1 <= rpu_config.update.desired_bl <= 8:
        raise _refuse("rpu_config.update.desired_bl", rpu_config.update.desired_bl, "1 to 8 are simulated")
    _check_fields(rpu_config.mapping, reference.mapping, _FREE_MAPPING, "rpu_config.mapping")
    _check_fields(rpu_config.pre_post, reference.pre_post, set(), "rpu_config.pre_post")
    if type(rpu_config.tile_class) is not type(reference.tile_class) or rpu_config.tile_class != reference.tile_class:
        raise _refuse("rpu_config.tile_class", rpu_config.tile_class, "AnalogTile is simulated")

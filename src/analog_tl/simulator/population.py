"""Device populations drawn with torch as aihwkit 1.2.0 draws them, for machines without aihwkit.

aihwkit draws a tile's per-crosspoint device parameters once, when the tile
is built (rpucuda ``PulsedRPUDevice::populate``, then
``SoftBoundsReferenceRPUDevice::populate``). :func:`draw_devices` draws the
same distributions from a seeded torch generator, for every setting that
:func:`~analog_tl.simulator.settings.check_scope` lets through (the others,
e.g. ``adjust_bounds_with_up_down`` or ``perfect_bias``, are held at values
that draw nothing). Per crosspoint, with independent standard normals N and
uniforms U in [0, 1):

* bounds ``max = w_max (1 + w_max_dtod N)``, ``min = w_min (1 + w_min_dtod N)``;
* gain ``g = 1 + dw_min_dtod N`` (or ``exp(dw_min_dtod N)`` when log-normal),
  ``r = up_down_dtod N``; steps ``up = (up_bias + g + r) dw_min``,
  ``down = (down_bias + g - r) dw_min`` with ``up_bias = min(up_down, 0)``,
  ``down_bias = -max(up_down, 0)``;
* ``enforce_consistency``: steps by absolute value; bounds swapped where
  ``min > max``, then ``max = |max|``, ``min = -|min|`` (otherwise both set to
  their midpoint where ``min > max``);
* corrupt devices (probability ``corrupt_devices_prob``): both bounds one
  uniform value within ``+-corrupt_devices_range`` and the bounds, steps 0;
* where ``max > 0 > min``: each bound divided by ``|1 + slope_*_dtod N|``;
* ``reference = reference_mean + reference_std N``, plus, with
  ``subtract_symmetry_point`` and ``max > 0 > min``, the symmetry point
  ``(up - down) / (up / max - down / min)``.

The values are statistically those of aihwkit, not the same numbers (another
generator): ``tests/test_simulator_population.py`` compares them with aihwkit's.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from analog_tl.simulator.convert import tile_key
from analog_tl.simulator.layers import AnalogLinear
from analog_tl.simulator.settings import TileSettings
from analog_tl.simulator.tile import DEVICE_FIELDS, SimTile
from analog_tl.seeds import tile_seed

__all__ = ["DeviceDistribution", "Population", "draw_devices", "fill_devices", "with_drawn_devices"]


@dataclass(frozen=True)
class DeviceDistribution:
    """The device-to-device settings of one aihwkit ``SoftBoundsReferenceDevice`` (aihwkit's field names)."""

    dw_min: float
    dw_min_dtod: float
    dw_min_dtod_log_normal: bool
    up_down: float
    up_down_dtod: float
    w_max: float
    w_max_dtod: float
    w_min: float
    w_min_dtod: float
    enforce_consistency: bool
    slope_up_dtod: float
    slope_down_dtod: float
    reference_mean: float
    reference_std: float
    subtract_symmetry_point: bool
    corrupt_devices_prob: float
    corrupt_devices_range: float

    @classmethod
    def from_aihwkit(cls, device: Any) -> "DeviceDistribution":
        """The fields of an aihwkit device (any object with these attributes)."""
        return cls(**{f.name: getattr(device, f.name) for f in dataclasses.fields(cls)})


@dataclass(frozen=True)
class Population:
    """What a c-TTv2 tile's devices are drawn from: A's (``fast``) and C's (``slow``) distributions."""

    fast: DeviceDistribution
    slow: DeviceDistribution

    @classmethod
    def from_rpu_config(cls, rpu_config: Any) -> "Population":
        """From a c-TTv2 rpu_config the simulator takes (scope-checked first)."""
        from analog_tl.simulator.settings import check_scope

        check_scope(rpu_config)
        fast, slow = rpu_config.device.unit_cell_devices
        return cls(DeviceDistribution.from_aihwkit(fast), DeviceDistribution.from_aihwkit(slow))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Population":
        """Inverse of :meth:`as_dict`."""
        return cls(DeviceDistribution(**data["fast"]), DeviceDistribution(**data["slow"]))

    def as_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-ready)."""
        return dataclasses.asdict(self)


def draw_devices(dist: DeviceDistribution, out_size: int, in_size: int, generator: torch.Generator) -> torch.Tensor:
    """One device population [5, out_size, in_size] float32, planes in ``DEVICE_FIELDS`` order (module docstring).

    Drawn on ``generator``'s device; the same generator state gives the same values.
    """
    shape = (out_size, in_size)

    def normal() -> torch.Tensor:
        return torch.randn(shape, generator=generator, device=generator.device)

    def uniform() -> torch.Tensor:
        return torch.rand(shape, generator=generator, device=generator.device)

    high = dist.w_max * (1 + dist.w_max_dtod * normal())
    low = dist.w_min * (1 + dist.w_min_dtod * normal())
    gain = torch.exp(dist.dw_min_dtod * normal()) if dist.dw_min_dtod_log_normal else 1 + dist.dw_min_dtod * normal()
    r = dist.up_down_dtod * normal()
    up = (min(dist.up_down, 0.0) + gain + r) * dist.dw_min
    down = (-max(dist.up_down, 0.0) + gain - r) * dist.dw_min
    crossed = low > high
    if dist.enforce_consistency:
        up, down = up.abs(), down.abs()
        high, low = torch.where(crossed, low, high).abs(), -torch.where(crossed, high, low).abs()
    else:  # aihwkit "turns off" a device whose bounds cross
        middle = high + (low - high) / 2
        high, low = torch.where(crossed, middle, high), torch.where(crossed, middle, low)
    if dist.corrupt_devices_prob > 0:
        corrupt = dist.corrupt_devices_prob > uniform()
        bound = abs(dist.corrupt_devices_range)
        lowest = torch.clamp(torch.minimum(high, low), min=-bound)
        highest = torch.clamp(torch.maximum(high, low), max=bound)
        stuck = lowest + (highest - lowest) * uniform()
        high, low = torch.where(corrupt, stuck, high), torch.where(corrupt, stuck, low)
        up, down = torch.where(corrupt, 0.0, up), torch.where(corrupt, 0.0, down)
    consistent = (high > 0) & (low < 0)
    # aihwkit: slope = step / bound, times |1 + slope_dtod N|; bound = step / slope
    high = torch.where(consistent, high / (1 + dist.slope_up_dtod * normal()).abs(), high)
    low = torch.where(consistent, low / (1 + dist.slope_down_dtod * normal()).abs(), low)
    reference = dist.reference_mean + dist.reference_std * normal()
    if dist.subtract_symmetry_point:
        symmetry = (up - down) / (up / high - down / low)
        reference = reference + torch.where(consistent, symmetry, 0.0)
    planes = {"dwmin_up": up, "dwmin_down": down, "max_bound": high, "min_bound": low, "reference": reference}
    return torch.stack([planes[name] for name in DEVICE_FIELDS]).float()


@torch.no_grad()
def fill_devices(tile: SimTile, population: Population, seed: int) -> None:
    """Set ``tile.device_fast`` and ``tile.device_slow`` [5, p, n] to a population drawn from ``seed``.

    Drawn where the tile is, with a generator of that device type: a seed gives the same devices on every
    machine of one type (CPU and CUDA generators differ). The paper Swin's 26.5 M crosspoints took 90 s on
    this project's (loaded) 2-core CPU; a GPU draws them in moments.
    """
    generator = torch.Generator(device=tile.device_fast.device).manual_seed(seed)
    p, n = tile.out_size, tile.in_size
    tile.device_fast.copy_(draw_devices(population.fast, p, n, generator))
    tile.device_slow.copy_(draw_devices(population.slow, p, n, generator))


def with_drawn_devices(template: nn.Module, settings: TileSettings, population: Population, seed: int,
                       device: torch.device | str = "cpu") -> nn.Module:
    """``template`` on ``device``, every ``nn.Linear`` on simulator tiles with devices drawn from ``population``.

    For timing where no aihwkit conversion is at hand (a GPU machine; the
    paper Swin's converted bundle is 1.5 GB): each tile gets its own devices,
    drawn from :func:`analog_tl.seeds.tile_seed` (``seed``, layer,
    tile), as the project gives each tile its own population, and its Philox key
    from :func:`~analog_tl.simulator.convert.tile_key`; C is the template's
    weight clipped to C's bounds (relative to its reference), A, H and the
    running maxima start at zero. Not a conversion: no programming noise.
    The devices are drawn on ``device`` (:func:`fill_devices`).
    """
    model = copy.deepcopy(template).to(device)
    names = [name for name, module in model.named_modules() if isinstance(module, nn.Linear)]
    for name in names:
        linear = model.get_submodule(name)
        analog = AnalogLinear(linear.in_features, linear.out_features, linear.bias is not None, settings).to(device)
        # the weight's blocks in analog.tiles' order: input split outer, output split inner
        blocks = [block for columns in torch.split(linear.weight, analog.in_sizes, dim=1)
                  for block in torch.split(columns, analog.out_sizes, dim=0)]
        with torch.no_grad():
            for index, (tile, block) in enumerate(zip(analog.tiles, blocks, strict=True)):
                fill_devices(tile, population, tile_seed(seed, name, index))
                _program(tile, block)
                tile.key.fill_(tile_key(seed, name, index))
            if linear.bias is not None:
                analog.bias.copy_(linear.bias)
        model.set_submodule(name, analog)
    return model


def mapped_weight(tile: SimTile, weight: torch.Tensor) -> torch.Tensor:
    """``weight`` as aihwkit's ``apply_weight_scaling`` maps it into the tile (W / alpha), setting the tile's
    mapping scales alpha = max |W| / omega (per output row if columnwise) and its learning-rate scale."""
    mapping = tile.settings.mapping
    if not tile.mapped:
        return weight
    if mapping.columnwise:
        weight_max, _ = torch.max(weight.abs(), 1, keepdim=True)
    else:
        weight_max = torch.max(weight.abs()).view(1)
    alpha = weight_max / mapping.weight_scaling_omega
    alpha[alpha == 0.0] = 1.0
    tile.mapping_scales.copy_(alpha.flatten())
    tile.mapping_lr_scale.fill_(1.0 / tile.mapping_scales.mean().item() if mapping.lr_compensation else 1.0)
    return weight / alpha


def _program(tile: SimTile, weight: torch.Tensor) -> None:
    """C = ``weight`` (mapped, :func:`mapped_weight`) within C's bounds (the device computes on w + reference);
    the rest of the state zero."""
    weight = mapped_weight(tile, weight.float())
    reference = tile.device_slow[DEVICE_FIELDS.index("reference")]
    low = tile.device_slow[DEVICE_FIELDS.index("min_bound")] - reference
    high = tile.device_slow[DEVICE_FIELDS.index("max_bound")] - reference
    tile.slow.copy_(torch.minimum(torch.maximum(weight.float(), low), high))
    tile.slow_apparent.copy_(tile.slow)
    tile.running_max.zero_()

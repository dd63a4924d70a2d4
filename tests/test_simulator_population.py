"""Device populations drawn with torch (``simulator/population.py``) against aihwkit's, in distribution.

aihwkit and torch draw from different generators, so the populations are
compared statistically: per device role (A, C), per plane of ``DEVICE_FIELDS``
and for the difference of the up and down steps (they share the gain, so a
draw with independent gains has a much wider difference), two samples of
256 x 256 crosspoints each:

* means: ``|z| <= 6``, z the difference over its standard error;
* variances: ``|z| <= 6``, the standard error from each sample's fourth
  central moment (valid for the skewed and heavy-tailed fields too);
* shape: the two-sample Kolmogorov-Smirnov distance ``D <= 3.3 sqrt(2 / n)``
  (asymptotic tail 2e-9).

108 checks at a normal tail of 2e-9 each: a correct draw fails less than
once in 10^6 runs (both sides are seeded, so a run's verdict is fixed). Three
devices: the project's default (Table I, ``AnalogConfig``), aihwkit's HfO2
ReRAM preset (log-normal step spread, reference spread, symmetry point
subtracted) and a skewed soft-bounds device with every drawn option on
(``up_down``, slope spreads, reference mean and spread, symmetry point,
corrupt devices). ``test_a_plausible_mistake_fails`` shows the checks bite:
each of four plausible mistakes in the draw fails.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable

import pytest
import torch
from torch import nn

from analog_tl.config import AnalogConfig, DeviceConfig
from analog_tl.simulator import simulated_layers
from analog_tl.simulator.population import (DeviceDistribution, Population, draw_devices, fill_devices,
                                            with_drawn_devices)
from analog_tl.simulator.tile import DEVICE_FIELDS

SIZE = 256  # crosspoints per side of the compared tiles
Z_MAX, KS_C = 6.0, 3.3
DEVICES = {
    "default": DeviceConfig(),
    "hfo2": DeviceConfig(name="ReRamArrayHfO2PresetDevice", fields={}),
    "skewed": DeviceConfig(fields={"w_max": 1.0, "w_min": -0.8, "up_down": 0.2, "up_down_dtod": 0.05,
                                   "slope_up_dtod": 0.1, "slope_down_dtod": 0.2, "reference_mean": 0.1,
                                   "reference_std": 0.05, "subtract_symmetry_point": True,
                                   "corrupt_devices_prob": 0.05}),
}
Planes = dict[str, torch.Tensor]  # role ("fast", "slow") -> [5, SIZE, SIZE]


def _rpu_config(device: DeviceConfig):
    from analog_tl.analog.rpu import build_rpu_config

    return build_rpu_config(AnalogConfig(device=device, construction_seed=99, simulator="fast"))


@pytest.fixture(scope="module")
def aihwkit_populations() -> dict[str, tuple[Population, Planes]]:
    """Per device: its distributions and the population aihwkit drew for one SIZE x SIZE tile."""
    from aihwkit.simulator.tiles import AnalogTile

    from analog_tl.simulator import SimTile, tile_settings
    from analog_tl.simulator.convert import load_aihwkit_tile

    result = {}
    for name, device in DEVICES.items():
        config = _rpu_config(device)
        sim = SimTile(SIZE, SIZE, tile_settings(config))
        load_aihwkit_tile(sim, AnalogTile(SIZE, SIZE, config))
        result[name] = Population.from_rpu_config(config), {"fast": sim.device_fast, "slow": sim.device_slow}
    return result


def _drawn(population: Population, seed: int = 5) -> Planes:
    generator = torch.Generator().manual_seed(seed)
    return {role: draw_devices(getattr(population, role), SIZE, SIZE, generator) for role in ("fast", "slow")}


def _ks_distance(x: torch.Tensor, y: torch.Tensor) -> float:
    """Two-sample Kolmogorov-Smirnov distance of 1-d samples."""
    x, y = x.sort().values, y.sort().values
    grid = torch.cat([x, y])
    cdf_x = torch.searchsorted(x, grid, right=True) / len(x)
    cdf_y = torch.searchsorted(y, grid, right=True) / len(y)
    return float((cdf_x - cdf_y).abs().max())


def _compare(name: str, x: torch.Tensor, y: torch.Tensor) -> list[str]:
    """What differs between samples ``x`` and ``y`` of one quantity (empty: the same distribution)."""
    x, y = x.double().flatten(), y.double().flatten()
    n, m = len(x), len(y)
    failures = []
    var_x, var_y = x.var(), y.var()
    se_mean = math.sqrt(var_x / n + var_y / m)
    m4_x, m4_y = ((x - x.mean()) ** 4).mean(), ((y - y.mean()) ** 4).mean()
    se_var = math.sqrt(max(m4_x - var_x**2, 0) / n + max(m4_y - var_y**2, 0) / m)
    for what, a, b, se in (("mean", x.mean(), y.mean(), se_mean), ("variance", var_x, var_y, se_var)):
        if (se == 0 and a != b) or (se > 0 and abs(a - b) > Z_MAX * se):
            failures.append(f"{name} {what}: aihwkit {float(a):.6g}, drawn {float(b):.6g} (se {se:.3g})")
    distance, limit = _ks_distance(x, y), KS_C * math.sqrt((n + m) / (n * m))
    if distance > limit:
        failures.append(f"{name} distribution: KS distance {distance:.4f} > {limit:.4f}")
    return failures


def mismatches(aihwkit: Planes, drawn: Planes) -> list[str]:
    """Every statistic in which the drawn population differs from aihwkit's (module docstring)."""
    failures = []
    for role in ("fast", "slow"):
        a, b = aihwkit[role], drawn[role]
        for k, field in enumerate(DEVICE_FIELDS):
            failures += _compare(f"{role} {field}", a[k], b[k])
        failures += _compare(f"{role} dwmin_up - dwmin_down", a[0] - a[1], b[0] - b[1])
    return failures


@pytest.mark.parametrize("device", list(DEVICES))
def test_drawn_populations_match_aihwkits(aihwkit_populations, device: str) -> None:
    population, aihwkit = aihwkit_populations[device]
    assert DEVICE_FIELDS[:2] == ("dwmin_up", "dwmin_down")  # the up - down check reads planes 0 and 1
    assert mismatches(aihwkit, _drawn(population)) == []
    if device != "default":
        assert aihwkit["slow"][4].std() > 0.04  # the reference is drawn (it is 0 on the default device)


def _each(change: Callable[[DeviceDistribution], DeviceDistribution]) -> Callable[[Population], Planes]:
    return lambda population: _drawn(Population(change(population.fast), change(population.slow)))


def _swap_up_down(population: Population) -> Planes:
    return {role: planes[[1, 0, 2, 3, 4]] for role, planes in _drawn(population).items()}


MISTAKES: dict[str, tuple[str, Callable[[Population], Planes]]] = {
    "w_max spread taken from w_min_dtod": ("hfo2", _each(lambda d: dataclasses.replace(d, w_max_dtod=d.w_min_dtod))),
    "reference without the symmetry-point offset": (
        "skewed", _each(lambda d: dataclasses.replace(d, subtract_symmetry_point=False))),
    "up and down steps swapped": ("skewed", _swap_up_down),
    "normal instead of log-normal step spread": (
        "hfo2", _each(lambda d: dataclasses.replace(d, dw_min_dtod_log_normal=False))),
}


@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_a_plausible_mistake_fails(aihwkit_populations, mistake: str) -> None:
    device, draw = MISTAKES[mistake]
    population, aihwkit = aihwkit_populations[device]
    assert mismatches(aihwkit, draw(population)), mistake


def test_a_population_is_plain_data_and_fills_a_tile_from_its_seed(aihwkit_populations) -> None:
    from analog_tl.simulator import SimTile, tile_settings

    population, _ = aihwkit_populations["skewed"]
    assert Population.from_dict(json.loads(json.dumps(population.as_dict()))) == population
    settings = tile_settings(_rpu_config(DEVICES["skewed"]))
    tiles = [SimTile(3, 4, settings) for _ in range(3)]
    for tile, seed in zip(tiles, (1, 1, 2)):
        fill_devices(tile, population, seed)
    assert torch.equal(tiles[0].device_fast, tiles[1].device_fast) and torch.equal(tiles[0].device_slow,
                                                                                   tiles[1].device_slow)
    assert not torch.equal(tiles[0].device_slow, tiles[2].device_slow)
    assert not torch.equal(tiles[0].device_fast, tiles[0].device_slow)  # A and C: independent draws


def test_a_drawn_model_has_a_population_per_tile_and_weights_within_the_bounds() -> None:
    from analog_tl.simulator import tile_settings

    config = _rpu_config(DEVICES["skewed"])
    config.mapping.max_input_size = 4  # 6 inputs -> two tiles of 3
    settings, population = tile_settings(config), Population.from_rpu_config(config)
    torch.manual_seed(1)
    template = nn.Sequential(nn.Linear(6, 3), nn.ReLU(), nn.Linear(3, 2))
    with torch.no_grad():
        template[0].weight.mul_(10.0)  # beyond the bounds: clipped
    model = with_drawn_devices(template, settings, population, seed=0)
    layers = dict(simulated_layers(model))
    assert set(layers) == {"0", "2"} and [t.in_size for t in layers["0"].tiles] == [3, 3]
    tiles = [tile for layer in layers.values() for tile in layer.tiles]
    reference, high, low = (DEVICE_FIELDS.index(f) for f in ("reference", "max_bound", "min_bound"))
    for tile in tiles:
        assert (tile.slow <= tile.device_slow[high] - tile.device_slow[reference]).all()
        assert (tile.slow >= tile.device_slow[low] - tile.device_slow[reference]).all()
        assert torch.equal(tile.slow_apparent, tile.slow) and not tile.fast.any()
    second = layers["0"].tiles[1]
    offset = second.device_slow[reference]
    assert torch.equal(second.slow, template[0].weight[:, 3:].clamp(second.device_slow[low] - offset,
                                                                     second.device_slow[high] - offset))
    assert torch.equal(layers["2"].bias, template[2].bias)
    assert len({int(t.key) for t in tiles}) == 3
    assert not torch.equal(tiles[0].device_slow, tiles[1].device_slow)  # each tile its own population
    again = with_drawn_devices(template, settings, population, seed=0).state_dict()
    assert all(torch.equal(again[k], v) for k, v in model.state_dict().items())
    other = with_drawn_devices(template, settings, population, seed=1).state_dict()
    assert not torch.equal(other["0.tiles.0.device_slow"], model.state_dict()["0.tiles.0.device_slow"])

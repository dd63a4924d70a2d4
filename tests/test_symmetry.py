"""The measured symmetry point: closed form from aihwkit's device parameters, checked against balanced pulsing."""

import pytest
import torch

from analog_tl.analog.rpu import build_rpu_config
from analog_tl.analog.sweeps import SweepPoint, apply_sweep
from analog_tl.analog.symmetry import symmetry_points, tile_symmetry_points
from analog_tl.analog.transfer import convert
from analog_tl.config import AnalogConfig, ModelConfig
from analog_tl.models.factory import build_model


def pulsed_tile(fields: dict, size: int = 24):
    """A single-device soft-bounds tile (no cycle-to-cycle noise) with ``fields`` over +-1."""
    from aihwkit.simulator.configs import SingleRPUConfig
    from aihwkit.simulator.configs.devices import SoftBoundsReferenceDevice
    from aihwkit.simulator.tiles import AnalogTile

    device = SoftBoundsReferenceDevice(**{"w_max": 1.0, "w_min": -1.0, "dw_min_std": 0.0, **fields}, construction_seed=3)
    return AnalogTile(size, size, SingleRPUConfig(device=device))


def settle(tile, steps: int = 300) -> torch.Tensor:
    """Visible weights (out, in) a tile settles at under balanced random up/down pulses (time average)."""
    size = tile.in_size
    tile.set_weights(torch.zeros(tile.out_size, size))
    tile.set_learning_rate(0.05)
    generator = torch.Generator().manual_seed(0)
    settled = torch.zeros(tile.out_size, size)
    for step in range(steps):
        x = torch.sign(torch.randn(8, size, generator=generator))
        d = torch.sign(torch.randn(8, tile.out_size, generator=generator))
        tile.update(x, d)
        if step >= steps // 2:  # time-average after settling removes the random walk around the symmetry point
            settled += tile.get_weights()[0] / (steps - steps // 2)
    return settled


@pytest.mark.parametrize(
    ("fields", "mean"),
    [
        (SweepPoint("sps", 20.0, sps_reading="range_skew").device_fields(), 0.0),  # Eq. 2: no move
        (SweepPoint("sps", 20.0, sps_reading="reference_shift").device_fields(), 0.2),
        (SweepPoint("sps", 20.0, sps_reading="asymmetric_range").device_fields(), 0.1),  # s / 2
        ({**SweepPoint("spv", 10.0).device_fields(), "up_down_dtod": 0.05}, 0.0),
    ],
)
def test_closed_form_matches_balanced_pulsing_device_by_device(fields, mean):
    tile = pulsed_tile(fields)
    closed = tile_symmetry_points(tile.get_hidden_parameters())[None].reshape(tile.out_size, tile.in_size)
    pulsed = settle(tile)
    assert float(closed.mean()) == pytest.approx(mean, abs=0.02)
    assert float(pulsed.mean()) == pytest.approx(float(closed.mean()), abs=0.02)
    assert float((pulsed - closed).abs().median()) < 0.03  # device by device, not only on average
    if float(closed.std()) > 0.05:  # with a real spread, the pulsed points follow the closed form
        assert torch.corrcoef(torch.stack([pulsed.flatten(), closed.flatten()]))[0, 1] > 0.9


def test_symmetry_points_of_a_converted_model_per_device_role():
    swept = apply_sweep(AnalogConfig(), SweepPoint("sps", 20.0, sps_reading="reference_shift"))
    model = convert(build_model(ModelConfig(preset="tiny"), 2, seed=0), build_rpu_config(swept))
    points = symmetry_points(model)
    assert [p.device for p in points] == [0, 1]  # fast A and slow C of c-TTv2
    for p in points:
        assert p.mean == pytest.approx(0.2, abs=0.01) and p.count > 5000
        assert 0.0 < p.std < 0.05  # up_down_dtod 0.01 spreads them a little
    nominal = symmetry_points(convert(build_model(ModelConfig(preset="tiny"), 2, seed=0), build_rpu_config(AnalogConfig())))
    assert all(abs(p.mean) < 0.01 for p in nominal)


def test_measured_symmetry_point_spread_follows_spv():
    # SpV x % of the range 2 -> symmetry points spread with std 2x/100 around 0
    assert float(settle(pulsed_tile(SweepPoint("spv", 0.0).device_fields())).std()) < 0.05
    assert float(settle(pulsed_tile(SweepPoint("spv", 10.0).device_fields())).std()) == pytest.approx(0.20, rel=0.15)

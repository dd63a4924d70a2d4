"""Device sweeps: percentages -> aihwkit device fields, valid ranges (symmetry points: tests/test_symmetry.py)."""

from pathlib import Path

import pytest
import yaml

from analog_tl.analog.rpu import build_rpu_config
from analog_tl.analog.sweeps import SPS_READINGS, SWEEPS, SweepPoint, apply_sweep, check_sweep_value
from analog_tl.config import AnalogConfig
from analog_tl.vocabulary import CONFIG_SCHEMA

SCHEMA = yaml.safe_load((Path(__file__).resolve().parents[1] / CONFIG_SCHEMA).read_text())


def devices(point: SweepPoint) -> list:
    """The fast (A) and slow (C) aihwkit devices of the c-TTv2 config at ``point``."""
    return build_rpu_config(apply_sweep(AnalogConfig(), point)).device.unit_cell_devices


@pytest.mark.parametrize(
    ("reading", "expected"),
    [
        ("range_skew", {"w_max": 1.2, "w_min": -0.8, "reference_mean": 0.0, "up_down": 0.0}),
        ("reference_shift", {"w_max": 1.0, "w_min": -1.0, "reference_mean": -0.2, "up_down": 0.0}),
        ("asymmetric_range", {"w_max": 1.2, "w_min": -1.0, "reference_mean": 0.0, "up_down": 0.2 / 1.2}),
    ],
)
def test_symmetry_point_skew_readings_set_the_device_fields(reading, expected):
    for device in devices(SweepPoint("sps", 20.0, sps_reading=reading)):
        for field, value in expected.items():
            assert getattr(device, field) == pytest.approx(value), (reading, field)
        assert device.dw_min_std == pytest.approx(0.3) and device.dw_min_dtod == pytest.approx(0.3)  # nominal kept


def test_spv_pulse_noise_and_dtod_map_percent_to_their_fields():
    spv = devices(SweepPoint("spv", 5.0))[0]
    assert spv.reference_std == pytest.approx(0.10)  # 5 % of the range 2
    assert spv.subtract_symmetry_point is True
    assert devices(SweepPoint("spv", 5.0, subtract_symmetry_point=False))[1].subtract_symmetry_point is False
    noise = devices(SweepPoint("pulse_noise", 45.0))[1]
    assert noise.dw_min_std == pytest.approx(0.45) and noise.dw_min_dtod == pytest.approx(0.3)
    dtod = devices(SweepPoint("dtod", 70.0))[0]
    assert dtod.dw_min_dtod == pytest.approx(0.70) and dtod.dw_min_std == pytest.approx(0.3)
    for device in (spv, noise, dtod):
        assert (device.w_max, device.w_min) == (1.0, -1.0)


def test_the_sweep_record_names_reading_and_fields():
    record = SweepPoint("sps", 10.0, sps_reading="reference_shift").describe()
    assert record["sps_reading"] == "reference_shift" and record["device_fields"] == {"reference_mean": -0.1}
    assert "sps_reading" not in SweepPoint("dtod", 10.0).describe()


@pytest.mark.parametrize(
    ("name", "value"), [("sps", 100.0), ("sps", -5.0), ("spv", 100.5), ("pulse_noise", -1.0), ("dtod", 1250.0)]
)
def test_values_outside_the_valid_range_fail_with_the_range(name, value):
    with pytest.raises(ValueError, match=rf"sweeps.{name}: .* outside the valid range"):
        SweepPoint(name, value)


def test_unknown_sweep_and_reading_fail_with_the_options():
    with pytest.raises(ValueError, match="unknown device sweep 'skew'"):
        check_sweep_value("skew", 1.0)
    with pytest.raises(ValueError, match="range_skew"):
        SweepPoint("sps", 10.0, sps_reading="range")


def test_schema_ranges_and_options_agree_with_the_library():
    sweeps = SCHEMA["properties"]["sweeps"]["properties"]
    for name, spec in SWEEPS.items():
        items = sweeps[name]["items"]
        assert items["minimum"] == spec.minimum
        assert items.get("exclusiveMaximum" if spec.exclusive_maximum else "maximum") == spec.maximum
    assert tuple(sweeps["sps_readings"]["items"]["enum"]) == SPS_READINGS

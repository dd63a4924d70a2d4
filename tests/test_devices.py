"""Device classes and aihwkit presets by name, fields over preset values, and the device summary."""

import pytest

from analog_tl.analog.devices import AnalogConfigError, build_device, device_caption, device_summary
from analog_tl.analog.rpu import build_rpu_config
from analog_tl.analog.sweeps import SweepPoint, apply_sweep
from analog_tl.config import AnalogConfig, DeviceConfig

HFO2 = DeviceConfig(name="ReRamArrayHfO2PresetDevice", fields={})


def test_presets_are_selectable_with_their_own_values():
    device = build_device(HFO2)
    assert type(device).__name__ == "ReRamArrayHfO2PresetDevice"
    assert device.dw_min == pytest.approx(0.4622) and device.write_noise_std == pytest.approx(0.5841)
    assert device.dw_min_dtod_log_normal is True and device.subtract_symmetry_point is True
    rpu = build_rpu_config(AnalogConfig(device=HFO2))
    assert [type(d).__name__ for d in rpu.device.unit_cell_devices] == ["ReRamArrayHfO2PresetDevice"] * 2


def test_fields_apply_over_the_preset():
    device = build_device(DeviceConfig(name="ReRamSBPresetDevice", fields={"dw_min_std": 0.5}))
    assert device.dw_min_std == 0.5 and (device.w_max, device.w_min) == (1.25, -0.75)  # the rest stays the preset's


def test_unknown_name_lists_classes_and_presets():
    with pytest.raises(AnalogConfigError) as error:
        build_device(DeviceConfig(name="HfO2Device"))
    message = str(error.value)
    assert "device classes: [" in message and "SoftBoundsReferenceDevice" in message
    assert "presets: [" in message and "ReRamArrayHfO2PresetDevice" in message and "PCMPresetDevice" in message


def test_device_summary_counts_states_and_names_the_preset():
    nominal = device_summary(DeviceConfig())
    assert nominal["device_class"] == "SoftBoundsReferenceDevice" and nominal["device_preset"] == ""
    assert nominal["states"] == pytest.approx(2000.0)  # range 2 / dw_min 0.001
    preset = device_summary(HFO2)
    assert preset["device_class"] == "SoftBoundsReferenceDevice" and preset["device_preset"] == HFO2.name
    assert preset["states"] == pytest.approx(2 / 0.4622)
    caption = device_caption({"name": HFO2.name, "fields": {}})
    assert "preset ReRamArrayHfO2PresetDevice" in caption and "4 states" in caption and "write noise 0.5841" in caption


def test_sweeps_are_relative_to_the_nominal_range_of_a_preset():
    """ReRamSBPresetDevice: w_max 1.25, w_min -0.75 (half-range 1), reference 0."""
    sb = AnalogConfig(device=DeviceConfig(name="ReRamSBPresetDevice", fields={}))
    skew = apply_sweep(sb, SweepPoint("sps", 20.0, sps_reading="range_skew")).device.fields
    assert skew["w_max"] == pytest.approx(1.45) and skew["w_min"] == pytest.approx(-0.55)
    half = AnalogConfig(device=DeviceConfig(fields={"w_max": 0.5, "w_min": -0.5}))
    assert apply_sweep(half, SweepPoint("spv", 10.0)).device.fields["reference_std"] == pytest.approx(0.1)
    assert apply_sweep(half, SweepPoint("sps", 10.0, sps_reading="reference_shift")).device.fields == {
        "w_max": 0.5, "w_min": -0.5, "reference_mean": pytest.approx(-0.05)}
    # pulse noise and dtod are absolute: 375 % is the preset's own value, not 3.75 x it
    assert apply_sweep(sb, SweepPoint("pulse_noise", 375.0)).device.fields["dw_min_std"] == pytest.approx(3.75)

"""Table I in the c-TTv2 rpu_config, its resolved record, and the weight transfer noise."""

import pytest
import torch

from analog_tl.analog.rpu import TABLE_I_COMPOUND, AnalogConfigError, build_rpu_config, resolve, table_i_view
from analog_tl.analog.transfer import apply_transfer_noise, convert
from analog_tl.config import AnalogConfig, DeviceConfig, ModelConfig
from analog_tl.models.factory import build_model


def test_table_i_values_are_in_the_rpu_config():
    rpu = build_rpu_config(AnalogConfig())
    compound = rpu.device
    assert type(compound).__name__ == "ChoppedTransferCompound"
    assert compound.transfer_every == 1
    assert compound.auto_granularity == 10000
    assert compound.momentum == 0
    assert compound.auto_scale is True
    assert compound.in_chop_prob == pytest.approx(0.10)
    assert compound.units_in_mbatch is False
    assert compound.forget_buffer is True
    assert compound.auto_momentum == pytest.approx(0.99)
    assert table_i_view(rpu, 0.01, 8) == {"learning_rate": 0.01, "batch_size": 8, **TABLE_I_COMPOUND}


def test_soft_bounds_reference_device_with_explicit_unit_range():
    rpu = build_rpu_config(AnalogConfig())
    for device in rpu.device.unit_cell_devices:  # A (fast) and C (slow)
        assert type(device).__name__ == "SoftBoundsReferenceDevice"
        assert (device.w_max, device.w_min) == (1.0, -1.0)  # not the inherited +-0.6


def test_overrides_reach_the_device_compound_and_mapping():
    config = AnalogConfig(
        device=DeviceConfig(fields={"w_max": 1.0, "w_min": -1.0, "dw_min": 0.01}),
        compound={"fast_lr": 0.5},
        mapping={"max_input_size": 64},
        forward={"out_noise": 0.0},
        construction_seed=7,
    )
    rpu = build_rpu_config(config)
    assert rpu.device.unit_cell_devices[0].dw_min == 0.01
    assert rpu.device.fast_lr == 0.5 and rpu.mapping.max_input_size == 64
    assert rpu.forward.out_noise == 0.0 and rpu.device.construction_seed == 7
    assert rpu.device.auto_granularity == 10000  # Table I stays


def test_resolved_config_records_the_settings_outside_table_i():
    resolved = resolve(build_rpu_config(AnalogConfig()))
    assert resolved["device"]["fast_lr"] == 0.1  # build_config's value, not the dataclass default 1.0
    assert resolved["device"]["transfer_lr"] == 1.0
    assert resolved["mapping"]["max_input_size"] == 512 and resolved["mapping"]["digital_bias"] is True
    assert resolved["update"]["desired_bl"] == 5
    assert resolved["device"]["transfer_update"]["desired_bl"] == 1
    assert resolved["forward"]["out_noise"] == pytest.approx(0.06)
    assert resolved["device"]["unit_cell_devices"][1]["__class__"] == "SoftBoundsReferenceDevice"


def test_unknown_device_and_field_names_fail_with_the_options():
    with pytest.raises(AnalogConfigError, match="unknown pulsed device 'Memristor'.*SoftBoundsReferenceDevice"):
        build_rpu_config(AnalogConfig(device=DeviceConfig(name="Memristor")))
    with pytest.raises(AnalogConfigError, match="has no field 'dw_mim'.*dw_min"):
        build_rpu_config(AnalogConfig(device=DeviceConfig(fields={"dw_mim": 0.1})))
    with pytest.raises(AnalogConfigError, match="analog.compound"):
        build_rpu_config(AnalogConfig(compound={"transfer_evry": 2}))


def _converted(seed=0):
    model = build_model(ModelConfig(preset="tiny"), 2, seed=seed)
    reference = {n: m.weight.detach().clone() for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
    return convert(model, build_rpu_config(AnalogConfig())), reference


def _pooled_std(report):
    n = sum(r.rows * r.cols for r in report)
    return sum(r.realised_std * r.rows * r.cols for r in report) / n


def test_every_linear_layer_is_analog_including_the_head():
    analog, reference = _converted()
    names = [n for n, _ in analog.named_analog_layers()]
    assert names == list(reference) and "head" in names


def test_zero_noise_programs_the_pretrained_weights():
    analog, reference = _converted()
    report = apply_transfer_noise(analog, reference, 0.0, torch.Generator().manual_seed(0))
    # only the few devices whose own bounds (w_max_dtod/w_min_dtod spread) are below |W_pre| clip
    assert _pooled_std(report) < 0.005
    assert all(r.clipped_fraction < 0.01 for r in report)
    assert report[-1].layer == "head" and report[-1].realised_std == 0


def test_small_noise_is_realised_with_the_requested_std():
    analog, reference = _converted()
    report = apply_transfer_noise(analog, reference, 0.05, torch.Generator().manual_seed(0))
    assert _pooled_std(report) == pytest.approx(0.05, rel=0.05)
    assert abs(sum(r.realised_mean for r in report) / len(report)) < 0.01
    assert all(r.clipped_fraction < 0.02 for r in report)


def test_large_noise_is_clipped_by_the_devices_and_measured():
    analog, reference = _converted()
    report = apply_transfer_noise(analog, reference, 1.0, torch.Generator().manual_seed(0))
    assert _pooled_std(report) < 0.8  # bounds ~ +-1 (with device-to-device spread) cut the tails
    assert all(r.clipped_fraction > 0.1 and r.programming_error_std > 0.05 for r in report)


def test_noise_draw_is_seeded():
    draws = []
    for seed in (0, 0, 1):
        analog, reference = _converted()
        apply_transfer_noise(analog, reference, 0.1, torch.Generator().manual_seed(seed))
        draws.append(analog.head.get_weights()[0])
    assert torch.equal(draws[0], draws[1]) and not torch.equal(draws[0], draws[2])


def test_fast_matrix_starts_at_zero_after_programming():
    analog, reference = _converted()
    apply_transfer_noise(analog, reference, 0.1, torch.Generator().manual_seed(0))
    for tile in analog.analog_tiles():
        names = tile.tile.get_hidden_parameter_names()
        hidden = tile.tile.get_hidden_parameters()
        fast = hidden[names.index("hidden_weights_0")]
        assert torch.count_nonzero(fast) == 0


def _device_parameters(construction_seed):
    model = build_model(ModelConfig(preset="tiny"), 2, seed=0)
    analog = convert(model, build_rpu_config(AnalogConfig(construction_seed=construction_seed)))
    tile = next(iter(analog.analog_tiles())).tile
    names, hidden = tile.get_hidden_parameter_names(), tile.get_hidden_parameters()
    return {n: hidden[i] for i, n in enumerate(names) if "bound" in n or "dwmin" in n}


def test_construction_seed_fixes_the_device_to_device_parameters():
    a, b, c = _device_parameters(1), _device_parameters(1), _device_parameters(2)
    assert a and all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a)

"""The comparison's algorithms and devices, checked against aihwkit: what builds, what Table I sets, the selection."""

from __future__ import annotations

import pandas as pd
import pytest

from analog_tl.analog.algorithms import ALGORITHMS, build_algorithm_config, compound_fields
from analog_tl.analog.devices import AnalogConfigError, device_catalogue
from analog_tl.analog.rpu import TABLE_I_COMPOUND
from analog_tl.config import AnalogConfig, DeviceConfig, ModelConfig
from analog_tl.models.factory import build_model, head_name
from analog_tl.results.compare import select_points
from analog_tl.steps.compare import simulator_for, try_pair
from analog_tl.steps.conversion import digital_layers
from analog_tl.vocabulary import FAST_LR_ALGORITHMS, FAST_SIMULATOR_ALGORITHMS

NOMINAL = DeviceConfig("SoftBoundsReferenceDevice", {"w_max": 1.0, "w_min": -1.0})
DEVICES = ["SoftBoundsReferenceDevice", *sorted(device_catalogue()["presets"]), *sorted(device_catalogue()["unit_cells"])]


def _config(device: DeviceConfig = NOMINAL) -> AnalogConfig:
    return AnalogConfig(device=device, construction_seed=1)


def test_the_workflows_fast_lr_algorithms_are_the_compounds_with_fast_lr():
    """The comparison grids fast_lr for exactly the algorithms whose aihwkit compound has the field."""
    with_fast_lr = {a for a in ALGORITHMS if "fast_lr" in compound_fields(build_algorithm_config(a, _config())[0])}
    assert set(FAST_LR_ALGORITHMS) == with_fast_lr == {"tiki-taka", "ttv2", "c-ttv2", "agad"}


def test_table_i_is_set_wherever_the_compound_has_the_field_but_ttv2_keeps_no_choppers():
    for algorithm in ALGORITHMS:
        rpu_config, applied = build_algorithm_config(algorithm, _config())
        fields = compound_fields(rpu_config)
        for key, value in applied["table_i_applied"].items():
            assert getattr(rpu_config.device, key) == value, (algorithm, key)
        assert set(applied["table_i_applied"]) | set(applied["table_i_not_applicable"]) == set(TABLE_I_COMPOUND)
        assert not set(applied["table_i_not_applicable"]) & (fields - {"in_chop_prob"}), algorithm
    ttv2, applied = build_algorithm_config("ttv2", _config())
    assert ttv2.device.in_chop_prob == 0.0 and "in_chop_prob" in applied["table_i_not_applicable"]
    cttv2, _ = build_algorithm_config("c-ttv2", _config())
    assert cttv2.device.in_chop_prob == 0.1 and cttv2.device.auto_granularity == 10000.0
    assert type(build_algorithm_config("agad", _config())[0].device).__name__ == "DynamicTransferCompound"


def test_grid_points_are_set_and_unknown_fields_or_algorithms_fail_with_their_names():
    rpu_config, applied = build_algorithm_config("agad", _config(), {"fast_lr": 0.5})
    assert rpu_config.device.fast_lr == 0.5 and applied["hyperparameters"] == {"fast_lr": 0.5}
    with pytest.raises(AnalogConfigError, match="has no field 'fast_lr'"):
        build_algorithm_config("sgd", _config(), {"fast_lr": 0.5})
    with pytest.raises(AnalogConfigError, match="unknown algorithm 'ttv5'"):
        build_algorithm_config("ttv5", _config())


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("algorithm", list(ALGORITHMS))
def test_every_algorithm_and_device_builds_and_trains_one_step_or_says_why(algorithm, device):
    fields = NOMINAL.fields if device == "SoftBoundsReferenceDevice" else {}
    result = try_pair(algorithm, _config(DeviceConfig(device, fields)))
    assert result["status"] in {"ok", "fails"}
    if result["status"] != "ok":
        assert result["reason"], result  # a recorded reason, never a silent gap
    if device in {"SoftBoundsReferenceDevice", "ReRamArrayHfO2PresetDevice"}:
        assert result["status"] == "ok", result  # the default config's pairs


def test_the_fast_simulator_takes_only_the_runs_it_simulates():
    for algorithm in ALGORITHMS:
        rpu_config, _ = build_algorithm_config(algorithm, _config())
        simulator, reason = simulator_for("auto", rpu_config)
        if algorithm in FAST_SIMULATOR_ALGORITHMS:
            assert (simulator, reason) == ("fast", "in the fast simulator's scope"), algorithm
        else:
            assert simulator == "aihwkit" and "not in the fast simulator's scope" in reason, algorithm
    cttv2, _ = build_algorithm_config("c-ttv2", _config())
    assert simulator_for("aihwkit", cttv2)[0] == "aihwkit"
    agad, _ = build_algorithm_config("agad", _config(DeviceConfig("SoftBoundsReferenceDevice", {"w_max": 30.0})))
    simulator, reason = simulator_for("auto", agad)  # its reads of A could saturate the transfer's ADC
    assert simulator == "aihwkit" and "transfer_forward.out_bound" in reason


def test_the_analog_layer_ablations_keep_the_right_layers_digital():
    model = build_model(ModelConfig(preset="tiny"), 2, seed=0)
    linear = [n for n, m in model.named_modules() if m.__class__.__name__ == "Linear"]
    head = head_name(model)
    assert digital_layers(model, "all") == []
    assert digital_layers(model, "backbone") == [head]
    assert sorted(digital_layers(model, "head")) == sorted(set(linear) - {head}) and len(linear) > 2


def test_the_grid_point_is_chosen_on_mean_validation_error_never_on_test_error():
    arm = {"task": "5class", "algorithm": "agad", "compare_device": "nominal", "analog_layers": "all"}
    rows = [
        {**arm, "hyperparameters": "fast_lr=0.1", "seed": 0, "best_val_error": 0.40, "test_error_at_best_val": 0.10},
        {**arm, "hyperparameters": "fast_lr=0.1", "seed": 1, "best_val_error": 0.50, "test_error_at_best_val": 0.10},
        {**arm, "hyperparameters": "fast_lr=1.0", "seed": 0, "best_val_error": 0.42, "test_error_at_best_val": 0.90},
        {**arm, "hyperparameters": "fast_lr=1.0", "seed": 1, "best_val_error": 0.44, "test_error_at_best_val": 0.90},
        # a tie between two points of another arm: the lower validation loss wins, then the first in sorted order
        {**arm, "compare_device": "hfo2", "hyperparameters": "fast_lr=0.1", "seed": 0, "best_val_error": 0.3,
         "best_val_loss": 0.9, "test_error_at_best_val": 0.5},
        {**arm, "compare_device": "hfo2", "hyperparameters": "fast_lr=1.0", "seed": 0, "best_val_error": 0.3,
         "best_val_loss": 0.8, "test_error_at_best_val": 0.6},
        {**arm, "compare_device": "hfo2x", "hyperparameters": "fast_lr=0.1", "seed": 0, "best_val_error": 0.3,
         "best_val_loss": 0.8, "test_error_at_best_val": 0.5},
        {**arm, "compare_device": "hfo2x", "hyperparameters": "fast_lr=1.0", "seed": 0, "best_val_error": 0.3,
         "best_val_loss": 0.8, "test_error_at_best_val": 0.1},
    ]
    table = select_points(pd.DataFrame(rows))
    chosen = table[table.selected].groupby("compare_device").hyperparameters.unique()
    assert list(chosen["nominal"]) == ["fast_lr=1.0"]  # mean val 0.43 < 0.45, despite its worse test error
    assert list(chosen["hfo2"]) == ["fast_lr=1.0"]  # tied validation error, lower validation loss
    assert list(chosen["hfo2x"]) == ["fast_lr=0.1"]  # tied on both: the first point
    assert table[table.selected].groupby("compare_device").size().to_dict() == {"hfo2": 1, "hfo2x": 1, "nominal": 2}


def test_equal_validation_error_counts_tie_and_the_last_tie_break_compares_numbers():
    """(1, 1, 7) and (3, 3, 3) errors of 100 average to 0.030000000000000002 and 0.03 in floating point: a tie the
    validation loss decides; of points tied on both, 2.0 comes before 10.0 (text order would put 10.0 first)."""
    arm = {"task": "5class", "algorithm": "agad", "compare_device": "nominal", "analog_layers": "all",
           "test_error_at_best_val": 0.5}
    rows = [{**arm, "hyperparameters": "fast_lr=0.1", "seed": s, "best_val_error": k / 100, "best_val_loss": 0.7}
            for s, k in enumerate((1, 1, 7))]
    rows += [{**arm, "hyperparameters": "fast_lr=1.0", "seed": s, "best_val_error": 3 / 100, "best_val_loss": 0.9}
             for s in range(3)]
    rows += [{**arm, "compare_device": "hfo2", "hyperparameters": f"fast_lr={v!r}", "seed": 0, "best_val_error": 0.3,
              "best_val_loss": 0.8} for v in (10.0, 2.0)]
    table = select_points(pd.DataFrame(rows))
    chosen = table[table.selected].groupby("compare_device").hyperparameters.unique()
    assert list(chosen["nominal"]) == ["fast_lr=0.1"]  # lower validation loss, not a float's last bit
    assert list(chosen["hfo2"]) == ["fast_lr=2.0"]


def test_the_layer_figure_shows_the_ablation_device_only():
    from analog_tl.results.compare import plot_ablation

    base = {"task": "5class", "algorithm": "c-ttv2", "test_error_min": 0.0, "test_error_max": 1.0}
    summary = pd.DataFrame([
        {**base, "compare_device": "nominal", "analog_layers": "all", "test_error_mean": 0.30},
        {**base, "compare_device": "nominal", "analog_layers": "backbone", "test_error_mean": 0.40},
        {**base, "compare_device": "nominal", "analog_layers": "head", "test_error_mean": 0.50},
        {**base, "compare_device": "hfo2", "analog_layers": "all", "test_error_mean": 0.90},  # not ablated
    ])
    runs = pd.DataFrame([{"task": "5class", "mode": "digital_tl", "test_error_selected": 0.2}])
    figure = plot_ablation(summary, runs, "caption")
    heights = [round(bar.get_height(), 6) for bar in figure.axes[0].patches]
    assert heights == [30.0, 40.0, 50.0]

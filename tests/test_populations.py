"""One device-to-device population per tile: different maps per layer and tile, reproducible, right statistics."""

import pytest
import torch
from torch import nn

from analog_tl.analog.populations import population_seeds
from analog_tl.seeds import tile_seed
from analog_tl.analog.rpu import build_rpu_config
from analog_tl.analog.transfer import convert
from analog_tl.config import AnalogConfig, ModelConfig
from analog_tl.models.factory import build_model

MAPS = ("dwmin_up_0", "max_bound_0", "dwmin_up_1", "max_bound_1", "reference_0", "min_bound_1")
SPLIT = AnalogConfig(mapping={"max_input_size": 8, "max_output_size": 8})


def three_layers() -> nn.Module:
    """Two equal (8, 8) layers and one (8, 16) layer that splits into two (8, 8) tiles."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 8), nn.Linear(8, 8), nn.Linear(16, 8))


def tile_maps(model: nn.Module) -> list[dict[str, torch.Tensor]]:
    """Hidden parameters of every tile, in layer and tile order."""
    return [t.get_hidden_parameters() for _, layer in model.named_analog_layers() for t in layer.analog_tiles()]


def test_equal_layers_and_the_tiles_of_a_split_layer_get_different_maps():
    maps = tile_maps(convert(three_layers(), build_rpu_config(SPLIT)))
    assert len(maps) == 4  # 1 + 1 + 2 tiles
    for i in range(4):
        for j in range(i + 1, 4):
            for name in ("dwmin_up_0", "max_bound_1"):
                assert not torch.allclose(maps[i][name], maps[j][name]), (i, j, name)


def test_the_same_config_gives_the_same_maps_twice():
    first = tile_maps(convert(three_layers(), build_rpu_config(SPLIT)))
    second = tile_maps(convert(three_layers(), build_rpu_config(SPLIT)))
    for a, b in zip(first, second):
        for name in MAPS:
            assert torch.equal(a[name], b[name]), name


def test_each_tile_carries_the_population_of_its_recorded_seed():
    """The map of tile k equals what aihwkit builds for a lone tile with the recorded seed (not e.g. the compound's)."""
    from aihwkit.nn.conversion import convert_to_analog

    config = build_rpu_config(SPLIT)
    model = convert(three_layers(), config)
    seeds = population_seeds(model, SPLIT.construction_seed)
    assert [(s.layer, s.tile) for s in seeds] == [("0", 0), ("1", 0), ("2", 0), ("2", 1)]
    assert seeds[3].seed == tile_seed(1, "2", 1) and len({s.seed for s in seeds}) == 4
    for entry, maps in zip(seeds, tile_maps(model)):
        lone = build_rpu_config(AnalogConfig(construction_seed=entry.seed))
        reference = tile_maps(convert_to_analog(nn.Sequential(nn.Linear(8, 8)), lone))[0]
        for name in MAPS:
            assert torch.equal(maps[name], reference[name]), (entry, name)


def test_weights_are_programmed_after_the_new_population():
    model = three_layers()
    weights = model[2].weight.detach().clone()
    analog = convert(model, build_rpu_config(SPLIT))
    programmed = analog[2].get_weights()[0]
    inside = torch.cat([t.get_hidden_parameters()["max_bound_1"] for t in analog[2].analog_tiles()], dim=1) > weights.abs()
    inside &= torch.cat([t.get_hidden_parameters()["min_bound_1"] for t in analog[2].analog_tiles()], dim=1) < -weights.abs()
    assert inside.float().mean() > 0.5  # most devices do not clip these small weights
    assert torch.equal(programmed[inside], weights[inside])


def test_construction_seed_zero_keeps_aihwkits_clock_seeded_populations():
    model = convert(three_layers(), build_rpu_config(AnalogConfig(construction_seed=0)))
    assert population_seeds(model, 0) == []


def test_pooled_step_size_spread_over_a_small_swin_matches_dw_min_dtod():
    model = convert(build_model(ModelConfig(preset="small"), 2, seed=0), build_rpu_config(AnalogConfig()))
    steps = torch.cat([m["dwmin_up_1"].flatten() for m in tile_maps(model)]).double()
    n = steps.numel()
    assert n > 100_000
    relative = float(steps.std() / steps.mean())
    # dw_min_dtod 0.3 plus up_down_dtod 0.01 in quadrature; the std of a sample std is about 0.3 / sqrt(2 n)
    assert relative == pytest.approx((0.3**2 + 0.01**2) ** 0.5, abs=6 * 0.3 / (2 * n) ** 0.5 + 1e-3)
    assert float(steps.mean()) == pytest.approx(1e-3, rel=0.01)  # dw_min


def test_a_loaded_converted_model_keeps_its_per_tile_populations():
    """Fine-tuning builds the model without drawing populations and loads the converted tiles (their maps)."""
    config = build_rpu_config(SPLIT)
    saved = convert(three_layers(), config).state_dict()
    loaded = convert(three_layers(), config, populate=False)
    loaded.load_state_dict(saved, load_rpu_config=False)
    reference = tile_maps(convert(three_layers(), config))
    for a, b in zip(tile_maps(loaded), reference):
        for name in (*MAPS, "hidden_weights_1"):
            assert torch.equal(a[name], b[name]), name
    assert not torch.equal(tile_maps(loaded)[0]["dwmin_up_0"], tile_maps(loaded)[1]["dwmin_up_0"])

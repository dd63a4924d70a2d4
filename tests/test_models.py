"""The compact Swin (paper parameter counts), timm backbones and the head swap."""

import pytest
import torch

from analog_tl.config import ModelConfig
from analog_tl.models.factory import SWIN_PRESETS, build_model, count_linear_layernorm_parameters, swap_head, swin_spec
from analog_tl.models.swin import CompactSwin, SwinSpec


@pytest.mark.parametrize("classes, expected", [(2, 26_591_906), (5, 26_594_213)])
def test_paper_preset_has_the_papers_parameter_count(classes, expected):
    model = build_model(ModelConfig(preset="paper"), classes, seed=0)
    assert count_linear_layernorm_parameters(model) == expected
    assert sum(isinstance(m, torch.nn.Linear) for m in model.modules()) == 53


def test_paper_preset_token_grid_per_stage():
    model = build_model(ModelConfig(preset="paper"), 2, seed=0)
    x = torch.randn(1, 3, 32, 32)
    sizes = []
    for stage in model.stages:
        x = stage(x)
        sizes.append(tuple(x.shape[1:]))
    assert sizes == [(96, 16, 16), (192, 8, 8), (384, 4, 4), (768, 4, 4)]


@pytest.mark.parametrize("preset", sorted(SWIN_PRESETS))
def test_presets_produce_logits(preset):
    model = build_model(ModelConfig(preset=preset), 5, seed=0)
    assert model(torch.randn(3, 3, 32, 32)).shape == (3, 5)


def test_overrides_change_the_architecture():
    spec = swin_spec(ModelConfig(preset="small", swin_overrides={"hidden_dim": 8, "depths": [2, 4]}))
    assert spec.hidden_dim == 8 and spec.depths == (2, 4)
    assert count_linear_layernorm_parameters(CompactSwin(spec, 2)) < count_linear_layernorm_parameters(
        CompactSwin(SWIN_PRESETS["small"], 2)
    )


def test_odd_depth_is_rejected():
    with pytest.raises(ValueError, match="even"):
        SwinSpec(depths=(3,), heads=(2,), downscaling_factors=(4,))


def test_unknown_preset_names_the_available_ones():
    with pytest.raises(ValueError, match="available: \\['paper', 'small', 'tiny'\\]"):
        build_model(ModelConfig(preset="huge"), 2, seed=0)


def test_same_seed_same_initial_weights_and_another_seed_other_weights():
    """The seed alone decides the initial weights: equal for one seed, different in every random tensor for another
    (a model that ignored its seed, or drew only some tensors from it, fails)."""
    torch.manual_seed(123)  # the global generator must not matter
    a = build_model(ModelConfig(preset="tiny"), 2, seed=3)
    torch.manual_seed(456)
    b, c = build_model(ModelConfig(preset="tiny"), 2, seed=3), build_model(ModelConfig(preset="tiny"), 2, seed=4)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    random = [key for key, value in a.state_dict().items() if value.float().std() > 0 and value.dtype.is_floating_point]
    assert random, "no randomly initialised tensor"
    assert [key for key in random if torch.equal(a.state_dict()[key], c.state_dict()[key])] == []


def test_shifted_windows_do_not_mix_wrapped_tokens():
    """With the masks, a change in one corner token leaves the far (wrapped-around) tokens' output alone."""
    from analog_tl.models.swin import WindowAttention

    torch.manual_seed(0)
    attention = WindowAttention(dim=8, heads=2, head_dim=4, window=4, shifted=True).eval()
    x = torch.randn(1, 8, 8, 8)
    y = x.clone()
    y[0, 0, 0] += 5.0
    delta = (attention(x) - attention(y)).abs().sum(-1)[0]
    # token (0, 0) is rolled to the bottom-right window corner; the masks keep it apart
    # from tokens that wrapped there from the opposite side, e.g. (0, 7) and (7, 7) stay unchanged
    assert delta[0, 7] == 0 and delta[7, 7] == 0 and delta[7, 0] == 0
    assert delta[0, 1] > 0


def test_head_swap_keeps_the_backbone_and_resets_the_head():
    model = build_model(ModelConfig(preset="tiny"), 10, seed=0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    swap_head(model, 5, seed=1)
    after = model.state_dict()
    assert after["head.weight"].shape == (5, model.spec.num_features)
    for key, value in before.items():
        if not key.startswith("head."):
            assert torch.equal(value, after[key]), key
    again = swap_head(build_model(ModelConfig(preset="tiny"), 10, seed=0), 5, seed=1)
    assert torch.equal(again.head.weight, after["head.weight"])  # the new head is seeded


def test_timm_backbone_by_name_with_head_reset():
    config = ModelConfig(backbone="timm", timm_name="test_vit", timm_kwargs={"img_size": 32})
    model = build_model(config, 10, seed=0)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    swap_head(model, 2, seed=0)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 2)
    changed = [k for k, v in model.state_dict().items() if k not in before or not torch.equal(v, before[k])]
    assert changed and all(k.startswith("head.") for k in changed)

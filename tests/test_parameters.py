"""Analog and digital parameter counts, freezing the digital parameters, and transfer noise on the head."""

import pytest
import torch

from analog_tl.analog.parameters import freeze_digital, parameter_counts
from analog_tl.analog.rpu import build_rpu_config
from analog_tl.analog.transfer import apply_transfer_noise, convert
from analog_tl.config import AnalogConfig, ModelConfig, TrainConfig
from analog_tl.models.factory import build_model, head_name
from analog_tl.training.loop import fit
from analog_tl.training.optimizers import analog_optimizer


def tiny_analog():
    return convert(build_model(ModelConfig(preset="tiny"), 2, seed=0), build_rpu_config(AnalogConfig()))


def test_counts_split_tile_weights_from_digital_parameters():
    digital = build_model(ModelConfig(preset="tiny"), 2, seed=0)
    linear = sum(m.weight.numel() for m in digital.modules() if isinstance(m, torch.nn.Linear))
    total = sum(p.numel() for p in digital.parameters())
    layernorm = sum(p.numel() for m in digital.modules() if isinstance(m, torch.nn.LayerNorm) for p in m.parameters())
    weights = sum(m.weight.numel() for m in digital.modules() if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d)))
    biases = sum(m.bias.numel() for m in digital.modules()
                 if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d)) and m.bias is not None)
    counts = parameter_counts(digital)
    assert {k: v for k, v in counts.items() if k != "digital_trained_by_kind"} == {
        "analog_weights": 0, "digital_trained": total, "digital_frozen": 0}
    by_kind = counts["digital_trained_by_kind"]
    assert (by_kind["layernorm"], by_kind["weight"], by_kind["bias"]) == (layernorm, weights, biases) and layernorm > 0
    assert sum(by_kind.values()) == total  # the rest: Swin's own tensors (relative-position tables), counted by name
    counts = parameter_counts(tiny_analog())
    assert counts["analog_weights"] == linear and counts["digital_trained"] == total - linear
    kinds = counts["digital_trained_by_kind"]
    assert kinds["layernorm"] > 0 and kinds["bias"] > 0 and sum(kinds.values()) == total - linear


def test_frozen_digital_parameters_do_not_move_while_the_tiles_train(stripes):
    model = tiny_analog()
    assert freeze_digital(model) == parameter_counts(model)["digital_frozen"] > 0
    digital = {n: p.detach().clone() for n, p in model.named_parameters() if type(p).__name__ != "AnalogContext"}
    weights = [layer.get_weights()[0].clone() for _, layer in model.named_analog_layers()]
    config = TrainConfig(epochs=1, batch_size=8, lr=0.05, freeze_digital=True)
    fit(model, lambda m: analog_optimizer(m, config), stripes, config, torch.device("cpu"), "frozen")
    for name, parameter in model.named_parameters():
        if name in digital:
            assert torch.equal(parameter.detach(), digital[name]), name
    moved = [not torch.equal(layer.get_weights()[0], w) for (_, layer), w in zip(model.named_analog_layers(), weights)]
    assert any(moved)
    assert parameter_counts(model)["digital_trained"] == 0


def test_the_head_can_be_left_without_transfer_noise():
    digital = build_model(ModelConfig(preset="tiny"), 2, seed=0)
    reference = {n: m.weight.detach().clone() for n, m in digital.named_modules() if isinstance(m, torch.nn.Linear)}
    head = head_name(digital)
    assert head == "head"
    model = convert(digital, build_rpu_config(AnalogConfig()))
    with_head = {r.layer: r for r in apply_transfer_noise(model, reference, 0.1, torch.Generator().manual_seed(0))}
    without = {r.layer: r for r in apply_transfer_noise(model, reference, 0.1, torch.Generator().manual_seed(0),
                                                         frozenset({head}))}
    assert with_head[head].realised_std == pytest.approx(0.1, rel=0.5) and without[head].realised_std < 1e-6
    assert without[head].tau == 0.0
    other = next(name for name in with_head if name != head)
    assert without[other].realised_std == pytest.approx(with_head[other].realised_std, rel=0.05)  # same draw elsewhere

"""Digital-to-analog conversion and the weight transfer noise ``W = W_pre + tau N(0, 1)``.

The noise is drawn once, before fine-tuning, in weight units (the paper's
Eq. 1), for every analog layer's weight matrix; biases stay digital
(``digital_bias=True``) and receive no noise. Programming the noisy weights
clips each device to its own bounds, so the realised noise is measured from
the analog model after programming, not assumed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from analog_tl.analog.populations import reseed_tiles


@dataclass
class LayerNoise:
    """Realised transfer noise of one analog layer (weights only).

    ``realised_std`` is the std of ``W_analog - W_pre``; ``programming_error_std``
    the std of ``W_analog - (W_pre + tau N)``, i.e. what the device clipped away.
    """

    layer: str
    rows: int
    cols: int
    tiles: int
    tau: float
    weight_std: float
    realised_mean: float
    realised_std: float
    programming_error_std: float
    clipped_fraction: float

    def as_dict(self) -> dict[str, Any]:
        """Plain dict, for tables."""
        return asdict(self)


def convert(model: nn.Module, rpu_config: Any, populate: bool = True, exclude: list[str] | None = None) -> nn.Module:
    """Convert every ``nn.Linear`` (head included) to an aihwkit analog layer, one device population per tile.

    ``exclude`` names Linear layers that stay digital (the analog-layer ablations).

    Each tile's device-to-device parameters are drawn from its own seed
    (:mod:`analog_tl.analog.populations`, derived from the compound's
    ``construction_seed``); the digital weights and biases are then programmed.
    ``populate`` False skips that draw, for a model whose tile states are
    loaded right after (they bring their populations with them).
    """
    from aihwkit.nn.conversion import convert_to_analog

    digital = {n: (m.weight.detach().clone(), m.bias) for n, m in model.named_modules() if isinstance(m, nn.Linear)}
    analog = convert_to_analog(model, rpu_config, exclude_modules=list(exclude or []))
    if not populate:
        return analog
    reseed_tiles(analog, rpu_config.device.construction_seed)
    for name, layer in analog.named_analog_layers():
        weight, bias = digital[name]
        layer.set_weights(weight, None if bias is None else bias.detach().clone())
    return analog


def analog_layer_weights(model: nn.Module) -> dict[str, torch.Tensor]:
    """The programmed weights (out, in) of every analog layer, by module name."""
    return {name: layer.get_weights()[0].detach().clone() for name, layer in model.named_analog_layers()}


def apply_transfer_noise(
    model: nn.Module,
    reference: dict[str, torch.Tensor],
    tau: float,
    generator: torch.Generator,
    skip: frozenset[str] = frozenset(),
) -> list[LayerNoise]:
    """Program ``reference + tau * N(0, 1)`` into every analog layer; return the realised noise.

    Args:
        model: analog model whose layers hold ``reference`` (names as in ``named_analog_layers``).
        reference: pre-trained weights W_pre (out, in) per layer.
        tau: noise factor in weight units; 0 programs W_pre unchanged.
        generator: seeded torch generator for the noise draw (drawn in layer order).
        skip: layers programmed with W_pre unchanged (their draw is still made, so the other
            layers get the same noise with or without ``skip``).
    """
    report = []
    for name, layer in model.named_analog_layers():
        w_pre = reference[name]
        noise = torch.randn(w_pre.shape, generator=generator, dtype=w_pre.dtype)
        target = w_pre if name in skip else w_pre + tau * noise
        _, bias = layer.get_weights()
        layer.set_weights(target, bias)
        realised = layer.get_weights()[0]
        delta = realised - w_pre
        report.append(
            LayerNoise(
                layer=name,
                rows=w_pre.shape[0],
                cols=w_pre.shape[1],
                tiles=sum(1 for _ in layer.analog_tiles()),
                tau=0.0 if name in skip else tau,
                weight_std=float(w_pre.std()),
                realised_mean=float(delta.mean()),
                realised_std=float(delta.std()),
                programming_error_std=float((realised - target).std()),
                clipped_fraction=float(((realised - target).abs() > 1e-6).float().mean()),
            )
        )
    return report

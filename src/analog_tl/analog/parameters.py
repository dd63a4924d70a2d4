"""Which parameters train on analog tiles and which digitally, and freezing the digital ones.

The fast simulator's tiles (:class:`~analog_tl.simulator.tile.SimTile`) hold
their weights as buffers, so all of a simulator model's parameters are digital.

In an aihwkit model only the weights of converted ``nn.Linear`` layers live on
analog tiles (trained by the c-TTv2 pulsed update); LayerNorms, biases
(``digital_bias=True``) and other tensors such as Swin's relative-position
tables stay ordinary torch parameters that ``AnalogSGD`` trains with plain SGD.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from torch import nn

from analog_tl.simulator.tile import SimTile


def _is_analog(parameter: nn.Parameter) -> bool:
    """True for aihwkit's tile handle (``AnalogContext``), which stands for a tile's weights."""
    return type(parameter).__name__ == "AnalogContext"


def _digital_kind(module: nn.Module, name: str) -> str:
    """``layernorm``, ``bias`` or the parameter's own name (e.g. ``relative_position_table``)."""
    if isinstance(module, nn.LayerNorm):
        return "layernorm"
    return "bias" if name == "bias" else name


def parameter_counts(model: nn.Module) -> dict[str, Any]:
    """Trainable scalars by where they train: analog tile weights, digital trained, digital frozen, digital by kind."""
    analog = sum(m.out_size * m.in_size for m in model.modules() if isinstance(m, SimTile))  # the fast simulator's
    if hasattr(model, "named_analog_layers"):
        analog += sum(t.out_size * t.in_size for _, layer in model.named_analog_layers() for t in layer.analog_tiles())
    trained, frozen, kinds = 0, 0, Counter()
    for module in model.modules():
        for name, parameter in module.named_parameters(recurse=False):
            if _is_analog(parameter):
                continue
            if parameter.requires_grad:
                trained += parameter.numel()
                kinds[_digital_kind(module, name)] += parameter.numel()
            else:
                frozen += parameter.numel()
    return {"analog_weights": analog, "digital_trained": trained, "digital_frozen": frozen, "digital_trained_by_kind": dict(kinds)}


def freeze_digital(model: nn.Module) -> int:
    """Stop training every digital parameter of ``model`` (analog tiles keep training); return how many scalars."""
    count = 0
    for parameter in model.parameters():
        if not _is_analog(parameter) and parameter.requires_grad:
            parameter.requires_grad_(False)
            count += parameter.numel()
    return count

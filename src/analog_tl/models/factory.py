"""Build backbones by name and swap their classification head."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn

from analog_tl.config import ModelConfig
from analog_tl.errors import ConfigError
from analog_tl.models.swin import CompactSwin, SwinSpec

SWIN_PRESETS: dict[str, SwinSpec] = {
    # The paper's Swin-ViT: 26,591,906 Linear+LayerNorm parameters with 2 classes.
    "paper": SwinSpec(),
    # Same family, sized for CPU runs: 8x8 then 4x4 tokens, 134,882 parameters (2 classes).
    "small": SwinSpec(
        hidden_dim=32, depths=(2, 2), heads=(2, 4), head_dim=16, downscaling_factors=(4, 2)
    ),
    # Smallest member, for tests: one stage of 8x8 tokens, 7,314 parameters (2 classes).
    "tiny": SwinSpec(hidden_dim=16, depths=(2,), heads=(2,), head_dim=8, downscaling_factors=(4,)),
}


def swin_spec(config: ModelConfig) -> SwinSpec:
    """The preset named in ``config`` with ``config.swin_overrides`` applied."""
    if config.preset not in SWIN_PRESETS:
        raise ConfigError(f"unknown Swin preset {config.preset!r}; available: {sorted(SWIN_PRESETS)}")
    overrides = {k: tuple(v) if isinstance(v, list) else v for k, v in config.swin_overrides.items()}
    fields = {f.name for f in dataclasses.fields(SwinSpec)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ConfigError(f"model.swin_overrides: unknown field(s) {unknown}; SwinSpec fields: {sorted(fields)}")
    return dataclasses.replace(SWIN_PRESETS[config.preset], **overrides)


def build_model(config: ModelConfig, num_classes: int, seed: int) -> nn.Module:
    """A freshly initialised model with a ``num_classes`` head; weights drawn from ``seed``."""
    torch.manual_seed(seed)
    if config.backbone == "swin":
        return CompactSwin(swin_spec(config), num_classes)
    if config.backbone == "timm":
        import timm

        if not timm.is_model(config.timm_name):
            close = timm.list_models(f"*{config.timm_name[:4]}*")[:10]
            raise ConfigError(f"model.timm_name: timm has no model {config.timm_name!r}; similar names: {close}")
        return timm.create_model(config.timm_name, pretrained=False, num_classes=num_classes, **config.timm_kwargs)
    raise ConfigError(f"unknown backbone {config.backbone!r}; use 'swin' or 'timm'")


def swap_head(model: nn.Module, num_classes: int, seed: int) -> nn.Module:
    """Replace the classifier by a fresh ``num_classes`` one (seeded); other weights are kept.

    Works for :class:`CompactSwin` and every timm model (``reset_classifier``).
    """
    torch.manual_seed(seed)
    model.reset_classifier(num_classes)
    return model


def head_name(model: nn.Module) -> str:
    """Module name of the classifier Linear (``head`` for :class:`CompactSwin`, timm's ``classifier`` entry otherwise)."""
    if isinstance(model, CompactSwin):
        return "head"
    return str(model.pretrained_cfg["classifier"])


def count_linear_layernorm_parameters(model: nn.Module) -> int:
    """Weights and biases of every ``nn.Linear`` and ``nn.LayerNorm`` (the paper's count)."""
    return sum(
        p.numel()
        for m in model.modules()
        if isinstance(m, (nn.Linear, nn.LayerNorm))
        for p in m.parameters(recurse=False)
    )


def describe(model: nn.Module) -> dict[str, Any]:
    """Parameter counts for logs and saved configs."""
    return {
        "class": type(model).__name__,
        "parameters": sum(p.numel() for p in model.parameters()),
        "linear_layernorm_parameters": count_linear_layernorm_parameters(model),
        "linear_layers": sum(isinstance(m, nn.Linear) for m in model.modules()),
    }

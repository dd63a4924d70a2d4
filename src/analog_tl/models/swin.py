"""Compact Swin transformer for 32x32 inputs (the paper's Swin-ViT).

The architecture is the compact CIFAR Swin-T common in public CIFAR
repositories: patch merging by ``unfold`` + ``nn.Linear``, pre-norm blocks
that alternate regular and shifted windows, ``to_qkv`` without bias, one
learned ``(2w-1)^2`` relative position table per block, and a head of
``LayerNorm`` + ``Linear``. With the ``paper`` preset it has exactly
26,591,906 ``nn.Linear`` + ``nn.LayerNorm`` weights and biases for 2 classes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from analog_tl.errors import ConfigError


@dataclass(frozen=True)
class SwinSpec:
    """Shape of a compact Swin.

    Attributes:
        hidden_dim: channels of the first stage; stage ``i`` has ``hidden_dim * 2**i``.
        depths: blocks per stage (each even: regular and shifted blocks alternate).
        heads: attention heads per stage.
        head_dim: channels per attention head.
        window_size: attention window side, in tokens.
        downscaling_factors: patch-merging factor per stage (first one is the patch size).
        mlp_ratio: hidden width of the block MLP relative to the stage width.
        in_channels: input image channels.
    """

    hidden_dim: int = 96
    depths: tuple[int, ...] = (2, 2, 6, 2)
    heads: tuple[int, ...] = (3, 6, 12, 24)
    head_dim: int = 32
    window_size: int = 4
    downscaling_factors: tuple[int, ...] = (2, 2, 2, 1)
    mlp_ratio: int = 4
    in_channels: int = 3

    def __post_init__(self) -> None:
        n = len(self.depths)
        if not (len(self.heads) == len(self.downscaling_factors) == n and n > 0):
            raise ConfigError("depths, heads and downscaling_factors must have the same length")
        if any(d <= 0 or d % 2 for d in self.depths):
            raise ConfigError(f"every stage depth must be a positive even number, got {self.depths}")

    @property
    def num_features(self) -> int:
        """Width of the last stage (input width of the head)."""
        return self.hidden_dim * 2 ** (len(self.depths) - 1)


def _window_masks(window: int, shift: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Masks of shape (w*w, w*w) that stop shifted windows mixing wrapped tokens."""
    n = window * window
    upper_lower = torch.zeros(n, n)
    upper_lower[-shift * window :, : -shift * window] = float("-inf")
    upper_lower[: -shift * window, -shift * window :] = float("-inf")
    left_right = torch.zeros(window, window, window, window)
    left_right[:, -shift:, :, :-shift] = float("-inf")
    left_right[:, :-shift, :, -shift:] = float("-inf")
    return upper_lower, left_right.reshape(n, n)


def _relative_indices(window: int) -> torch.Tensor:
    """Index pairs (w*w, w*w, 2) into the (2w-1, 2w-1) position table."""
    coords = torch.stack(
        torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij"), dim=-1
    ).reshape(-1, 2)
    return coords[None, :, :] - coords[:, None, :] + window - 1


class WindowAttention(nn.Module):
    """Multi-head self-attention inside (optionally shifted) windows."""

    def __init__(self, dim: int, heads: int, head_dim: int, window: int, shifted: bool) -> None:
        super().__init__()
        inner = heads * head_dim
        self.heads, self.window, self.shifted = heads, window, shifted
        self.scale = head_dim**-0.5
        self.to_qkv = nn.Linear(dim, inner * 3, bias=False)
        self.pos_embedding = nn.Parameter(torch.randn(2 * window - 1, 2 * window - 1))
        self.register_buffer("relative_indices", _relative_indices(window), persistent=False)
        self.to_out = nn.Linear(inner, dim)
        if shifted:
            upper_lower, left_right = _window_masks(window, window // 2)
            self.register_buffer("upper_lower_mask", upper_lower, persistent=False)
            self.register_buffer("left_right_mask", left_right, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (batch, height, width, dim) -> same shape."""
        w, shift = self.window, self.window // 2
        if self.shifted:
            x = torch.roll(x, shifts=(-shift, -shift), dims=(1, 2))
        b, h, wd, _ = x.shape
        nh, nw = h // w, wd // w
        q, k, v = self.to_qkv(x).chunk(3, dim=-1)

        def to_windows(t: torch.Tensor) -> torch.Tensor:
            t = t.reshape(b, nh, w, nw, w, self.heads, -1)
            return t.permute(0, 5, 1, 3, 2, 4, 6).reshape(b, self.heads, nh * nw, w * w, -1)

        q, k, v = map(to_windows, (q, k, v))
        dots = torch.einsum("bhwid,bhwjd->bhwij", q, k) * self.scale
        idx = self.relative_indices
        dots = dots + self.pos_embedding[idx[..., 0], idx[..., 1]]
        if self.shifted:
            dots[:, :, -nw:] += self.upper_lower_mask
            dots[:, :, nw - 1 :: nw] += self.left_right_mask
        out = torch.einsum("bhwij,bhwjd->bhwid", dots.softmax(dim=-1), v)
        out = out.reshape(b, self.heads, nh, nw, w, w, -1).permute(0, 2, 4, 3, 5, 1, 6)
        out = self.to_out(out.reshape(b, h, wd, -1))
        if self.shifted:
            out = torch.roll(out, shifts=(shift, shift), dims=(1, 2))
        return out


class SwinBlock(nn.Module):
    """Pre-norm transformer block: x + attn(norm(x)); x + mlp(norm(x))."""

    def __init__(self, dim: int, heads: int, head_dim: int, mlp_dim: int, window: int, shifted: bool) -> None:
        super().__init__()
        self.attention_norm = nn.LayerNorm(dim)
        self.attention = WindowAttention(dim, heads, head_dim, window, shifted)
        self.mlp_norm = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_dim), nn.GELU(), nn.Linear(mlp_dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (batch, height, width, dim) -> same shape."""
        x = x + self.attention(self.attention_norm(x))
        return x + self.mlp(self.mlp_norm(x))


class PatchMerging(nn.Module):
    """Non-overlapping ``factor x factor`` patches, flattened and projected by a Linear."""

    def __init__(self, in_channels: int, out_channels: int, factor: int) -> None:
        super().__init__()
        self.factor = factor
        self.unfold = nn.Unfold(kernel_size=factor, stride=factor)
        self.linear = nn.Linear(in_channels * factor**2, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (batch, channels, H, W) -> (batch, H/f, W/f, out_channels)."""
        b, _, h, w = x.shape
        x = self.unfold(x).reshape(b, -1, h // self.factor, w // self.factor).permute(0, 2, 3, 1)
        return self.linear(x)


class SwinStage(nn.Module):
    """Patch merging followed by ``depth`` blocks alternating regular / shifted windows."""

    def __init__(self, in_channels: int, dim: int, depth: int, factor: int, heads: int, spec: SwinSpec) -> None:
        super().__init__()
        self.patch_partition = PatchMerging(in_channels, dim, factor)
        self.blocks = nn.Sequential(
            *(
                SwinBlock(dim, heads, spec.head_dim, dim * spec.mlp_ratio, spec.window_size, shifted=bool(i % 2))
                for i in range(depth)
            )
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (batch, C_in, H, W) -> (batch, dim, H/f, W/f)."""
        return self.blocks(self.patch_partition(x)).permute(0, 3, 1, 2)


class CompactSwin(nn.Module):
    """Compact Swin classifier; input (batch, 3, 32, 32), output logits (batch, classes)."""

    def __init__(self, spec: SwinSpec, num_classes: int) -> None:
        super().__init__()
        self.spec = spec
        stages, channels = [], spec.in_channels
        for i, (depth, heads, factor) in enumerate(zip(spec.depths, spec.heads, spec.downscaling_factors)):
            dim = spec.hidden_dim * 2**i
            stages.append(SwinStage(channels, dim, depth, factor, heads, spec))
            channels = dim
        self.stages = nn.Sequential(*stages)
        self.head_norm = nn.LayerNorm(spec.num_features)
        self.head = nn.Linear(spec.num_features, num_classes)

    @property
    def num_classes(self) -> int:
        """Number of output classes of the head."""
        return self.head.out_features

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the classifier Linear by a freshly initialised one (the head swap)."""
        self.head = nn.Linear(self.spec.num_features, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (batch, 3, H, W) -> logits (batch, num_classes)."""
        features = self.stages(x).mean(dim=(2, 3))
        return self.head(self.head_norm(features))

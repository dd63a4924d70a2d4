"""The realised symmetry point of soft-bounds devices, from their device parameters.

A soft-bounds device steps up by ``s_up (1 - g / b_max)`` and down by
``s_dn (1 - g / b_min)`` (``b_min < 0``); balanced up/down pulsing drives its
conductance to where the two are equal,

    g* = (s_up - s_dn) / (s_up / b_max - s_dn / b_min),

the formula aihwkit's ``SoftBoundsReferenceDevice`` uses for
``subtract_symmetry_point``. The visible weight is ``g - reference``, so the
visible symmetry point is ``g* - reference``. :func:`symmetry_points` reads
``dwmin_up``, ``dwmin_down``, ``max_bound``, ``min_bound`` and ``reference``
of every device of every tile from aihwkit's hidden parameters (``_k`` is the
device index inside a unit cell: 0 the fast A, 1 the slow C device of c-TTv2)
and applies the formula; ``tests/test_symmetry.py`` checks it against pulsing.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

_NAME = re.compile(r"^(max_bound|min_bound|dwmin_up|dwmin_down|reference)(?:_(\d+))?$")


@dataclass(frozen=True)
class SymmetryPoints:
    """Visible symmetry points of one device role over a whole model (weight units).

    ``device`` is the index inside the unit cell (``None`` for a single device);
    ``count`` devices with both bounds around 0 (others have no symmetry point).
    """

    device: int | None
    count: int
    mean: float
    std: float
    min: float
    max: float

    def as_dict(self) -> dict[str, Any]:
        """Plain dict, for ``run.json`` and tables."""
        return asdict(self)


def tile_symmetry_points(hidden: dict[str, torch.Tensor]) -> dict[int | None, torch.Tensor]:
    """Visible symmetry point per device, keyed by device index, from one tile's hidden parameters.

    Args:
        hidden: ``tile.get_hidden_parameters()`` (name -> tensor (out, in)).
    """
    fields: dict[int | None, dict[str, torch.Tensor]] = defaultdict(dict)
    for name, value in hidden.items():
        match = _NAME.match(name)
        if match:
            index = int(match.group(2)) if match.group(2) is not None else None
            fields[index][match.group(1)] = value.double()
    points = {}
    for index, f in fields.items():
        if not {"max_bound", "min_bound", "dwmin_up", "dwmin_down"} <= set(f):
            continue
        up, down, b_max, b_min = f["dwmin_up"], f["dwmin_down"], f["max_bound"], f["min_bound"]
        valid = (b_max > 0) & (b_min < 0)
        g = (up - down) / (up / b_max - down / b_min)
        visible = g - f.get("reference", torch.zeros_like(g))
        points[index] = visible[valid]
    return points


def symmetry_points(model: nn.Module) -> list[SymmetryPoints]:
    """Mean, std (ddof 0), min and max of the visible symmetry points per device role, pooled over all tiles."""
    pooled: dict[int | None, list[torch.Tensor]] = defaultdict(list)
    for _, layer in model.named_analog_layers():
        for tile in layer.analog_tiles():
            for index, values in tile_symmetry_points(tile.get_hidden_parameters()).items():
                pooled[index].append(values.flatten())
    out = []
    for index in sorted(pooled, key=lambda k: -1 if k is None else k):
        values = torch.cat(pooled[index])
        if values.numel() == 0:
            continue
        out.append(
            SymmetryPoints(
                index, values.numel(), float(values.mean()), float(values.std(unbiased=False)),
                float(values.min()), float(values.max()),
            )
        )
    return out

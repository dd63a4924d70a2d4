"""The comparison's design (algorithms, variants, devices, ablations, grids) from a config's ``compare`` section.

One place that reads the section's meaning: the workflow's rules
(``workflow/rules/common.smk``), the questions beyond the paper
(:mod:`analog_tl.results.questions`) and the merge of a comparison made in parts
(:mod:`analog_tl.results.compare_parts`) all take it from here.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from analog_tl.vocabulary import (
    ALL_LAYERS, ANALOG_LAYER_SETS, DIGITAL_TL, FAST_LR_ALGORITHMS, PAPER_ALGORITHM, grid_point_text,
)


@dataclass(frozen=True)
class Arm:
    """One arm of the comparison: an algorithm (or variant) on a named device with a set of analog layers.

    ``algorithm`` :data:`DIGITAL_TL` is the digital TL reference (no device).
    """

    algorithm: str
    device: str = ""
    layers: str = ALL_LAYERS

    @property
    def label(self) -> str:
        """Short text: ``c-ttv2 on nominal``, ``c-ttv2 on nominal (head analog)``, ``digital TL``."""
        if self.algorithm == DIGITAL_TL:
            return "digital TL"
        layers = "" if self.layers == ALL_LAYERS else f" ({self.layers} analog)"
        return f"{self.algorithm} on {self.device}{layers}"


DIGITAL_REFERENCE = Arm(DIGITAL_TL)


@dataclass(frozen=True)
class CompareDesign:
    """What the comparison runs (the config's ``compare`` section), as the questions need it.

    ``base``: the aihwkit algorithm of every compared algorithm (a variant's
    ``algorithm``, else itself); ``devices``: per device name, its device name
    and fields and ``weight_scaling_omega`` (0 without mapping); ``arms``: the
    (algorithm, device, layers) combinations run.
    """

    base: Mapping[str, str]
    devices: Mapping[str, tuple[str, str, float]]
    arms: tuple[Arm, ...]
    ablation_device: str | None
    tasks: tuple[str, ...] = ()
    seeds: tuple[int, ...] = ()
    points: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)  # per algorithm: its grid
    # points as the runs' ``hyperparameters`` column spells them (:func:`grid_point_text`)

    @property
    def n_points(self) -> dict[str, int]:
        """Grid points per algorithm."""
        return {algorithm: len(points) for algorithm, points in self.points.items()}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> CompareDesign:
        """The design of a workflow config (with the schema's defaults): its ``compare`` section, ``tasks``,
        ``finetune.seeds`` and ``analog.mapping``."""
        compare = config["compare"]
        variants = compare.get("variants", {})
        algorithms = list(compare["algorithms"])
        base = {a: variants[a]["algorithm"] if a in variants else a for a in algorithms}
        omega = float(config.get("analog", {}).get("mapping", {}).get("weight_scaling_omega", 0.0))
        devices = {
            name: (entry["name"], repr(sorted(entry.get("fields", {}).items())),
                   float(entry.get("mapping", {}).get("weight_scaling_omega", omega)))
            for name, entry in compare["devices"].items()
        }
        arms = [Arm(a, d) for a in algorithms for d, entry in compare["devices"].items()
                if a in entry.get("algorithms", algorithms)]
        ablation = None
        if compare.get("ablations") and compare["devices"]:
            ablation = compare.get("ablation_device") or next(iter(compare["devices"]))
            arms += [Arm(PAPER_ALGORITHM, ablation, layers) for layers in ANALOG_LAYER_SETS]
        return cls(base=base, devices=devices, arms=tuple(dict.fromkeys(arms)), ablation_device=ablation,
                   tasks=tuple(compare.get("tasks") or config["tasks"]),
                   seeds=tuple(int(s) for s in config["finetune"]["seeds"]),
                   points={a: tuple(map(grid_point_text, compare_grid(compare, a, base[a]))) for a in algorithms})


def compare_grid(compare: Mapping[str, Any], algorithm: str, base: str) -> list[dict[str, Any]]:
    """The grid points (``{field: value}``) of ``algorithm`` (aihwkit algorithm ``base``) in a ``compare`` section:
    ``compare.grids[algorithm]``, with ``fast_lr`` from ``compare.fast_lrs`` where ``base`` has one."""
    grid = dict(compare.get("grids", {}).get(algorithm, {}))
    if base in FAST_LR_ALGORITHMS:
        grid.setdefault("fast_lr", compare["fast_lrs"])
    fields = sorted(grid)
    return [dict(zip(fields, combo)) for combo in itertools.product(*(grid[f] for f in fields))]

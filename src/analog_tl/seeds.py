"""Seeds derived from the config's seeds: one construction seed per analog tile.

Shared by the aihwkit glue (:mod:`analog_tl.analog.populations`) and the fast
simulator (:mod:`analog_tl.simulator.population`), which draw the same device
population for a tile from the same seed.
"""

from __future__ import annotations

import hashlib

SEED_MODULUS = 2**31 - 1  # aihwkit's construction seed is a C int; 0 means "clock-seeded"


def tile_seed(construction_seed: int, layer: str, tile: int) -> int:
    """Construction seed of tile ``tile`` of layer ``layer``: SHA-256 of the three, in [1, 2^31 - 1)."""
    digest = hashlib.sha256(f"{construction_seed}\x00{layer}\x00{tile}".encode()).digest()
    return 1 + int.from_bytes(digest[:8], "big") % (SEED_MODULUS - 1)

"""Table I of the paper: the c-TTv2 hyper-parameters set on every algorithm's compound that has them.

The optimiser learning rate (0.01) and batch size (8) are training settings;
:func:`table_i_view` reads the rows back from a built rpu_config, as simulated.
"""

from __future__ import annotations

from typing import Any

# c-TTv2's fields of Table I, as aihwkit's ChoppedTransferCompound names them.
TABLE_I_COMPOUND: dict[str, Any] = {
    "transfer_every": 1.0,
    "auto_granularity": 10000.0,
    "momentum": 0.0,
    "auto_scale": True,
    "in_chop_prob": 0.10,
    "units_in_mbatch": False,
    "forget_buffer": True,
    "auto_momentum": 0.99,
}


def table_i_view(rpu_config: Any, lr: float, batch_size: int) -> dict[str, Any]:
    """The Table I rows as simulated (read back from the built config; None where the compound lacks the field)."""
    compound = rpu_config.device
    return {
        "learning_rate": lr,
        "batch_size": batch_size,
        **{key: getattr(compound, key, None) for key in TABLE_I_COMPOUND},
    }

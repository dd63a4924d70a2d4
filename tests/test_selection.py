"""fast_lr is chosen per task and mode on the mean validation error over seeds, never on test error."""

import pandas as pd
import pytest

from analog_tl.results.selection import select_fast_lr


def candidates() -> pd.DataFrame:
    """Two seeds x two fast_lr values for analog TL and scratch; test error disagrees with validation on purpose."""
    rows = []
    for mode, val, test in (
        ("analog_tl", {0.1: (0.30, 0.34), 1.0: (0.20, 0.26)}, {0.1: 0.10, 1.0: 0.50}),
        ("analog_scratch", {0.1: (0.40, 0.40), 1.0: (0.40, 0.40)}, {0.1: 0.45, 1.0: 0.05}),
    ):
        for fast_lr, (v0, v1) in val.items():
            for seed, v in ((0, v0), (1, v1)):
                rows.append({"task": "t", "mode": mode, "fast_lr": fast_lr, "seed": seed, "best_val_error": v,
                             "test_error_at_best_val": test[fast_lr]})
    return pd.DataFrame(rows)


def test_fast_lr_is_chosen_on_mean_validation_error_per_mode():
    table = select_fast_lr(candidates()).set_index(["mode", "fast_lr"])
    assert table.loc[("analog_tl", 1.0), "selected"]  # lower validation error, although its test error is 5x worse
    assert not table.loc[("analog_tl", 0.1), "selected"]
    assert table.loc[("analog_tl", 1.0), "val_error_mean"] == pytest.approx(0.23)
    assert table.loc[("analog_scratch", 0.1), "selected"]  # a validation tie goes to the smaller fast_lr
    assert table.selected.sum() == 2 and len(table) == 4 and (table.n_seeds == 2).all()


def test_missing_columns_are_named():
    with pytest.raises(ValueError, match="fast_lr"):
        select_fast_lr(candidates().drop(columns="fast_lr"))


def test_a_validation_error_tie_goes_to_the_lower_mean_validation_loss():
    table = candidates()
    table["best_val_loss"] = [0.5, 0.5, 0.4, 0.4, 0.9, 0.9, 0.7, 0.8]  # scratch: tied errors, fast_lr 1.0 lower loss
    chosen = select_fast_lr(table).set_index(["mode", "fast_lr"])
    assert chosen.loc[("analog_scratch", 1.0), "selected"] and not chosen.loc[("analog_scratch", 0.1), "selected"]
    assert chosen.loc[("analog_scratch", 1.0), "val_loss_mean"] == pytest.approx(0.75)


def test_equal_validation_error_counts_tie_whatever_floating_point_makes_of_their_mean():
    """(1, 1, 7) and (3, 3, 3) errors of 100: means 0.030000000000000002 and 0.03, a tie the loss decides."""
    rows = [{"task": "t", "mode": "analog_tl", "fast_lr": fast_lr, "seed": seed, "best_val_error": k / 100,
             "best_val_loss": loss, "test_error_at_best_val": 0.5}
            for fast_lr, counts, loss in ((0.1, (3, 3, 3), 0.9), (1.0, (1, 1, 7), 0.7))
            for seed, k in enumerate(counts)]
    assert sum(k / 100 for k in (1, 1, 7)) / 3 != sum(k / 100 for k in (3, 3, 3)) / 3  # the trap itself
    chosen = select_fast_lr(pd.DataFrame(rows)).set_index("fast_lr")
    assert chosen.loc[1.0, "selected"] and not chosen.loc[0.1, "selected"]

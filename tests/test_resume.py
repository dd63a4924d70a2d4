"""Resumable training: exact analog restore, bit-identical digital resume, corrupted and foreign states."""

from __future__ import annotations

import logging
import statistics
from pathlib import Path

import pytest
import torch
from torch import nn

from analog_tl.analog.rpu import build_rpu_config
from analog_tl.analog.transfer import convert
from analog_tl.config import AnalogConfig, ModelConfig, TrainConfig
from analog_tl.models.factory import build_model
from analog_tl.training.loop import fit
from analog_tl.training.optimizers import analog_optimizer, digital_optimizer
from analog_tl.training.resume import ResumeStore, fingerprint, restore_model, state_folder
from conftest import stripes_data

CPU = torch.device("cpu")
DIGITAL = TrainConfig(
    epochs=4, batch_size=8, lr=0.05, momentum=0.9, lr_schedule="cosine", warmup_epochs=1, seed=3
)
ANALOG = TrainConfig(epochs=4, batch_size=8, lr=0.5, seed=0)


class Interrupted(Exception):
    """Stands in for a kill at an epoch boundary."""


def _stop_after(epoch: int):
    def on_epoch(metrics):
        if metrics.epoch == epoch:
            raise Interrupted

    return on_epoch


def _numbers(history):
    """Everything but wall-clock seconds (as text, so that epoch 0's NaN loss compares equal)."""
    return [repr((m.epoch, m.train_loss, m.train_error, m.val_error, m.test_error)) for m in history]


def _digital_fit(data, store=None, on_epoch=None):
    model = build_model(ModelConfig(preset="tiny"), 2, seed=DIGITAL.seed)
    return fit(model, lambda m: digital_optimizer(m, DIGITAL), data, DIGITAL, CPU, "digital", on_epoch, store)


def _analog_mlp(mapping=None) -> nn.Module:
    """A two-layer analog MLP on flattened 32x32x3 images; ``mapping`` may split it into several tiles."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3072, 8), nn.ReLU(), nn.Linear(8, 2))
    return convert(model, build_rpu_config(AnalogConfig(compound={"fast_lr": 1.0}, mapping=mapping or {})))


def _analog_fit(model, data, config=ANALOG, store=None, on_epoch=None):
    return fit(model, lambda m: analog_optimizer(m, config), data, config, CPU, "analog", on_epoch, store)


def _store(tmp_path, identity="run") -> ResumeStore:
    return ResumeStore(tmp_path / "state", fingerprint({"run": identity}), every_epochs=1, keep=2)


@pytest.fixture(scope="module")
def data():
    return stripes_data(64, seed=0)


@pytest.fixture(scope="module")
def uninterrupted_digital(data):
    return _numbers(_digital_fit(data))


def _tile_snapshot(model: nn.Module) -> list[tuple[list[str], torch.Tensor, torch.Tensor, dict]]:
    """Per tile: hidden parameter names, hidden parameters (A, C, buffer, device parameters), weights, extra state."""
    return [
        (
            tile.tile.get_hidden_parameter_names(),
            tile.tile.get_hidden_parameters().clone(),
            tile.tile.get_weights().clone(),
            tile.tile.dump_extra(),
        )
        for tile in model.analog_tiles()
    ]


def _differences(saved, loaded) -> list[str]:
    """Names of every hidden parameter or extra-state entry that differs between two tile snapshots."""
    found = []
    for index, ((names, hidden_a, weights_a, extra_a), (_, hidden_b, weights_b, extra_b)) in enumerate(zip(saved, loaded)):
        found += [f"tile{index}.{n}" for i, n in enumerate(names) if not torch.equal(hidden_a[i], hidden_b[i])]
        if not torch.equal(weights_a, weights_b):
            found.append(f"tile{index}.weights")
        found += [f"tile{index}.{key}" for key in extra_a if extra_a[key] != extra_b.get(key)]
    return found


def test_analog_state_is_restored_bit_for_bit_including_the_fast_matrix(tmp_path, data):
    mapping = {"max_input_size": 1024}  # the 3072-input layer becomes 3 tiles
    config = TrainConfig(**{**ANALOG.__dict__, "epochs": 1})
    trained = _analog_mlp(mapping)
    store = _store(tmp_path)
    _analog_fit(trained, data, config, store)
    saved = _tile_snapshot(trained)
    assert len(saved) == 4
    names = saved[0][0]
    assert {"hidden_weights_0", "hidden_weights_1", "buffered_FP_weight_0"} <= set(names)  # A, C, transfer buffer
    assert saved[0][1][names.index("hidden_weights_0")].abs().sum() > 0  # A holds something to lose
    state = store.load()

    plain = _analog_mlp(mapping)
    plain.load_state_dict(state["model"])  # aihwkit's own reload: A is reset, everything else survives
    assert {d.split(".", 1)[1] for d in _differences(saved, _tile_snapshot(plain))} == {"hidden_weights_0"}

    resumed = _analog_mlp(mapping)
    assert restore_model(resumed, state["model"]) == 4
    assert _differences(saved, _tile_snapshot(resumed)) == []
    extra = saved[0][3]
    assert {"rpu.rpu_device.in_chopper", "rpu.rpu_device.out_chopper", "rpu.rpu_device.current_update_idx"} <= set(extra)


def test_restored_analog_model_keeps_learning(tmp_path, data):
    """The optimiser is built after the restore, so it updates the restored tiles (not stale ones)."""
    store = _store(tmp_path)
    with pytest.raises(Interrupted):
        _analog_fit(_analog_mlp(), data, store=store, on_epoch=_stop_after(1))
    resumed = _analog_mlp()
    restore_model(resumed, store.load()["model"])
    # A (hidden_weights_0) moves with every update; the visible weights only at (rare, clock-seeded) transfers
    def fast(tile):  # noqa: ANN001, ANN202
        names = tile.tile.get_hidden_parameter_names()
        return tile.tile.get_hidden_parameters()[names.index("hidden_weights_0")].clone()

    before = [fast(t) for t in resumed.analog_tiles()]
    history = _analog_fit(resumed, data, store=store)
    assert [m.epoch for m in history] == [0, 1, 2, 3, 4]
    assert all(not torch.equal(b, fast(t)) for b, t in zip(before, resumed.analog_tiles()))


def test_resumed_analog_run_lies_within_the_spread_of_uninterrupted_runs(tmp_path, data):
    """aihwkit's CPU noise is clock-seeded: compare statistically (final training loss, 8 uninterrupted runs).

    The bar is half the fall of the uninterrupted runs' mean training loss from epoch 2 (where the
    run is cut) to epoch 4: a resume that loses the trained state ends near the epoch-2 loss and
    fails. Measured on 30 runs each (2026-12-07): final loss 0.537 +- 0.011 uninterrupted, 0.536 +-
    0.008 resumed, 0.640 at epoch 2, so the bar (about 0.05) is over 5 standard deviations of the
    difference. It replaced 5 sample standard deviations of the 8 runs, which flaked in CI when 8
    runs happened to spread 0.004.
    """
    cut = 2  # the epoch after which the run is interrupted (histories start at epoch 0)
    histories = [_analog_fit(_analog_mlp(), data) for _ in range(8)]
    final = statistics.mean(history[-1].train_loss for history in histories)
    at_cut = statistics.mean(history[cut].train_loss for history in histories)
    store = _store(tmp_path)
    with pytest.raises(Interrupted):
        _analog_fit(_analog_mlp(), data, store=store, on_epoch=_stop_after(cut))
    resumed = _analog_fit(_analog_mlp(), data, store=store)[-1].train_loss
    assert final < 0.66  # the runs learn (chance level is ln 2 = 0.693), so a broken resume would show
    assert abs(resumed - final) < (at_cut - final) / 2, (resumed, final, at_cut)


@pytest.mark.parametrize("stop_after", [1, 3])
def test_digital_resume_is_bit_identical(tmp_path, data, uninterrupted_digital, stop_after):
    store = _store(tmp_path)
    with pytest.raises(Interrupted):
        _digital_fit(data, store, _stop_after(stop_after))
    assert store.saved_epochs() == [stop_after, stop_after - 1][: min(stop_after, 2)]
    assert _numbers(_digital_fit(data, store)) == uninterrupted_digital


def _truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def test_truncated_state_falls_back_to_the_previous_good_one_with_a_warning(tmp_path, data, uninterrupted_digital, caplog):
    store = _store(tmp_path)
    with pytest.raises(Interrupted):
        _digital_fit(data, store, _stop_after(3))
    _truncate(store.folder / "epoch-0003.pt")
    with caplog.at_level(logging.INFO):
        resumed = _digital_fit(data, store)
    assert "ignoring resumable state" in caplog.text and "epoch-0003.pt" in caplog.text and "SHA-256" in caplog.text
    assert "resuming from" in caplog.text and "epoch-0002.pt" in caplog.text
    assert _numbers(resumed) == uninterrupted_digital


def test_every_state_corrupted_restarts_from_scratch_with_a_warning(tmp_path, data, uninterrupted_digital, caplog):
    store = _store(tmp_path)
    with pytest.raises(Interrupted):
        _digital_fit(data, store, _stop_after(2))
    _truncate(store.folder / "epoch-0002.pt")
    (store.folder / "epoch-0001.pt").write_bytes(b"not a checkpoint")
    (store.folder / "epoch-0001.json").write_text("{broken")
    with caplog.at_level(logging.WARNING):
        assert _numbers(_digital_fit(data, store)) == uninterrupted_digital
    assert caplog.text.count("ignoring resumable state") == 2


def test_state_of_a_run_with_other_settings_is_not_restored(tmp_path, data, uninterrupted_digital, caplog):
    with pytest.raises(Interrupted):
        _digital_fit(data, _store(tmp_path, identity="lr 0.1"), _stop_after(2))
    with caplog.at_level(logging.WARNING):
        assert _numbers(_digital_fit(data, _store(tmp_path, identity="lr 0.05"))) == uninterrupted_digital
    assert "belongs to a run with other settings" in caplog.text


def test_interrupted_save_leaves_no_usable_state(tmp_path):
    """A state whose record exists but whose file never got renamed into place is invisible."""
    store = _store(tmp_path)
    store.save(1, {"x": torch.ones(2)})
    (store.folder / "epoch-0002.json").write_text('{"epoch": 2}')  # killed before the rename
    (store.folder / ".epoch-0002.pt.tmp-123").write_bytes(b"partial")
    assert store.saved_epochs() == [1]
    assert torch.equal(store.load()["x"], torch.ones(2))
    store.clear()
    assert not store.folder.exists()


def test_store_keeps_the_newest_states_and_names_folders_after_the_run(tmp_path):
    store = ResumeStore(tmp_path / "s", "f", every_epochs=2, keep=2)
    for epoch in (1, 2, 3, 4):
        store.save(epoch, {})
    assert store.saved_epochs() == [4, 3]
    assert [e for e in range(6) if store.due(e, last_epoch=5)] == [2, 4, 5]
    assert state_folder("results/resume", "results/runs/t/digital_tl/seed~0") == Path("results/resume/runs/t/digital_tl/seed~0")
    with pytest.raises(ValueError, match="every_epochs"):
        ResumeStore(tmp_path, "f", every_epochs=0)

"""Atomic outputs: a crash while writing leaves neither a partial file under the final name nor a temporary file."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch

from analog_tl.data.prepared import LabelledImages, PreparedData, save_prepared
from analog_tl.io import atomic_path, write_json
from analog_tl.results.figures import save_figure
from analog_tl.results.tables import write_csv
from analog_tl.training.artifacts import RunPaths, save_model, write_run
from analog_tl.training.loop import EpochMetrics


class Crash(Exception):
    """Stands in for a process dying in the middle of a write."""


def _crash_after_partial_write(original):
    """Wrap a writer so that it writes its output and then crashes, as if killed before the rename."""

    def writer(*args, **kwargs):
        original(*args, **kwargs)
        raise Crash

    return writer


def _only_final(folder):
    return sorted(p.name for p in folder.iterdir())


def test_atomic_path_keeps_the_previous_version_when_a_write_fails(tmp_path):
    target = tmp_path / "table.csv"
    target.write_text("old,complete\n")
    with pytest.raises(Crash), atomic_path(target) as tmp:
        tmp.write_text("new,partial")
        raise Crash
    assert target.read_text() == "old,complete\n" and _only_final(tmp_path) == ["table.csv"]


def test_table_figure_json_model_and_data_writers_leave_nothing_partial(tmp_path, monkeypatch):
    monkeypatch.setattr(pd.DataFrame, "to_csv", _crash_after_partial_write(pd.DataFrame.to_csv))
    with pytest.raises(Crash):
        write_csv(pd.DataFrame({"a": [1]}), tmp_path / "t.csv")
    monkeypatch.undo()

    fig = plt.figure()
    monkeypatch.setattr(type(fig), "savefig", _crash_after_partial_write(type(fig).savefig))
    with pytest.raises(Crash):
        save_figure(fig, tmp_path / "f.png", tmp_path / "f.pdf")
    monkeypatch.undo()
    plt.close(fig)

    monkeypatch.setattr(torch, "save", _crash_after_partial_write(torch.save))
    with pytest.raises(Crash):
        save_model({"w": torch.ones(3)}, tmp_path / "model.pt")
    monkeypatch.undo()

    monkeypatch.setattr(np, "savez_compressed", _crash_after_partial_write(np.savez_compressed))
    images = LabelledImages(np.zeros((2, 32, 32, 3), np.uint8), np.array([0, 1]))
    with pytest.raises(Crash):
        save_prepared(PreparedData(["a", "b"], images, images, images), tmp_path / "d.npz", {})
    monkeypatch.undo()

    monkeypatch.setattr(Path, "write_text", _crash_after_partial_write(Path.write_text))
    with pytest.raises(Crash):
        write_json(tmp_path / "r.json", {"a": 1})
    monkeypatch.undo()
    assert _only_final(tmp_path) == []


def test_run_folder_gets_final_json_last(tmp_path, monkeypatch):
    """``final.json`` (what tables read) is written only after the model and the record are in place."""
    history = [EpochMetrics(0, math.nan, 0.5, 0.5, 0.7, 0.5, 1.0), EpochMetrics(1, 0.4, 0.2, 0.2, 0.6, 0.2, 1.0)]
    monkeypatch.setattr(torch, "save", _crash_after_partial_write(torch.save))
    with pytest.raises(Crash):
        write_run(RunPaths.in_folder(tmp_path), history, {"w": torch.ones(1)}, {})
    assert _only_final(tmp_path) == ["metrics.csv"]


def test_atomic_path_flushes_the_data_before_the_rename_and_the_folder_after(tmp_path, monkeypatch):
    """A node failure after the rename must not leave an empty file under the final name (fsync order)."""
    import os

    import analog_tl.io as io_module

    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        target = os.readlink(f"/proc/self/fd/{fd}")
        events.append(("fsync", Path(target).name, os.path.getsize(target) if os.path.isfile(target) else None))
        real_fsync(fd)

    def replace(src, dst):
        events.append(("rename", Path(src).name, Path(dst).name))
        real_replace(src, dst)

    monkeypatch.setattr(io_module.os, "fsync", fsync)
    monkeypatch.setattr(io_module.os, "replace", replace)
    target = tmp_path / "out" / "table.json"
    write_json(target, {"a": 1})
    tmp_name = f".table.json.tmp-{os.getpid()}"
    assert events == [
        ("fsync", tmp_name, len(target.read_bytes())),  # the data, under the temporary name, before the rename
        ("rename", tmp_name, "table.json"),
        ("fsync", "out", None),  # the folder holding the rename
    ]

"""``scripts/benchmark_simulator.py`` runs all four cases side by side and reports the kernel's own speed-up."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def test_the_benchmark_times_every_case_and_profiles_the_simulator(tmp_path: Path) -> None:
    out = tmp_path / "simulator.csv"
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "benchmark_simulator.py"), "--models", "tiny", "--batches", "2",
         "--steps", "1", "--threads", "1", "--out", str(out), "--profile", str(tmp_path / "profiles"),
         "--algorithms", "c-ttv2", "agad"],
        capture_output=True, text=True, timeout=600, check=True,
    )
    table = pd.read_csv(out)
    assert list(table["simulator"]) == ["digital"] + ["aihwkit", "reference", "fast"] * 2
    assert list(table["algorithm"].fillna("")) == [""] + ["c-ttv2"] * 3 + ["agad"] * 3
    assert (table["step_seconds"] > 0).all() and (table["peak_rss_mib"] > 0).all()
    simulated = table[table["simulator"].isin(["reference", "fast"])]
    assert (simulated["analog_update_seconds"] > 0).all()
    assert "update: reference / fast" in result.stdout
    assert sorted(p.name for p in (tmp_path / "profiles").iterdir()) == [
        "profile_tiny_b2_fast.txt", "profile_tiny_b2_fast_agad.txt", "profile_tiny_b2_reference.txt",
        "profile_tiny_b2_reference_agad.txt"]
    assert "cttv2_update" in (tmp_path / "profiles" / "profile_tiny_b2_fast.txt").read_text()
    assert "agad_update" in (tmp_path / "profiles" / "profile_tiny_b2_fast_agad.txt").read_text()

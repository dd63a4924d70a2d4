"""Tidy result tables from run folders.

``epochs.csv``: one row per run and epoch; ``runs.csv``: one row per run;
both carry every setting of the run (from its ``run.json``) as columns.
``sweeps/{sweep}_runs.csv``: one row per run of a device sweep with the learning-rate selection;
``sweeps/{sweep}_summary.csv``: the selected models per sweep point over seeds;
``critical_noise.csv`` and ``summary.csv``: the elbow fit and the headline comparisons.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from analog_tl.io import atomic_path, read_json, write_json
from analog_tl.results.elbow import critical_noise
from analog_tl.results.claims import claims_table, verdicts_table
from analog_tl.results.protocol import METRIC_COLUMNS, run_scores
from analog_tl.results.selection import select_fast_lr, select_learning_rates, summarise_sweeps
from analog_tl.results.summary import summary_table
from analog_tl.vocabulary import FINAL_FILE, METRICS_FILE, RECORD_FILE, axis_name

SETTING_COLUMNS = [
    "task", "mode", "sweep", "sps_reading", "sweep_value", "transfer_noise", "seed", "n_classes", "epochs",
    "batch_size", "lr", "fast_lr", "optimizer", "momentum",
]
# Key figures of the simulated device (analog.devices.device_summary) copied into every analog row.
DEVICE_COLUMNS = ["device_class", "device_preset", "states", "dw_min", "dw_min_std", "dw_min_dtod", "write_noise_std",
                  "reference_std"]


def run_settings(folder: str | Path) -> dict[str, Any]:
    """The settings columns of one run: its ``run.json`` settings plus model and data provenance."""
    record = read_json(Path(folder) / RECORD_FILE)
    settings = dict(record["settings"])
    model = record["model"]
    settings["backbone"] = model["backbone"] if model["backbone"] != "timm" else f"timm:{model['timm_name']}"
    settings["preset"] = model["preset"] if model["backbone"] == "swin" else ""
    settings["parameters"] = model["linear_layernorm_parameters"]
    settings["data_sha256"] = record["data"]["sha256"]
    settings["n_test"] = sum(record["data"]["counts"]["test"])
    settings["pretrained_sha256"] = record.get("inputs", {}).get("pretrained_model_sha256")  # None from scratch
    counts = record["parameters"]
    settings["analog_parameters"] = counts["analog_weights"]
    settings["digital_trained_parameters"] = counts["digital_trained"]
    settings["digital_frozen_parameters"] = counts["digital_frozen"]
    device = record.get("analog_device", {})
    settings["device"] = device.get("device", "digital")
    settings.update({key: device.get(key) for key in DEVICE_COLUMNS})
    points = record.get("symmetry_points", [])
    if points:  # pooled over the device roles (A and C of c-TTv2), weight units
        n = sum(p["count"] for p in points)
        mean = sum(p["mean"] * p["count"] for p in points) / n
        second = sum((p["std"] ** 2 + p["mean"] ** 2) * p["count"] for p in points) / n
        settings["symmetry_point_mean"], settings["symmetry_point_std"] = mean, max(second - mean**2, 0.0) ** 0.5
    settings.update(algorithm_settings(record))
    settings["run"] = str(folder)
    return settings


def algorithm_settings(record: dict[str, Any]) -> dict[str, Any]:
    """Residual learning's ``gamma`` and the weight mapping's ``weight_scaling_omega`` of an analog run (else {}).

    Read from the run's resolved ``rpu_config``; records without one (digital runs) give nothing.
    """
    rpu = record.get("rpu_config") or {}
    found = {"gamma": (rpu.get("device") or {}).get("gamma"),
             "weight_scaling_omega": (rpu.get("mapping") or {}).get("weight_scaling_omega")}
    return {key: value for key, value in found.items() if value is not None}


def epochs_table(run_folders: list[str]) -> pd.DataFrame:
    """Per-epoch metrics of every run with its settings (one row per run and epoch)."""
    frames = []
    for folder in run_folders:
        metrics = pd.read_csv(Path(folder) / METRICS_FILE)
        for key, value in run_settings(folder).items():
            metrics[key] = value
        frames.append(metrics)
    table = pd.concat(frames, ignore_index=True)
    first = [c for c in SETTING_COLUMNS if c in table.columns]
    return table[first + [c for c in table.columns if c not in first]]


def protocol_scores(folder: str | Path) -> dict[str, Any]:
    """The comparison protocol's scores of one run (three test-error metrics, convergence) from its ``metrics.csv``."""
    metrics = pd.read_csv(Path(folder) / METRICS_FILE).assign(run=str(folder))
    return run_scores(metrics).drop(columns="run").iloc[0].to_dict()


def runs_table(run_folders: list[str]) -> pd.DataFrame:
    """Final metrics of every run with its settings and protocol scores (one row per run)."""
    rows = [{**run_settings(f), **read_json(Path(f) / FINAL_FILE), **protocol_scores(f)} for f in run_folders]
    table = pd.DataFrame(rows)
    first = [c for c in SETTING_COLUMNS if c in table.columns]
    return table[first + [c for c in table.columns if c not in first]]


def noise_table(report_paths: list[str]) -> pd.DataFrame:
    """Realised transfer noise per layer, with task and seed taken from each report's path."""
    frames = []
    for path in report_paths:
        frame = pd.read_csv(path)
        parts = Path(path).parts
        frame.insert(0, "seed", int(parts[-2].split("~", 1)[1]))
        frame.insert(0, "task", parts[-4])
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def relative_noise_table(noise: pd.DataFrame) -> pd.DataFrame:
    """Each transfer-noise level relative to each layer's weight std: one row per (task, tau, layer).

    ``noise`` is a realised-noise table (:func:`noise_table`); ``weight_std`` is
    the std of the pre-trained weights ``W_pre`` (the same for every seed), so
    ``tau_over_weight_std = tau / weight_std`` compares tau across models whose
    weights have another scale (0 at tau 0).
    """
    table = noise.groupby(["task", "tau", "layer"], sort=False)["weight_std"].mean().reset_index()
    table["tau_over_weight_std"] = table["tau"] / table["weight_std"]
    return table


def fast_lr_table(selection_records: list[str | Path]) -> pd.DataFrame:
    """Every fast_lr candidate of every task with its validation errors and the choice (from the selection records)."""
    return pd.concat([pd.DataFrame(read_json(p)["candidates"]) for p in selection_records], ignore_index=True)


def write_csv(table: pd.DataFrame, path: str | Path) -> None:
    """Write a table atomically."""
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)


def write_tables(
    run_folders: list[str], noise_reports: list[str], out_epochs: str, out_runs: str, out_noise: str,
    fast_lr_selections: list[str], out_fast_lr: str, out_relative_noise: str,
) -> None:
    """Write the three tidy tables, the noise levels relative to the layers' weight std, and the fast_lr candidates."""
    write_csv(epochs_table(run_folders), out_epochs)
    write_csv(runs_table(run_folders), out_runs)
    noise = noise_table(noise_reports)
    write_csv(noise, out_noise)
    write_csv(relative_noise_table(noise), out_relative_noise)
    write_csv(fast_lr_table(fast_lr_selections), out_fast_lr)


def write_fast_lr_selection(run_folders: list[str], task: str, out_json: str | Path) -> dict[str, Any]:
    """Choose ``task``'s fast_lr per mode from its candidate runs (validation only); write and return the record."""
    table = select_fast_lr(runs_table(run_folders))
    chosen = table[table["selected"]]
    record = {
        "task": task,
        "selected": {row["mode"]: float(row["fast_lr"]) for _, row in chosen.iterrows()},
        "rule": "lowest mean over seeds of best_val_error (validation); ties to the lower mean best_val_loss, "
                "then the smaller fast_lr",
        "candidates": table.to_dict(orient="records"),
    }
    write_json(out_json, record)
    return record


def write_sweep_tables(run_folders: list[str], out_candidates: str, out_summary: str) -> None:
    """Write every sweep run with its learning-rate selection, and the per-point summary over seeds."""
    candidates = select_learning_rates(runs_table(run_folders))
    write_csv(candidates, out_candidates)
    write_csv(summarise_sweeps(candidates), out_summary)


def with_protocol_scores(runs: pd.DataFrame, epochs: pd.DataFrame | None) -> pd.DataFrame:
    """``runs`` with the protocol's score columns, computed from ``epochs`` where ``runs`` lacks them.

    Runs tables made before the protocol (without ``test_error_selected``, or a
    merge of such parts with newer ones, where those rows are empty) are scored
    from their epochs table, joined on the ``run`` column.
    """
    column = METRIC_COLUMNS["selected"]
    lacking = runs[column].isna() if column in runs.columns else pd.Series(True, index=runs.index)
    if not lacking.any():
        return runs
    if epochs is None:
        raise ValueError("the runs table has no protocol scores and no epochs table was given to compute them")
    wanted = set(runs.loc[lacking, "run"])
    scores = run_scores(epochs[epochs["run"].isin(wanted)])
    missing = sorted(wanted - set(scores["run"]))
    if missing:
        raise ValueError(f"the epochs table has no rows for run(s) {missing[:3]}{' ...' if len(missing) > 3 else ''}")
    scored = runs.set_index("run")
    filled = scores.set_index("run")
    for name in filled.columns:
        fill = filled[name].reindex(scored.index)
        scored[name] = scored[name].where(scored[name].notna(), fill) if name in scored.columns else fill
    return scored.reset_index()[list(dict.fromkeys([*runs.columns, *filled.columns]))]


def write_claim_tables(
    runs: pd.DataFrame, sweeps: dict[str, pd.DataFrame], out_claims: str | Path, out_verdicts: str | Path
) -> pd.DataFrame:
    """Score the paper's claims under the protocol; write both tables and return the verdicts."""
    claims = claims_table(runs, sweeps)
    verdicts = verdicts_table(claims)
    write_csv(claims, out_claims)
    write_csv(verdicts, out_verdicts)
    return verdicts


def by_axis(sweep_runs: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """{axis: rows} of a table of sweep runs (``sweep``, ``sps_reading`` columns), axes as the workflow names them."""
    reading = sweep_runs["sps_reading"] if "sps_reading" in sweep_runs.columns else [None] * len(sweep_runs)
    axes = pd.Series([axis_name(w, r) for w, r in zip(sweep_runs["sweep"], reading)], index=sweep_runs.index)
    return {axis: rows.reset_index(drop=True) for axis, rows in sweep_runs.groupby(axes, sort=True)}


def write_verdicts(runs_csv: str, sweep_runs_csvs: list[str], out_claims: str, out_verdicts: str) -> None:
    """The paper's claims scored on the main grid's runs and the sweeps' runs (with their lr selection)."""
    sweeps = pd.concat([pd.read_csv(p) for p in sweep_runs_csvs], ignore_index=True) if sweep_runs_csvs else None
    write_claim_tables(pd.read_csv(runs_csv), by_axis(sweeps) if sweeps is not None else {}, out_claims, out_verdicts)


def write_headline_tables(runs_csv: str, out_critical: str, out_summary: str) -> None:
    """Write the critical transfer noise per task and the summary of the paper's comparisons."""
    runs = pd.read_csv(runs_csv)
    critical = critical_noise(runs)
    write_csv(critical, out_critical)
    write_csv(summary_table(runs, critical), out_summary)

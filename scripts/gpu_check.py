"""GPU check of the fast simulator in one command, sized for a short lease (one H100/H200, under 8 minutes).

Needs torch, Triton, timm, numpy and pytest, not aihwkit, Snakemake or a
network: the inputs (0.4 MiB) come from ``scripts/prepare_gpu_check.py``, run
beforehand on a CPU machine with aihwkit. From the repository root::

    .venv/bin/python scripts/prepare_gpu_check.py                                  # CPU machine: 15 s
    python scripts/gpu_check.py --inputs results/gpu-check/inputs --out OUT         # GPU machine: < 7 min

Every simulator model (small and paper Swin, 5 classes) gets its devices drawn
on the GPU from ``population.json`` and ``--seed``
(:func:`analog_tl.simulator.population.with_drawn_devices`: each tile its own
population, as aihwkit draws it), so no converted model has to travel. The
sections run in order, each until its share of ``--budget-s`` is spent
(``SECTION_ENDS``; time a section leaves goes to the next):

1. ``tests``: tests/test_simulator_gpu.py against the prepared reference cases
   (the Triton kernels on CUDA tensors against the C++ kernel's results); the
   offline sm_90 compilation test is deselected (it needs no GPU) -> ``gpu_tests.csv``;
2. ``steps``: training steps (forward, backward, optimiser step; two warm-up
   steps, then up to ``--max-steps`` measured ones, the GPU synchronised around
   each; the median) of the digital model and of the fast simulator, for each
   model and batch, with the case's peak GPU memory -> ``steps.csv``;
3. ``concurrent``: 1, 2, 4 processes training the small Swin at once on the GPU
   (batch 8), each for the same window after a common start -> ``concurrent.csv``
   (one row per job) and ``concurrent_summary.csv`` (total and per-job images/s);
4. ``epoch``: one 5-class fine-tuning epoch of the paper Swin as config/paper.yaml
   runs it (batch 8, 2250 synthetic training images, 250 validation and 500
   test images, evaluations included). When the budget left cannot hold the whole epoch, the first
   training images that fit are run and the epoch is extrapolated linearly in
   the training images (``extrapolated`` says so) -> ``epoch.csv``, with the
   100-epoch time it implies.

``manifest.json`` (versions, machine, arguments, inputs, each section's status
and seconds) is rewritten after every section, so a run cut short keeps what
finished. Exit status 1 if a section failed (a GPU test included). With
``--device cpu`` it runs on the CPU (C++ kernel; the tests in Triton's
interpreter): for trying it without a GPU, with tiny models and step counts.
"""

from __future__ import annotations

import argparse
import copy
import csv
import hashlib
import importlib.util
import json
import math
import multiprocessing
import os
import platform
import queue
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

REPO = Path(__file__).resolve().parents[1]
if importlib.util.find_spec("analog_tl") is None:  # the bare working tree on a GPU machine
    sys.path.insert(0, str(REPO / "src"))

N_CLASSES = 5
WARMUP_STEPS = 2
SECTIONS = ("tests", "steps", "concurrent", "epoch")
SECTION_ENDS = {"tests": 0.30, "steps": 0.50, "concurrent": 0.70, "epoch": 0.97}  # fraction of the budget
DESELECTED_TESTS = "not compile_for_h100"  # ptxas offline; checked on CPU machines
FIRST_SETUP_GUESS_S = 20.0  # a concurrent level's start (processes, imports, CUDA, warm-up) before one was measured
FILES = ("manifest.json", "gpu_tests.csv", "steps.csv", "concurrent.csv", "concurrent_summary.csv", "epoch.csv")


@dataclass(frozen=True)
class Budget:
    """The run's time budget on the monotonic clock: where each section must end (seconds)."""

    start: float
    seconds: float

    def deadline(self, section: str) -> float:
        return self.start + SECTION_ENDS[section] * self.seconds

    def left(self, section: str) -> float:
        """Seconds until ``section``'s deadline (negative once past)."""
        return self.deadline(section) - time.monotonic()


@dataclass(frozen=True)
class Inputs:
    """What population.json in ``--inputs`` holds: tile settings, device distributions, what they were made from."""

    settings: Any  # analog_tl.simulator.TileSettings
    population: Any  # analog_tl.simulator.population.Population
    record: dict[str, Any]


def log(start: float, message: str) -> None:
    """A progress line with the seconds since ``start``."""
    print(f"[{time.monotonic() - start:6.1f} s] {message}", flush=True)


def load_inputs(folder: Path) -> Inputs:
    """The prepared inputs in ``folder`` (scripts/prepare_gpu_check.py)."""
    from analog_tl.config import from_dict
    from analog_tl.simulator import TileSettings
    from analog_tl.simulator.population import Population

    data = json.loads((folder / "population.json").read_text())
    return Inputs(from_dict(TileSettings, data["settings"]), Population.from_dict(data["population"]), data["record"])


def file_record(path: Path) -> dict[str, Any]:
    """Size (bytes) and SHA-256 of ``path``."""
    return {"bytes": path.stat().st_size, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def versions(device: torch.device) -> dict[str, Any]:
    """What the numbers were measured with."""
    from analog_tl.provenance import project_record

    record: dict[str, Any] = {"python": platform.python_version(), "torch": torch.__version__,
                              "torch_cuda": torch.version.cuda, "platform": platform.platform(),
                              "cpus": os.cpu_count(), "device": str(device), "project": project_record()}
    try:
        import triton

        record["triton"] = triton.__version__
    except ImportError:
        record["triton"] = None
    try:
        from analog_tl.simulator import backend

        record["kernels"] = backend.describe(device)
    except Exception as error:  # recorded, not fatal: the tests and steps show what runs
        record["kernels"] = f"unavailable: {error}"
    record["environment"] = {k: v for k, v in os.environ.items() if k.startswith(("ANALOG_TL_", "TRITON_"))}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        record |= {"gpu": props.name, "gpu_memory_gib": round(props.total_memory / 2**30, 1),
                   "capability": f"{props.major}.{props.minor}", "tf32": torch.backends.cuda.matmul.allow_tf32}
    return record


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    """``rows`` as a CSV table (columns of the first row), atomically."""
    from analog_tl.io import atomic_path

    with atomic_path(path) as tmp, tmp.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]) if rows else ["status"])
        writer.writeheader()
        writer.writerows(rows)


def build_models(preset: str, inputs: Inputs, seed: int, device: torch.device) -> tuple[nn.Module, nn.Module]:
    """(digital Swin ``preset`` on the CPU, its simulator copy on ``device`` with devices drawn from ``seed``)."""
    from analog_tl.config import ModelConfig
    from analog_tl.models.factory import build_model
    from analog_tl.simulator.population import with_drawn_devices

    digital = build_model(ModelConfig(backbone="swin", preset=preset), N_CLASSES, seed=seed)
    return digital, with_drawn_devices(digital, inputs.settings, inputs.population, seed, device)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _optimizer(model: nn.Module, simulator: bool) -> torch.optim.Optimizer:
    from analog_tl.simulator import AnalogSGD

    return AnalogSGD(model, lr=0.01) if simulator else torch.optim.SGD(model.parameters(), lr=0.01)


def _batch(batch: int, seed: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Random images [batch, 3, 32, 32] and labels [batch] on ``device``."""
    g = torch.Generator().manual_seed(seed)
    images = torch.randn(batch, 3, 32, 32, generator=g)
    return images.to(device), torch.randint(0, N_CLASSES, (batch,), generator=g).to(device)


def _step(model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
          device: torch.device) -> float:
    """One training step; its seconds, the device synchronised before and after."""
    _sync(device)
    start = time.perf_counter()
    optimizer.zero_grad()
    nn.functional.cross_entropy(model(x), y).backward()
    optimizer.step()
    _sync(device)
    return time.perf_counter() - start


def time_steps(model: nn.Module, simulator: bool, batch: int, device: torch.device, max_steps: int,
               seconds: float) -> dict[str, Any]:
    """Training steps of a copy of ``model`` on ``device``: WARMUP_STEPS, then measured ones.

    Measures until ``max_steps`` or until ``seconds`` have passed (at least one
    measured step). Returns the median measured step (s), the first step (s,
    compilation included), the number measured and the case's peak GPU memory
    (MiB above what was allocated before its copy of the model; NaN on the CPU).
    """
    start = time.monotonic()
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.empty_cache()
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
    model = copy.deepcopy(model).to(device)
    optimizer = _optimizer(model, simulator)
    x, y = _batch(batch, 0, device)
    times: list[float] = []
    while len(times) < WARMUP_STEPS + max_steps:
        times.append(_step(model, optimizer, x, y, device))
        if len(times) > WARMUP_STEPS and time.monotonic() - start >= seconds:
            break
    peak = (torch.cuda.max_memory_allocated(device) - base) / 2**20 if cuda else math.nan
    measured = times[WARMUP_STEPS:]
    return {"measured_steps": len(measured), "step_seconds": statistics.median(measured),
            "first_step_seconds": times[0], "peak_gpu_mib": round(peak, 1)}


# ---------------------------------------------------------------------------------------------------------------
# Sections: each returns (status, result); status is "ok", "failed" or "skipped: <why>".


def run_tests(cases: Path, timeout_s: float, expression: str, out: Path) -> tuple[str, dict[str, Any]]:
    """tests/test_simulator_gpu.py (``-k expression``) against ``cases`` in a subprocess; writes gpu_tests.csv."""
    env = {**os.environ, "ANALOG_TL_GPU_CASES": str(cases.resolve()),
           "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    with tempfile.TemporaryDirectory() as tmp:
        junit = Path(tmp) / "junit.xml"
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", expression,
                   f"--junitxml={junit}", str(REPO / "tests" / "test_simulator_gpu.py")]
        try:
            result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO, timeout=timeout_s)
        except subprocess.TimeoutExpired as error:
            output = error.stdout.decode() if isinstance(error.stdout, bytes) else (error.stdout or "")
            summary = f"timed out after {timeout_s:.0f} s"
            write_csv(out / "gpu_tests.csv", [{"test": "(all)", "outcome": "timeout", "seconds": timeout_s,
                                               "message": summary}])
            return "failed", {"summary": summary, "output_tail": output[-3000:]}
        rows = _junit_rows(junit) if junit.is_file() else []
    write_csv(out / "gpu_tests.csv", rows)
    lines = result.stdout.strip().splitlines()
    outcomes = [row["outcome"] for row in rows]
    summary = {"summary": lines[-1] if lines else result.stderr[-500:], "returncode": result.returncode,
               "deselected": expression, **{k: outcomes.count(k) for k in ("passed", "failed", "error", "skipped")},
               "output_tail": result.stdout[-3000:]}
    return ("ok" if result.returncode == 0 and rows else "failed"), summary


def _junit_rows(path: Path) -> list[dict[str, Any]]:
    """One row per test case of a JUnit XML report: test, outcome, seconds, message."""
    rows = []
    for case in ElementTree.parse(path).getroot().iter("testcase"):
        outcome, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            child = case.find(tag)
            if child is not None:
                outcome, message = tag, (child.get("message") or "")[:300]
                break
        rows.append({"test": case.get("name"), "outcome": outcome, "seconds": float(case.get("time", "nan")),
                     "message": message.replace("\n", " ")})
    return rows


def run_steps(models: dict[str, tuple[nn.Module, nn.Module]], batches: list[int], device: torch.device,
              max_steps: int, budget: Budget, out: Path, start: float) -> tuple[str, list[dict[str, Any]]]:
    """Every (model, batch, digital | fast) case, sharing the section's time; writes steps.csv after each."""
    cases = [(preset, batch, name) for preset in models for batch in batches for name in ("digital", "fast")]
    rows: list[dict[str, Any]] = []
    for index, (preset, batch, name) in enumerate(cases):
        seconds = budget.left("steps") / (len(cases) - index)
        row: dict[str, Any] = {"model": preset, "batch": batch, "simulator": name}
        if seconds <= 0:
            rows.append(row | {"status": "skipped: budget spent"})
            continue
        model = models[preset][0 if name == "digital" else 1]
        row |= time_steps(model, name == "fast", batch, device, max_steps, seconds)
        digital = next((r for r in rows if r["model"] == preset and r["batch"] == batch
                        and r["simulator"] == "digital" and "step_seconds" in r), None)
        row["images_per_second"] = round(batch / row["step_seconds"], 2)
        row["x_digital"] = round(row["step_seconds"] / digital["step_seconds"], 2) if digital and name == "fast" else ""
        rows.append(row | {"status": "ok"})
        log(start, f"steps {preset} batch {batch} {name}: {row['step_seconds']:.4f} s/step "
                   f"({row['measured_steps']} measured), peak {row['peak_gpu_mib']} MiB")
        write_csv(out / "steps.csv", _same_columns(rows))
    write_csv(out / "steps.csv", _same_columns(rows))
    return "ok", rows


def _same_columns(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` with every column of any row (blank where missing), in first-seen order."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    return [{key: row.get(key, "") for key in columns} for row in rows]


def concurrent_job(spec: dict[str, Any], barrier: Any, results: Any) -> None:
    """One of ``spec['jobs']`` processes: build the model, warm up, wait for all, train until the window ends.

    Puts one dict on ``results``: job, steps, images, start and end (monotonic, system-wide on Linux),
    setup seconds (from ``spec['launched']`` in the parent to the end of the warm-up), peak GPU memory (MiB,
    the model included, the CUDA context not), or the error.
    """
    job = spec["job"]
    try:
        device = torch.device(spec["device"])
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // spec["jobs"]))
        _, model = build_models(spec["model"], load_inputs(Path(spec["inputs"])), spec["seed"] + job, device)
        optimizer = _optimizer(model, simulator=True)
        x, y = _batch(spec["batch"], job, device)
        for _ in range(WARMUP_STEPS):
            _step(model, optimizer, x, y, device)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        setup = time.monotonic() - spec["launched"]
        barrier.wait(timeout=spec["barrier_timeout_s"])
        begin = time.monotonic()
        stop, steps = begin + spec["window_s"], 0
        while steps == 0 or time.monotonic() < stop:
            _step(model, optimizer, x, y, device)
            steps += 1
        end = time.monotonic()
        peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else math.nan
        results.put({"job": job, "steps": steps, "images": steps * spec["batch"], "start": begin, "end": end,
                     "setup_seconds": round(setup, 2), "peak_gpu_mib": round(peak, 1)})
    except Exception:  # reported to the parent, which records it
        barrier.abort()
        results.put({"job": job, "error": traceback.format_exc()[-2000:]})


def run_concurrent_level(spec: dict[str, Any], jobs: int) -> list[dict[str, Any]]:
    """``jobs`` processes of :func:`concurrent_job` at once; their results, ordered by job."""
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(jobs), context.Queue()
    spec = spec | {"jobs": jobs, "launched": time.monotonic()}
    processes = [context.Process(target=concurrent_job, args=(spec | {"job": job}, barrier, results))
                 for job in range(jobs)]
    for process in processes:
        process.start()
    rows = []
    deadline = time.monotonic() + spec["barrier_timeout_s"] + spec["window_s"] + 30
    try:
        for _ in processes:
            rows.append(results.get(timeout=max(deadline - time.monotonic(), 1)))
    except queue.Empty:
        rows += [{"job": job, "error": "no result in time"} for job in set(range(jobs)) - {r["job"] for r in rows}]
    for process in processes:
        process.join(timeout=10)
        if process.is_alive():
            process.terminate()
            process.join()
    return sorted(rows, key=lambda r: r["job"])


def run_concurrent(inputs_folder: Path, args: argparse.Namespace, device: torch.device, budget: Budget, out: Path,
                   start: float) -> tuple[str, list[dict[str, Any]]]:
    """Each level of ``args.jobs``; writes concurrent.csv (per job) and concurrent_summary.csv (per level)."""
    spec = {"inputs": str(inputs_folder), "model": args.concurrent_model, "batch": args.concurrent_batch,
            "seed": args.seed, "device": str(device)}
    per_job: list[dict[str, Any]] = []
    summary: list[dict[str, Any]] = []
    setup_guess, status = FIRST_SETUP_GUESS_S, "ok"
    for index, jobs in enumerate(args.jobs):
        window = min(args.concurrent_seconds, budget.left("concurrent") / (len(args.jobs) - index) - setup_guess)
        if window < min(2.0, args.concurrent_seconds):
            summary.append({"jobs": jobs, "status": "skipped: budget spent"})
            continue
        # a job not ready by the section's deadline breaks the level (30 s at least: a process's start)
        barrier_timeout = max(30.0, budget.left("concurrent"))
        rows = run_concurrent_level(spec | {"window_s": window, "barrier_timeout_s": barrier_timeout}, jobs)
        failed = [r for r in rows if "error" in r]
        for r in rows:
            seconds = r.get("end", math.nan) - r.get("start", math.nan)
            per_job.append({"jobs": jobs, "job": r["job"], "steps": r.get("steps", ""), "images": r.get("images", ""),
                            "seconds": round(seconds, 3), "images_per_second": round(r.get("images", 0) / seconds, 2)
                            if "error" not in r else "", "setup_seconds": r.get("setup_seconds", ""),
                            "peak_gpu_mib": r.get("peak_gpu_mib", ""), "error": r.get("error", "")})
        if failed:
            status = "failed"
            summary.append({"jobs": jobs, "status": "failed", "error": failed[0]["error"].splitlines()[-1]})
            log(start, f"concurrent {jobs} jobs failed: {failed[0]['error']}")
        else:
            wall = max(r["end"] for r in rows) - min(r["start"] for r in rows)
            total = sum(r["images"] for r in rows) / wall
            first = next((s["total_images_per_second"] for s in summary if "total_images_per_second" in s), total)
            summary.append({"jobs": jobs, "status": "ok", "window_seconds": round(window, 2),
                            "total_images_per_second": round(total, 2),
                            "images_per_second_per_job": round(total / jobs, 2),
                            "total_vs_first_level": round(total / first, 2),
                            "setup_seconds": max(r["setup_seconds"] for r in rows),
                            "peak_gpu_mib_per_job": max(r["peak_gpu_mib"] for r in rows)})
            setup_guess = summary[-1]["setup_seconds"] + 5.0
            log(start, f"concurrent {jobs} jobs: {total:.1f} images/s in total, {total / jobs:.1f} per job")
        write_csv(out / "concurrent.csv", _same_columns(per_job))
        write_csv(out / "concurrent_summary.csv", _same_columns(summary))
    write_csv(out / "concurrent_summary.csv", _same_columns(summary))
    return status, summary


def _synthetic_data(train_images: int, eval_images: tuple[int, int]) -> Any:
    """A synthetic 5-class task: ``train_images`` training and (validation, test) images, balanced."""
    from analog_tl.data.prepared import LabelledImages, PreparedData
    from analog_tl.data.synthetic import generate, target_classes

    classes = target_classes()[:N_CLASSES]

    def split(n: int, name: str, seed: int) -> LabelledImages:
        return LabelledImages(*generate(classes, max(n // N_CLASSES, 1), seed=seed, pixel_noise=8.0, split=name))

    return PreparedData(classes, split(train_images, "train", 0), split(eval_images[0], "test", 1),
                        split(eval_images[1], "test", 2))


def _eval_seconds_per_image(simulator: nn.Module, device: torch.device, images: int) -> float:
    """Seconds per image of the simulator's evaluation (batch 256), from one timed pass after a warm-up."""
    from analog_tl.training.loop import error_rate

    data = _synthetic_data(N_CLASSES, (images, N_CLASSES)).val
    model = copy.deepcopy(simulator).to(device)
    error_rate(model, data, 256, device)
    _sync(device)
    begin = time.perf_counter()
    error_rate(model, data, 256, device)
    _sync(device)
    return (time.perf_counter() - begin) / len(data)


def images_that_fit(seconds: float, eval_image_s: float, step_s: float, n_eval: int, wanted: int) -> int:
    """Training images whose epoch run fits ``seconds``: ``wanted``, else a multiple of 8 per class (0: none).

    The run costs the initial evaluation (training and evaluation images, ``eval_image_s`` each), a batch-8
    step (``step_s``) per 8 training images and the epoch's evaluation (``n_eval`` images).
    """
    usable = seconds - 2 * eval_image_s * n_eval
    fitting = int(usable / (eval_image_s + step_s / 8)) if usable > 0 else 0
    return wanted if fitting >= wanted else fitting // (8 * N_CLASSES) * (8 * N_CLASSES)


def extrapolate(initial_s: float, epoch_s: float, n_train: int, n_eval: int, wanted: int) -> tuple[float, float]:
    """(initial evaluation, epoch) seconds for ``wanted`` training images from a run on ``n_train``.

    The initial evaluation covers training and evaluation images at one rate per image; an epoch is its
    training (linear in the training images) plus the evaluation of the ``n_eval`` images at that rate.
    """
    eval_rate = initial_s / (n_train + n_eval)
    train_s = epoch_s - eval_rate * n_eval
    return eval_rate * (wanted + n_eval), train_s * wanted / n_train + eval_rate * n_eval


def run_epoch(simulator: nn.Module, step_seconds: float, args: argparse.Namespace, device: torch.device,
              budget: Budget, out: Path, start: float) -> tuple[str, dict[str, Any]]:
    """One fine-tuning epoch (batch 8; the training images that fit the budget), extrapolated; writes epoch.csv.

    ``step_seconds``: one batch-8 training step of ``simulator``, to size the run.
    """
    from analog_tl.config import ExecutionConfig, TrainConfig
    from analog_tl.simulator import AnalogSGD
    from analog_tl.training.loop import fit

    n_eval = sum(args.eval_images)
    eval_image_s = _eval_seconds_per_image(simulator, device, min(256, args.eval_images[0]))
    train_images = images_that_fit(budget.left("epoch"), eval_image_s, step_seconds, n_eval, args.epoch_images)
    predicted = eval_image_s * (train_images + 2 * n_eval) + train_images / 8 * step_seconds
    if train_images == 0:
        return "skipped: budget spent", {"eval_seconds_per_image": eval_image_s, "step_seconds": step_seconds}
    log(start, f"epoch: {train_images} of {args.epoch_images} training images (predicted {predicted:.0f} s)")
    data = _synthetic_data(train_images, tuple(args.eval_images))
    stamps: list[float] = []
    config = TrainConfig(epochs=1, batch_size=8, lr=0.01)
    begin = time.perf_counter()
    history = fit(copy.deepcopy(simulator), lambda model: AnalogSGD(model, lr=config.lr), data, config, device,
                  "gpu check epoch", on_epoch=lambda _: stamps.append(time.perf_counter()),
                  execution=ExecutionConfig(eval_batch_size=256, log_every_steps=100))
    initial, epoch = stamps[0] - begin, stamps[1] - stamps[0]
    n_train = len(data.train)
    full_initial, full_epoch = extrapolate(initial, epoch, n_train, len(data.val) + len(data.test), args.epoch_images)
    result = {"model": args.epoch_model, "batch": 8, "train_images": args.epoch_images,
              "train_images_measured": n_train, "extrapolated": n_train < args.epoch_images,
              "val_images": len(data.val), "test_images": len(data.test), "predicted_seconds": round(predicted, 2),
              "initial_evaluation_seconds": round(initial, 3), "epoch_seconds_measured": round(epoch, 3),
              "epoch_seconds": round(full_epoch, 3),
              "hundred_epochs_hours": round((full_initial + 100 * full_epoch) / 3600, 3),
              "test_error_after_one_epoch": history[-1].test_error}
    write_csv(out / "epoch.csv", [result])
    return "ok", result


# ---------------------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--inputs", type=Path, default=Path("results/gpu-check/inputs"))
    parser.add_argument("--out", type=Path, default=Path("results/gpu-check/out"))
    parser.add_argument("--budget-s", type=float, default=390.0,
                        help="seconds for all sections (default 390: under 7 minutes with start-up on an H100)")
    parser.add_argument("--sections", nargs="+", default=list(SECTIONS), choices=SECTIONS)
    parser.add_argument("--seed", type=int, default=0, help="model weights, device populations, tile keys")
    parser.add_argument("--tests-k", default=DESELECTED_TESTS, help="pytest -k expression of the GPU tests")
    parser.add_argument("--models", nargs="+", default=["small", "paper"], choices=["tiny", "small", "paper"])
    parser.add_argument("--batches", nargs="+", type=int, default=[8, 32])
    parser.add_argument("--max-steps", type=int, default=10, help="measured steps per case at most")
    parser.add_argument("--jobs", nargs="+", type=int, default=[1, 2, 4], help="concurrent processes per level")
    parser.add_argument("--concurrent-model", default="small", choices=["tiny", "small", "paper"])
    parser.add_argument("--concurrent-batch", type=int, default=8)
    parser.add_argument("--concurrent-seconds", type=float, default=10.0, help="measured window per level at most")
    parser.add_argument("--epoch-model", default="paper", choices=["tiny", "small", "paper"])
    parser.add_argument("--epoch-images", type=int, default=2250,
                        help="training images of the epoch (5 CIFAR-100 classes less 10 %% validation)")
    parser.add_argument("--eval-images", nargs=2, type=int, default=[250, 500], metavar=("VAL", "TEST"))
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    return parser.parse_args(argv)


def check_inputs(args: argparse.Namespace) -> None:
    """Exit with one line naming the missing inputs, before any work."""
    needed = []
    if set(args.sections) - {"tests"}:
        needed.append(args.inputs / "population.json")
    if "tests" in args.sections:
        needed.append(args.inputs / "gpu_cases.pt")
    missing = [str(p) for p in needed if not p.is_file()]
    if missing:
        sys.exit(f"gpu_check: missing inputs {missing}; run scripts/prepare_gpu_check.py on a machine with aihwkit "
                 "and bring its folder")


def main(argv: list[str] | None = None) -> int:
    start = time.monotonic()
    args = parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("gpu_check: torch sees no GPU; use --device cpu to try the script without one")
    check_inputs(args)
    from analog_tl.io import write_json

    budget = Budget(start, args.budget_s)
    args.out.mkdir(parents=True, exist_ok=True)
    inputs_files = {p.name: file_record(p) for p in sorted(args.inputs.iterdir()) if p.is_file()}
    manifest: dict[str, Any] = {"check": "scripts/gpu_check.py", "arguments": vars(args),
                                "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "versions": versions(device),
                                "inputs": inputs_files, "section_ends": SECTION_ENDS, "sections": {}}
    log(start, json.dumps(manifest["versions"]))
    inputs = load_inputs(args.inputs) if set(args.sections) - {"tests"} else None
    manifest["population"] = inputs.record if inputs else None
    models: dict[str, tuple[nn.Module, nn.Module]] = {}
    steps: list[dict[str, Any]] = []

    def section(name: str, run: Any) -> Any:
        """Run one section, record its status and seconds, rewrite the manifest."""
        begin = time.monotonic()
        log(start, f"{name}: until {budget.deadline(name) - start:.0f} s")
        try:
            status, result = run()
        except Exception:
            status, result = "failed", {"error": traceback.format_exc()[-3000:]}
            log(start, f"{name} failed:\n{result['error']}")
        manifest["sections"][name] = {"status": status, "seconds": round(time.monotonic() - begin, 1),
                                      "result": result}
        manifest["wall_seconds"] = round(time.monotonic() - start, 1)
        write_json(args.out / "manifest.json", manifest)
        log(start, f"{name}: {status}")
        return result

    def models_of(preset: str) -> tuple[nn.Module, nn.Module]:
        assert inputs is not None  # loaded for every section but the tests
        if preset not in models:
            models[preset] = build_models(preset, inputs, args.seed, device)
        return models[preset]

    if "tests" in args.sections:
        section("tests", lambda: run_tests(args.inputs / "gpu_cases.pt", max(budget.left("tests"), 10),
                                           args.tests_k, args.out))
    if "steps" in args.sections:
        steps = section("steps", lambda: run_steps({p: models_of(p) for p in args.models}, args.batches, device,
                                                   args.max_steps, budget, args.out, start))
    if "concurrent" in args.sections:
        section("concurrent", lambda: run_concurrent(args.inputs, args, device, budget, args.out, start))
    if "epoch" in args.sections:
        def epoch() -> tuple[str, dict[str, Any]]:
            simulator = models_of(args.epoch_model)[1]
            known = [r["step_seconds"] for r in steps if r.get("model") == args.epoch_model and r["batch"] == 8
                     and r["simulator"] == "fast" and "step_seconds" in r]
            step = known[0] if known else time_steps(simulator, True, 8, device, 2, 0.0)["step_seconds"]
            return run_epoch(simulator, step, args, device, budget, args.out, start)

        section("epoch", epoch)
    manifest["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    manifest["files"] = sorted(p.name for p in args.out.iterdir() if p.name in FILES)
    write_json(args.out / "manifest.json", manifest)
    print(summary_markdown(manifest, steps))
    failed = [name for name, s in manifest["sections"].items() if s["status"] == "failed"]
    log(start, f"written: {args.out} ({', '.join(manifest['files'])}); failed sections: {failed or 'none'}")
    return 1 if failed else 0


def summary_markdown(manifest: dict[str, Any], steps: list[dict[str, Any]]) -> str:
    """The results as Markdown: tests, step table, concurrency, epoch."""
    sections = manifest["sections"]
    lines = []
    if "tests" in sections:
        lines.append(f"GPU tests: {sections['tests']['status']}: {sections['tests']['result'].get('summary', '')}")
    if steps:
        lines += ["", "| model | batch | simulator | step (s) | x digital | images/s | peak GPU memory (MiB) |",
                  "|---|---|---|---|---|---|---|"]
        lines += [f"| {r['model']} | {r['batch']} | {r['simulator']} | {r['step_seconds']:.4f} | {r['x_digital']} | "
                  f"{r['images_per_second']} | {r['peak_gpu_mib']} |" for r in steps if "step_seconds" in r]
    for level in sections.get("concurrent", {}).get("result", []) or []:
        if level.get("status") == "ok":
            lines.append(f"{level['jobs']} concurrent jobs: {level['total_images_per_second']} images/s in total, "
                         f"{level['images_per_second_per_job']} per job")
    epoch = sections.get("epoch", {}).get("result", {})
    if epoch.get("epoch_seconds") is not None:
        how = (f"extrapolated from {epoch['train_images_measured']} images" if epoch["extrapolated"]
               else "measured")
        lines.append(f"epoch ({epoch['model']}, {epoch['train_images']} images, {how}): "
                     f"{epoch['epoch_seconds']:.1f} s; "
                     f"100 epochs: {epoch['hundred_epochs_hours']:.2f} h")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())

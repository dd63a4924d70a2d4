"""GPU benchmark of the fast simulator: the GPU tests, training steps and one paper-Swin epoch (one command).

Runs where torch and Triton are installed, aihwkit need not be: the inputs
come from ``scripts/prepare_gpu_benchmark.py`` run beforehand on a CPU
machine with aihwkit. Usage (on the GPU machine, from the repository root)::

    python scripts/benchmark_gpu.py --inputs results/gpu-benchmark             # about 5 minutes on an H100/H200

1. ``tests/test_simulator_gpu.py`` against the prepared reference cases (the
   Triton kernels on CUDA tensors against the C++ kernel's results);
2. one training step (forward, backward, optimiser step; median over the
   measured steps after two warm-up steps, the GPU synchronised around each)
   of the digital model and of the fast simulator, for the small and the paper
   Swin at batch 8 and 32, with the peak GPU memory of each;
3. one full 5-class fine-tuning epoch of the paper Swin on the simulator
   (batch 8, 2500 training images: synthetic, the size of a CIFAR-100 5-class
   task), its evaluations included, and the 100-epoch time it implies.

Writes ``OUT/gpu_benchmark.csv`` (steps) and ``OUT/gpu_benchmark.json``
(versions, machine, tests, epoch) and prints a Markdown table. With
``--device cpu`` it runs on the CPU (C++ kernel): for trying it without a GPU.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

REPO = Path(__file__).resolve().parents[1]
N_CLASSES = 5


def versions(device: torch.device) -> dict[str, Any]:
    """What the numbers were measured with."""
    from analog_tl.provenance import project_record

    record: dict[str, Any] = {"python": platform.python_version(), "torch": torch.__version__,
                              "torch_cuda": torch.version.cuda, "machine": platform.machine(),
                              "cpus": os.cpu_count(), "project": project_record()}
    try:
        import triton

        record["triton"] = triton.__version__
    except ImportError:
        record["triton"] = None
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        record |= {"gpu": props.name, "gpu_memory_gib": round(props.total_memory / 2**30, 1),
                   "tf32": torch.backends.cuda.matmul.allow_tf32}
    return record


def run_gpu_tests(inputs: Path) -> dict[str, Any]:
    """tests/test_simulator_gpu.py on this machine, against the prepared cases."""
    env = {**os.environ, "ANALOG_TL_GPU_CASES": str((inputs / "gpu_cases.pt").resolve()),
           "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             str(REPO / "tests" / "test_simulator_gpu.py")], capture_output=True, text=True, env=env,
                            cwd=REPO)
    lines = result.stdout.strip().splitlines()
    return {"returncode": result.returncode, "summary": lines[-1] if lines else result.stderr[-500:],
            "seconds": round(time.perf_counter() - start, 1), "output_tail": result.stdout[-4000:]}


def load_models(inputs: Path, preset: str) -> tuple[nn.Module, nn.Module, dict[str, Any]]:
    """(digital model, simulator model, record) of ``preset`` from its prepared file (both on the CPU)."""
    from analog_tl.config import ModelConfig
    from analog_tl.models.factory import build_model
    from analog_tl.simulator import bundle

    digital = build_model(ModelConfig(backbone="swin", preset=preset), N_CLASSES, seed=0)
    path = inputs / f"{preset}.pt"
    data = torch.load(path, map_location="cpu", weights_only=True)
    record = data.get("record", {}) if isinstance(data, dict) else {}
    if record.get("kind") == "device sample":  # one converted tile whose devices every tile shares
        size = record["sample_size"]
        sample, _ = bundle.unpack(data, nn.Sequential(nn.Linear(size, size)), source=str(path))
        return digital, bundle.with_sampled_devices(digital, sample[0].tiles[0], seed=0), record
    simulator, record = bundle.unpack(data, source=str(path))
    return digital, simulator, record


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(model: nn.Module, simulator: bool, batch: int, steps: int, device: torch.device) -> dict[str, float]:
    """Median seconds of one training step after two warm-up steps, and the peak GPU memory (MiB)."""
    from analog_tl.simulator import AnalogSGD

    model = copy.deepcopy(model).to(device)
    optimizer = AnalogSGD(model, lr=0.01) if simulator else torch.optim.SGD(model.parameters(), lr=0.01)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 3, 32, 32, generator=g).to(device)
    y = torch.randint(0, N_CLASSES, (batch,), generator=g).to(device)
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for _ in range(steps + 2):
        _sync(device)
        start = time.perf_counter()
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
        _sync(device)
        times.append(time.perf_counter() - start)
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else float("nan")
    return {"step_seconds": statistics.median(times[2:]), "first_step_seconds": times[0], "peak_gpu_mib": peak}


def time_epoch(simulator: nn.Module, device: torch.device, train_images: int) -> dict[str, Any]:
    """One fine-tuning epoch (batch 8, evaluations included) of ``simulator`` on a synthetic 5-class task."""
    from analog_tl.config import ExecutionConfig, TrainConfig
    from analog_tl.data.prepared import LabelledImages, PreparedData
    from analog_tl.data.synthetic import generate, target_classes
    from analog_tl.simulator import AnalogSGD
    from analog_tl.training.loop import fit

    classes = target_classes()[:N_CLASSES]
    per_class = train_images // N_CLASSES

    def split(n: int, name: str, seed: int) -> LabelledImages:
        return LabelledImages(*generate(classes, n, seed=seed, pixel_noise=8.0, split=name))

    data = PreparedData(classes, split(per_class, "train", 0), split(max(per_class // 10, 1), "test", 1),
                        split(max(per_class // 5, 1), "test", 2))
    stamps: list[float] = []
    config = TrainConfig(epochs=1, batch_size=8, lr=0.01)
    start = time.perf_counter()
    history = fit(copy.deepcopy(simulator), lambda model: AnalogSGD(model, lr=config.lr), data, config, device,
                  "benchmark epoch", on_epoch=lambda _: stamps.append(time.perf_counter()),
                  execution=ExecutionConfig(eval_batch_size=256, log_every_steps=100))
    initial, epoch = stamps[0] - start, stamps[1] - stamps[0]
    return {"train_images": len(data.train), "val_images": len(data.val), "test_images": len(data.test),
            "initial_evaluation_seconds": round(initial, 3), "epoch_seconds": round(epoch, 3),  # ms: a tiny epoch is < 0.05 s
            "hundred_epochs_hours": round((initial + 100 * epoch) / 3600, 2),
            "test_error_after_one_epoch": history[-1].test_error}


def markdown(rows: list[dict[str, Any]]) -> str:
    digital = {(r["model"], r["batch"]): r["step_seconds"] for r in rows if r["simulator"] == "digital"}
    lines = ["| model | batch | simulator | step (s) | x digital | peak GPU memory (MiB) |", "|---|---|---|---|---|---|"]
    for r in rows:
        ratio = r["step_seconds"] / digital[(r["model"], r["batch"])]
        lines.append(f"| {r['model']} | {r['batch']} | {r['simulator']} | {r['step_seconds']:.4f} | {ratio:.1f} | "
                     f"{r['peak_gpu_mib']:.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--inputs", type=Path, default=Path("results/gpu-benchmark"))
    parser.add_argument("--out", type=Path, default=Path("results/benchmarks/gpu"))
    parser.add_argument("--models", nargs="+", default=["small", "paper"], choices=["tiny", "small", "paper"])
    parser.add_argument("--batches", nargs="+", type=int, default=[8, 32])
    parser.add_argument("--steps", type=int, default=10, help="measured steps per case")
    parser.add_argument("--epoch-model", default="paper", help="the model of the full-epoch run ('none': skip)")
    parser.add_argument("--epoch-images", type=int, default=2500, help="training images of the epoch run")
    parser.add_argument("--no-tests", action="store_true", help="skip tests/test_simulator_gpu.py")
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("benchmark_gpu: torch sees no GPU; use --device cpu to try the script without one")
    missing = [p for p in [*(args.inputs / f"{m}.pt" for m in args.models), args.inputs / "gpu_cases.pt"]
               if not p.is_file() and not (p.name == "gpu_cases.pt" and args.no_tests)]
    if missing:
        sys.exit(f"benchmark_gpu: missing inputs {[str(p) for p in missing]}; run scripts/prepare_gpu_benchmark.py "
                 "on a machine with aihwkit and copy its folder here")
    report: dict[str, Any] = {"versions": versions(device)}
    print(json.dumps(report["versions"]), flush=True)
    if not args.no_tests:
        report["gpu_tests"] = run_gpu_tests(args.inputs)
        print(f"GPU tests: {report['gpu_tests']['summary']} ({report['gpu_tests']['seconds']} s)", flush=True)
    rows, simulators = [], {}
    for preset in args.models:
        digital, simulator, record = load_models(args.inputs, preset)
        simulators[preset] = simulator
        report.setdefault("inputs", {})[preset] = record
        for batch in args.batches:
            for name, model in (("digital", digital), ("fast", simulator)):
                start = time.perf_counter()
                rows.append({"model": preset, "batch": batch, "simulator": name,
                             **time_steps(model, name == "fast", batch, args.steps, device)})
                print(f"{preset} batch {batch} {name}: {rows[-1]['step_seconds']:.4f} s/step "
                      f"(case {time.perf_counter() - start:.0f} s)", flush=True)
    if args.epoch_model != "none":
        if args.epoch_model not in simulators:
            simulators[args.epoch_model] = load_models(args.inputs, args.epoch_model)[1]
        report["epoch"] = {"model": args.epoch_model, **time_epoch(simulators[args.epoch_model], device,
                                                                   args.epoch_images)}
        print(f"epoch: {report['epoch']}", flush=True)
    import pandas as pd

    from analog_tl.io import atomic_path

    args.out.mkdir(parents=True, exist_ok=True)
    with atomic_path(args.out / "gpu_benchmark.csv") as tmp:
        pd.DataFrame(rows).to_csv(tmp, index=False)
    with atomic_path(args.out / "gpu_benchmark.json") as tmp:
        tmp.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(markdown(rows))
    print(f"\nwritten: {args.out}/gpu_benchmark.csv, gpu_benchmark.json")


if __name__ == "__main__":
    main()

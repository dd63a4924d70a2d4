"""Benchmark: one training step (forward, backward, optimiser step) digital, on aihwkit and on the fast simulator.

Analog steps run per algorithm (``--algorithms``, default c-TTv2; the fast
simulator computes c-TTv2, TTv2 and AGAD), each with Table I where it applies.

The fast simulator runs twice: ``reference`` with the C++ kernel's scalar
reference update (``ANALOG_TL_UPDATE_PATH=reference``), ``fast`` with the path
the CPU runs by default (AVX2 where it has it); their results are the same bit
for bit, so the ratio of their update times is the vector kernel's own speed-up.

Usage (one command, everything side by side on this machine)::

    .venv/bin/python scripts/benchmark_simulator.py                 # small and paper Swin, batch 8 and 32
    .venv/bin/python scripts/benchmark_simulator.py --models small  # the quick part only
    .venv/bin/python scripts/benchmark_simulator.py --models small --batches 8 --algorithms c-ttv2 ttv2 agad

Each (model, batch, simulator) case runs in its own process, so its peak
memory (max RSS) is its own; for the fast simulator the time its tiles spend
in the analog forward, backward and update is reported too (per step, the
warm-up step included). The step time is the median over the measured
steps after one warm-up step (the same steps for every simulator: the analog step's cost
depends on the pulse count, which depends on the data and the running maxima). Writes ``results/benchmarks/simulator.csv`` and
prints a Markdown table with the ratios to the digital step.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from analog_tl.cpu_isa import DEFAULT_LEVEL, LEVELS
from analog_tl.vocabulary import FAST_SIMULATOR_ALGORITHMS as FAST_ALGORITHMS

CASES = ("digital", "aihwkit", "reference", "fast")
ANALOG_CASES = CASES[1:]
SIMULATED = ("reference", "fast")  # the fast simulator, with the update's reference or default path


def _step_times(model, optimizer, batch: int, steps: int, classes: int = 5) -> list[float]:
    import torch

    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 3, 32, 32, generator=g)
    y = torch.randint(0, classes, (batch,), generator=g)
    loss_fn = torch.nn.CrossEntropyLoss()
    times = []
    for _ in range(steps + 1):  # the first step warms up (kernel load, allocations)
        start = time.perf_counter()
        optimizer.zero_grad()
        loss_fn(model(x), y).backward()
        optimizer.step()
        times.append(time.perf_counter() - start)
    return times[1:]


def _rpu_config(algorithm: str):  # noqa: ANN202 - an aihwkit rpu_config
    """``algorithm`` on the default device with Table I: the workflow's c-TTv2 config, or the comparison's build."""
    from analog_tl.analog.algorithms import build_algorithm_config
    from analog_tl.analog.rpu import build_rpu_config
    from analog_tl.config import AnalogConfig
    from analog_tl.vocabulary import PAPER_ALGORITHM

    if algorithm == PAPER_ALGORITHM:
        return build_rpu_config(AnalogConfig())
    return build_algorithm_config(algorithm, AnalogConfig(), {"fast_lr": 0.1})[0]


def run_case(model_name: str, batch: int, case: str, steps: int, threads: int, profile: str | None = None,
             cpu_level: str = DEFAULT_LEVEL, algorithm: str = "c-ttv2") -> dict:
    """Build the model for ``case`` and time ``steps`` training steps (``profile``: write their cProfile there).

    ``cpu_level`` pins the numerical libraries' CPU code path first, as a workflow step does (``compute.cpu_isa``).
    """
    from analog_tl import cpu_isa

    cpu_isa.pin(cpu_level)
    import torch

    from analog_tl.analog.transfer import convert
    from analog_tl.config import ModelConfig
    from analog_tl.models.factory import build_model

    torch.set_num_threads(threads)
    if case == "reference":
        from analog_tl.simulator.backend import UPDATE_PATH_ENV

        os.environ[UPDATE_PATH_ENV] = "reference"
    digital = build_model(ModelConfig(backbone="swin", preset=model_name), 5, seed=0)
    if case == "digital":
        model, optimizer = digital, torch.optim.SGD(digital.parameters(), lr=0.01)
    else:
        rpu_config = _rpu_config(algorithm)
        analog = convert(digital, rpu_config)
        if case == "aihwkit":
            from aihwkit.optim import AnalogSGD

            model, optimizer = analog, AnalogSGD(analog.parameters(), lr=0.01)
            optimizer.regroup_param_groups(analog)
        else:
            from analog_tl.simulator import AnalogSGD, from_aihwkit

            from analog_tl.simulator import kernel

            model = from_aihwkit(analog, digital, rpu_config, seed=0)
            optimizer = AnalogSGD(model, lr=0.01)
            kernel.load()  # load (or build) the kernel before timing
    phases = _time_phases() if case in SIMULATED else {}
    if profile:
        times = _profiled(lambda: _step_times(model, optimizer, batch, steps), Path(profile))
    else:
        times = _step_times(model, optimizer, batch, steps)
    per_step = {f"{name}_seconds": phases[name] / (steps + 1) for name in phases}  # warm-up step included
    return {
        "model": model_name, "batch": batch, "simulator": case, "algorithm": "" if case == "digital" else algorithm,
        "threads": threads, "steps": steps, "cpu_isa": cpu_level,
        "step_seconds": statistics.median(times), "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        **per_step,
    }


def _profiled(run, out: Path):  # noqa: ANN001, ANN202 - a thunk and what it returns
    """Run ``run()`` under cProfile; write the 30 functions with the most own time to ``out`` (text)."""
    import cProfile
    import io
    import pstats

    profiler = cProfile.Profile()
    result = profiler.runcall(run)
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(30)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text.getvalue())
    return result


def _time_phases() -> dict[str, float]:
    """Accumulate the fast simulator's time in its analog forward, backward and update (seconds, all tiles)."""
    from analog_tl.simulator.tile import SimTile

    totals = {"analog_forward": 0.0, "analog_backward": 0.0, "analog_update": 0.0}
    for name, method in (("analog_forward", "forward_mvm"), ("analog_backward", "backward_mvm"),
                         ("analog_update", "update")):
        original = getattr(SimTile, method)

        def timed(self, *args, _original=original, _name=name):
            start = time.perf_counter()
            result = _original(self, *args)
            totals[_name] += time.perf_counter() - start
            return result

        setattr(SimTile, method, timed)
    return totals


def _in_subprocess(model: str, batch: int, case: str, steps: int, threads: int, profile: Path | None,
                   cpu_level: str, algorithm: str) -> dict:
    tag = "" if algorithm == "c-ttv2" else f"_{algorithm}"
    where = str(profile / f"profile_{model}_b{batch}_{case}{tag}.txt") if profile and case in SIMULATED else None
    cmd = [sys.executable, __file__, "--case",
           json.dumps([model, batch, case, steps, threads, where, cpu_level, algorithm])]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def _steps(model: str, args: argparse.Namespace) -> int:
    """Measured steps of every simulator for ``model`` (the same steps, so the same states, for all three)."""
    return args.paper_steps if model == "paper" else args.steps


def _table(rows: list[dict]) -> str:
    digital = {(r["model"], r["batch"]): r["step_seconds"] for r in rows if r["simulator"] == "digital"}
    lines = ["| model | batch | algorithm | simulator | step (s) | x digital | analog forward / backward / update (s) | "
             "peak RSS (MiB) |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ratio = r["step_seconds"] / digital[(r["model"], r["batch"])]
        phases = " / ".join(f"{r[k]:.4f}" for k in ("analog_forward_seconds", "analog_backward_seconds",
                                                     "analog_update_seconds")) if "analog_update_seconds" in r else ""
        lines.append(f"| {r['model']} | {r['batch']} | {r['algorithm']} | {r['simulator']} | {r['step_seconds']:.4f} | "
                     f"{ratio:.1f} | {phases} | {r['peak_rss_mib']:.0f} |")
    return "\n".join(lines)


def _summary(rows: list[dict]) -> str:
    """Per model, batch and algorithm: the fast step against digital and aihwkit, and the update kernel against its
    reference."""
    by_case = {(r["model"], r["batch"], r["algorithm"], r["simulator"]): r for r in rows}
    lines = ["| model | batch | algorithm | fast / digital | aihwkit / fast | update: reference / fast | "
             "peak RSS reference / fast (MiB) |", "|---|---|---|---|---|---|---|"]
    for model, batch, algorithm in dict.fromkeys((r["model"], r["batch"], r["algorithm"]) for r in rows if r["algorithm"]):
        digital = by_case[(model, batch, "", "digital")]
        aihwkit, reference, fast = (by_case[(model, batch, algorithm, case)] for case in ANALOG_CASES)
        lines.append(
            f"| {model} | {batch} | {algorithm} | {fast['step_seconds'] / digital['step_seconds']:.1f} | "
            f"{aihwkit['step_seconds'] / fast['step_seconds']:.1f} | "
            f"{reference['analog_update_seconds'] / fast['analog_update_seconds']:.1f} | "
            f"{reference['peak_rss_mib']:.0f} / {fast['peak_rss_mib']:.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=["small", "paper"], choices=["tiny", "small", "paper"])
    parser.add_argument("--batches", nargs="+", type=int, default=[8, 32])
    parser.add_argument("--steps", type=int, default=10, help="measured steps per case (tiny and small Swin)")
    parser.add_argument("--paper-steps", type=int, default=2, help="measured steps per case of the paper Swin")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", type=Path, default=Path("results/benchmarks/simulator.csv"))
    parser.add_argument("--profile", type=Path, help="folder for a cProfile of each fast-simulator case (text)")
    parser.add_argument("--cpu-isa", choices=LEVELS, default=DEFAULT_LEVEL,
                        help="CPU code path of the numerical libraries, as compute.cpu_isa (default: %(default)s)")
    parser.add_argument("--algorithms", nargs="+", default=["c-ttv2"], choices=FAST_ALGORITHMS,
                        help="analog algorithms to time (default: %(default)s)")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(*json.loads(args.case))))
        return
    rows = []
    for model in args.models:
        for batch in args.batches:
            cases = [("digital", "")] + [(case, algorithm) for algorithm in args.algorithms for case in ANALOG_CASES]
            for case, algorithm in cases:
                start = time.perf_counter()
                rows.append(_in_subprocess(model, batch, case, _steps(model, args), args.threads, args.profile,
                                           args.cpu_isa, algorithm or "c-ttv2"))
                print(f"{model} batch {batch} {algorithm} {case}: {rows[-1]['step_seconds']:.4f} s/step "
                      f"(case took {time.perf_counter() - start:.0f} s)", file=sys.stderr, flush=True)
    import pandas as pd

    args.out.parent.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(rows)
    frame["machine"] = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    tmp = args.out.with_name(f".{args.out.name}.tmp-{os.getpid()}")
    frame.to_csv(tmp, index=False)
    tmp.replace(args.out)
    print(_table(rows))
    print()
    print(_summary(rows))
    print(f"\nwritten: {args.out}")


if __name__ == "__main__":
    main()

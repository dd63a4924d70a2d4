"""Predict when Figs. 2/3 and the whole default workflow finish on 2 cores for given budgets.

A list scheduler over the default config's jobs (priorities as in workflow/rules/common.smk: preflight 100,
data and pre-training 60, everything behind Figs. 2 and 3 50, sweeps and comparison 0), with each training
job's time = fixed overhead + (epochs + 1) x its measured per-epoch time (epoch 0 is the evaluation before
training), and the other jobs' times as measured. Inputs: the job table of a measurement run (columns job,
group, task, simulator, epochs, job_seconds, epoch_seconds_sum, overhead_seconds).

    .venv/bin/python docs/results/default/budget/plan_budget.py docs/results/default/budget/jobs_43483f5.csv
"""
from __future__ import annotations

import argparse
import heapq
import itertools

import pandas as pd

SMALL = {"preflight": 3, "prepare": 6, "task_data": 3, "plan": 2.7, "convert": 3.7, "select": 3, "aggregate": 3,
         "headline": 2, "plot": 5, "pairs": 6, "aggregate_sweep": 2.6, "aggregate_compare": 4}


def rates(jobs: pd.DataFrame) -> dict:
    """Median overhead (s) and per-epoch time (s) per (group, task, simulator[, digital])."""
    jobs = jobs.assign(per_epoch=jobs.epoch_seconds_sum / (jobs.epochs + 1),
                       kind=(jobs.job.str.contains("digital_") | (jobs.group == "pretrain")).map({True: "digital", False: "analog"}))
    key = ["group", "task", "simulator", "kind"]
    table = jobs.fillna({"simulator": "", "task": ""}).groupby(key)[["overhead_seconds", "per_epoch"]].median()
    return {k: (r.overhead_seconds, r.per_epoch) for k, r in table.iterrows()}


def job_list(r: dict, P: int, E: int, S: int, C: int, sweep_tasks, compare_tasks) -> list[tuple]:
    """(name, seconds, priority, dependencies) of every job of the default config at these budgets."""
    def t(group, task, epochs, sim="", kind="analog"):
        overhead, per_epoch = r[(group, task, sim, kind)]
        return overhead + per_epoch * (epochs + 1)

    J = [("preflight", SMALL["preflight"], 100, []), ("prepare", SMALL["prepare"], 60, []),
         ("pretrain", t("pretrain", "", P, kind="digital"), 60, ["prepare", "preflight"]),
         ("pairs", SMALL["pairs"], 0, [])]
    figs = []
    for task in ("2class", "5class"):
        J.append((f"data_{task}", SMALL["task_data"], 50, []))
        base = [f"data_{task}", "preflight"]
        J.append((f"dscratch_{task}", t("main", task, E, kind="digital"), 50, base))
        J.append((f"ascratch_{task}", t("main", task, E), 50, base))
        J.append((f"dtl_{task}", t("main", task, E, kind="digital"), 50, base + ["pretrain"]))
        for n in range(5):
            J.append((f"conv_{task}_{n}", SMALL["convert"], 50, ["pretrain"]))
        J.append((f"tl_{task}_0", t("main", task, E), 50, base + [f"conv_{task}_0"]))
        J.append((f"select_{task}", SMALL["select"], 50, [f"tl_{task}_0", f"ascratch_{task}"]))
        for n in range(1, 5):
            J.append((f"tl_{task}_{n}", t("main", task, E), 50, base + [f"conv_{task}_{n}", f"select_{task}"]))
        J.append((f"frozen_{task}", t("main", task, E), 50, base + [f"conv_{task}_0", f"select_{task}"]))
        figs += [f"dscratch_{task}", f"ascratch_{task}", f"dtl_{task}", f"frozen_{task}"] + [f"tl_{task}_{n}" for n in range(5)]
    J += [("aggregate", SMALL["aggregate"], 50, figs), ("headline", SMALL["headline"], 50, ["aggregate"]),
          ("fig2", SMALL["plot"], 50, ["aggregate"]), ("fig3", SMALL["plot"], 50, ["headline"])]
    sweeps = []
    for task, axis, value, lr in itertools.product(sweep_tasks, range(5), range(2), range(2)):
        name = f"sweep_{task}_{axis}_{value}_{lr}"
        J.append((name, t("sweeps", task, S), 0, ["pretrain", f"select_{task}"]))
        sweeps.append(name)
    J += [(f"agg_sweep_{a}", SMALL["aggregate_sweep"], 0, sweeps) for a in range(5)]
    J += [(f"plot_sweep_{p}", SMALL["plot"], 0, [f"agg_sweep_{a}" for a in range(5)]) for p in range(3)]
    compare = []
    for task in compare_tasks:
        arms = [("aihwkit", 4), ("fast", 8)]  # AGAD x 2 devices x 2 fast_lrs; c-TTv2 x 2 devices x 2 + 2 ablations x 2
        for sim, n in arms:
            for i in range(n):
                name = f"cmp_{task}_{sim}_{i}"
                J.append((name, t("compare", task, C, sim), 0, ["pretrain", "pairs"]))
                compare.append(name)
    J += [("agg_compare", SMALL["aggregate_compare"], 0, compare)]
    J += [(f"plot_compare_{p}", SMALL["plot"], 0, ["agg_compare"]) for p in range(2)]
    return J


def schedule(J: list[tuple], cores: int = 2) -> dict[str, float]:
    """End time (s) of every job under list scheduling by priority (then list order) on ``cores`` cores."""
    order = {name: i for i, (name, *_) in enumerate(J)}
    info = {name: (sec, prio, deps) for name, sec, prio, deps in J}
    done, end, running, now = set(), {}, [], 0.0
    pending = set(info)
    while pending or running:
        ready = sorted((n for n in pending if all(d in done for d in info[n][2])), key=lambda n: (-info[n][1], order[n]))
        while ready and len(running) < cores:
            n = ready.pop(0)
            pending.discard(n)
            heapq.heappush(running, (now + info[n][0], n))
        now, n = heapq.heappop(running)
        done.add(n)
        end[n] = now
    return end


def predict(r: dict, P: int, E: int, S: int, C: int, sweep_tasks, compare_tasks, startup: float) -> tuple[float, float]:
    """Predicted seconds from the start to Figs. 2 and 3, and to the end of the workflow."""
    end = schedule(job_list(r, P, E, S, C, sweep_tasks, compare_tasks))
    return max(end["fig2"], end["fig3"]) + startup, max(end.values()) + startup


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("jobs", help="job table of the measurement run (CSV)")
    parser.add_argument("--startup", type=float, default=5.0, help="Snakemake's start-up before the first job (s)")
    args = parser.parse_args()
    r = rates(pd.read_csv(args.jobs))
    for key, (o, e) in sorted(r.items()):
        print(f"{'/'.join(k for k in key if k):28s} overhead {o:5.2f} s  per epoch {e:5.2f} s")
    both, two = ("2class", "5class"), ("2class",)
    figs, end = predict(r, 20, 15, 10, 3, both, both, args.startup)
    print(f"budgets of the measurement run (P 20, E 15, S 10, C 3, all tasks): figs {figs:.0f} s, end {end:.0f} s")
    limit_figs, limit_end = 0.95 * 300, 0.95 * 720
    print(f"limits: figs {limit_figs:.0f} s, end {limit_end:.0f} s (95 % of 5 and 12 minutes)")
    print("pre-training and fine-tuning epochs (P, E) = round(20 f), round(15 f):")
    for f in (1 / 2, 2 / 5, 1 / 3, 1 / 4):
        P, E = round(20 * f), round(15 * f)
        figs, _ = predict(r, P, E, 10, 3, two, two, args.startup)
        print(f"  f {f:.3f}: P {P:2d} E {E:2d}  figs {figs:4.0f} s  {'fits' if figs <= limit_figs else 'too slow'}")
    print("sweep and comparison epochs (S, C) at P 7, E 5:")
    for tasks, S, C in ((two, 10, 3), (both, 10, 3), (both, 3, 1)):
        _, end = predict(r, 7, 5, S, C, tasks, tasks, args.startup)
        print(f"  tasks {'+'.join(tasks):14s} S {S:2d} C {C}: end {end:4.0f} s  {'fits' if end <= limit_end else 'too slow'}")


if __name__ == "__main__":
    main()

"""Orchestration overhead of hpsearch vs Optuna, and parallel efficiency of the LocalExecutor.

Run:  .venv/bin/python benchmarks/overhead.py [--n-trials 2000] [--repeats 3]

1. Per-trial overhead of a no-op objective on the SQLite default (every event committed):
   hpsearch with InlineExecutor and with LocalExecutor(2), and Optuna (RandomSampler, SQLite
   storage, same trial count), in the same run. Median of --repeats runs.
2. 64 trials of time.sleep(0.5) on LocalExecutor(8) against the ideal 4.0 s: with the pool
   already started (steady state: workers live across trials and studies) and from a cold start
   (spawning the 8 workers included).
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time

import hpsearch as hp


def noop(params):
    return params["x"]


def sleep_half(params):
    time.sleep(0.5)
    return params["x"]


def _db(tmp, name):
    return f"sqlite:///{os.path.join(tmp, name)}"


def hpsearch_noop(n, executor, tmp, tag):
    study = hp.create_study(f"noop-{tag}", space={"x": hp.Float(0, 1)},
                            storage=_db(tmp, f"{tag}.db"), searcher=hp.RandomSearcher(seed=0))
    if isinstance(executor, hp.LocalExecutor):
        executor.start(noop)  # workers are long-lived: do not count their start-up per trial
    t0 = time.perf_counter()
    study.optimize(noop, n_trials=n, executor=executor)
    dt = time.perf_counter() - t0
    assert study.n_finished == n
    return dt / n * 1e3


def optuna_noop(n, tmp, tag):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name=f"noop-{tag}", storage=_db(tmp, f"optuna-{tag}.db"),
                                sampler=optuna.samplers.RandomSampler(seed=0))
    t0 = time.perf_counter()
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=n)
    dt = time.perf_counter() - t0
    assert len(study.trials) == n
    return dt / n * 1e3


def parallel_sleep(cold):
    with tempfile.TemporaryDirectory() as tmp:
        study = hp.create_study("sleep", space={"x": hp.Float(0, 1)}, storage=_db(tmp, "s.db"),
                                searcher="random", seed=0)  # orchestration only, not a model
        ex = hp.LocalExecutor(n_workers=8)
        try:
            if not cold:
                ex.start(sleep_half)
            t0 = time.perf_counter()
            study.optimize(sleep_half, n_trials=64, executor=ex)
            return time.perf_counter() - t0
        finally:
            ex.shutdown()


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-trials", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    n = args.n_trials
    rows = {"hpsearch InlineExecutor": [], "hpsearch LocalExecutor(2)": [], "Optuna 5 (RandomSampler)": []}
    with tempfile.TemporaryDirectory() as tmp:
        local = hp.LocalExecutor(n_workers=2)
        try:
            for r in range(args.repeats):
                rows["hpsearch InlineExecutor"].append(
                    hpsearch_noop(n, hp.InlineExecutor(), tmp, f"inline{r}"))
                rows["hpsearch LocalExecutor(2)"].append(hpsearch_noop(n, local, tmp, f"local{r}"))
                rows["Optuna 5 (RandomSampler)"].append(optuna_noop(n, tmp, f"o{r}"))
        finally:
            local.shutdown()
    optuna_ms = statistics.median(rows["Optuna 5 (RandomSampler)"])
    print(f"## No-op objective, {n} trials, SQLite, median of {args.repeats} runs")
    print("| runner | ms per trial | vs Optuna |")
    print("|---|---|---|")
    for name, v in rows.items():
        m = statistics.median(v)
        print(f"| {name} | {m:.3f} | {m / optuna_ms:.3f}x |")
    warm = [parallel_sleep(cold=False) for _ in range(args.repeats)]
    cold = [parallel_sleep(cold=True) for _ in range(args.repeats)]
    print()
    print("## 64 trials of time.sleep(0.5) on LocalExecutor(8), ideal 4.0 s")
    print("| start | wall time (s), median | vs ideal |")
    print("|---|---|---|")
    for name, v in (("pool already started", warm), ("cold (spawning 8 workers included)", cold)):
        m = statistics.median(v)
        print(f"| {name} | {m:.3f} | +{(m / 4.0 - 1) * 100:.1f}% |")
    print(f"\npython {sys.version.split()[0]}, {os.cpu_count()} cores")


if __name__ == "__main__":
    main()

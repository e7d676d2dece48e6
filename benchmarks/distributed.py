"""Distributed executors side by side: LocalExecutor, RayExecutor, DaskExecutor and Ray Tune.

1. Throughput: ``--n-trials`` trials of ``time.sleep(--sleep)`` on ``--slots`` concurrent slots
   (ideal wall time: n_trials * sleep / slots = 4.0 s by default), through ``Study.optimize``
   (SQLite storage, random searcher) for the hpsearch executors, and through ``tune.Tuner.fit``
   (its default search, ``max_concurrent_trials=slots``) on the same Ray cluster for Ray Tune.
   Cluster start-up is timed apart; executor start-up (actors, objective shipping) is included.
2. Report round trip: one trial that calls ``reporter.report`` ``--n-reports`` times, driven
   through the executor protocol (the driver answers each report at once, no storage): the mean
   time of one report and its decision, as the worker sees it. For Ray Tune, the mean cost of one
   ``tune.report`` call inside a trial (Tune does not wait for a decision).

Run: ``.venv/bin/python benchmarks/distributed.py`` (results go to BENCHMARKS.md by hand).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

# This file is named like the ``distributed`` package: keep its folder off the import path.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import hpsearch as hp  # noqa: E402
from hpsearch.executors import Failed, Finished, LocalExecutor, Reported, Stopped  # noqa: E402


def sleeper(params):
    time.sleep(params["sleep"])
    return params["x"]


def chatty(params, reporter):
    t0 = time.perf_counter()
    for i in range(params["n"]):
        reporter.report(i + 1, 0.5)
    return (time.perf_counter() - t0) / params["n"]


def run_study(executor, n_trials, sleep, db_dir, name):
    """(seconds to start the executor's workers, wall seconds of optimize with them warm)."""
    t0 = time.perf_counter()
    executor.start(sleeper)  # workers up, objective shipped; optimize's own start() is then cheap
    started = time.perf_counter() - t0
    study = hp.create_study(name, space={"x": hp.Float(0, 1), "sleep": hp.Categorical([sleep])},
                            storage=f"sqlite:///{db_dir}/{name}.db", seed=0)
    t0 = time.perf_counter()
    study.optimize(sleeper, n_trials=n_trials, executor=executor, catch_signals=False)
    wall = time.perf_counter() - t0
    assert study.counts()["COMPLETED"] == n_trials, study.counts()
    return started, wall


def round_trip(executor, n_reports):
    """Mean seconds of one report + decision, measured in the worker."""
    executor.start(chatty)
    executor.submit(0, {"n": n_reports})
    result = None
    while result is None:
        for ev in executor.events(5.0):
            if isinstance(ev, Reported):
                executor.send_decision(ev.number, False)
            elif isinstance(ev, Finished):
                result = ev.result
            elif isinstance(ev, (Failed, Stopped)):
                raise RuntimeError(f"round-trip trial ended with {ev}")
    return result


def bench_ray_tune(n_trials, sleep, slots, n_reports):
    from ray import tune

    def trainable(config):
        time.sleep(config["sleep"])
        tune.report({"value": config["x"]})

    def chatty_tune(config):
        t0 = time.perf_counter()
        for i in range(config["n"]):
            tune.report({"value": 0.5, "i": i})
        tune.report({"value": 0.5, "per_report": (time.perf_counter() - t0) / config["n"]})

    storage = tempfile.mkdtemp(prefix="tune-")
    tuner = tune.Tuner(
        trainable, param_space={"x": tune.uniform(0, 1), "sleep": sleep},
        tune_config=tune.TuneConfig(num_samples=n_trials, max_concurrent_trials=slots,
                                    metric="value", mode="min"),
        run_config=tune.RunConfig(storage_path=storage, verbose=0))
    t0 = time.perf_counter()
    results = tuner.fit()
    wall = time.perf_counter() - t0
    assert len(results) == n_trials and not results.errors, results.errors
    tuner = tune.Tuner(chatty_tune, param_space={"n": n_reports},
                       tune_config=tune.TuneConfig(num_samples=1, metric="value", mode="min"),
                       run_config=tune.RunConfig(storage_path=storage, verbose=0))
    res = tuner.fit()
    per_report = res[0].metrics["per_report"]
    return wall, per_report


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-trials", type=int, default=64)
    ap.add_argument("--sleep", type=float, default=0.5)
    ap.add_argument("--slots", type=int, default=8)
    ap.add_argument("--n-reports", type=int, default=200)
    ap.add_argument("--only", nargs="*", default=["local", "ray", "dask", "tune"])
    args = ap.parse_args()
    ideal = args.n_trials * args.sleep / args.slots
    rows = []
    db_dir = tempfile.mkdtemp(prefix="hpsearch-dist-")
    print(f"{args.n_trials} trials of sleep({args.sleep}) on {args.slots} slots; ideal "
          f"{ideal:.2f} s; {os.cpu_count()} cores; load {os.getloadavg()[0]:.1f}", flush=True)

    if "local" in args.only:
        with LocalExecutor(n_workers=args.slots) as ex:
            start, wall = run_study(ex, args.n_trials, args.sleep, db_dir, "local")
            rt = round_trip(ex, args.n_reports)
        rows.append(("LocalExecutor(8)", 0.0, start, wall, rt))
        print(rows[-1], flush=True)

    if {"ray", "tune"} & set(args.only):
        import ray

        from hpsearch.executors.ray import RayExecutor

        t0 = time.perf_counter()
        ray.init(num_cpus=args.slots, include_dashboard=False, configure_logging=False,
                 log_to_driver=False)
        up = time.perf_counter() - t0
        if "ray" in args.only:
            ex = RayExecutor()
            try:
                start, wall = run_study(ex, args.n_trials, args.sleep, db_dir, "ray")
                rt = round_trip(ex, args.n_reports)
            finally:
                ex.shutdown()
            rows.append(("RayExecutor (local cluster, 8 CPUs)", up, start, wall, rt))
            print(rows[-1], flush=True)
        if "tune" in args.only:
            wall, rt = bench_ray_tune(args.n_trials, args.sleep, args.slots, args.n_reports)
            rows.append(("Ray Tune 2.60 (same cluster)", up, float("nan"), wall, rt))
            print(rows[-1], flush=True)
        ray.shutdown()

    if "dask" in args.only:
        import distributed

        from hpsearch.executors.dask import DaskExecutor

        t0 = time.perf_counter()
        cluster = distributed.LocalCluster(n_workers=args.slots, threads_per_worker=1,
                                           processes=True, host="127.0.0.1",
                                           dashboard_address=None)
        up = time.perf_counter() - t0
        ex = DaskExecutor(cluster.scheduler_address)
        try:
            start, wall = run_study(ex, args.n_trials, args.sleep, db_dir, "dask")
            rt = round_trip(ex, args.n_reports)
        finally:
            ex.shutdown()
            cluster.close()
        rows.append(("DaskExecutor (LocalCluster, 8 workers x 1 thread)", up, start, wall, rt))
        print(rows[-1], flush=True)

    print()
    print(f"| executor | cluster start (s) | executor start (s) | {args.n_trials} x "
          f"sleep({args.sleep}), warm (s) | vs ideal {ideal:.1f} s | start + run (s) | "
          "one report + decision (ms) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, up, start, wall, rt in rows:
        total = wall if start != start else start + wall  # Tune's wall includes its start
        start_s = "in run" if start != start else f"{start:.1f}"
        print(f"| {name} | {up:.1f} | {start_s} | {wall:.2f} | {100 * (wall / ideal - 1):+.0f} % "
              f"| {total:.1f} | {1000 * rt:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

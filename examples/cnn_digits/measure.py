"""Random search on the CNN objective without hpsearch, and divergence rules replayed on it.

For each seed, 100 configurations are drawn from the search space of ``train.py`` with
``numpy.random.default_rng(seed)``, each is trained for 10 epochs in a
``multiprocessing.Pool(2)`` with a reporter that only records ``(epoch, accuracy, loss)``,
and the script prints the best final validation accuracy, seconds per epoch, wall time and
the fraction of configurations that never learn (validation accuracy never above 0.2).
Then it replays candidate divergence stopping rules on the recorded curves; a rule sees
the reports so far of one trial and stops it after epoch ``e`` when

* (a) ``loss`` is non-finite or above ``upper_bound``, or
* (b) ``loss`` is above ``max_ratio`` times the first reported loss, or
* (c) the accuracy is at most ``threshold`` and ``e >= grace_budget``.

For each rule it prints the fraction of epochs saved (versus the epochs the trials
actually ran), whether the best trial of any seed would have been stopped, and how many
good trials (final accuracy >= 0.9) would have been stopped.

Usage (from the repository root, about 2-3 minutes on 2 cores)::

    .venv/bin/python examples/cnn_digits/measure.py                  # seeds 0 1 2
    .venv/bin/python examples/cnn_digits/measure.py --save /tmp/runs.json
    .venv/bin/python examples/cnn_digits/measure.py --load /tmp/runs.json   # rules only
    .venv/bin/python examples/cnn_digits/measure.py --momentum 0 --seeds 0  # ablation
    .venv/bin/python examples/cnn_digits/measure.py --time-mnist     # one mnist trial
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import multiprocessing
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train  # noqa: E402  (the example's objective, next to this file)

NEVER_LEARNS = 0.2  # max validation accuracy at or below this: the trial never learned
GOOD = 0.9  # final validation accuracy at or above this: a trial a rule must not stop


class RecordingReporter:
    """A stand-in for hpsearch's reporter that keeps ``(epoch, accuracy, loss)``."""

    def __init__(self) -> None:
        self.reports: list[tuple[int, float, float]] = []

    def report(self, budget: float, value: float, /, **metrics: float) -> None:
        self.reports.append((int(budget), float(value), float(metrics["loss"])))


def _init_worker(overrides: dict[str, Any]) -> None:
    for name, value in overrides.items():
        setattr(train, name, value)


def _run_trial(job: tuple[int, dict[str, Any], int]) -> dict[str, Any]:
    number, params, max_epochs = job
    reporter = RecordingReporter()
    start, cpu = time.perf_counter(), time.process_time()
    result = train.train(params, reporter, max_epochs=max_epochs)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {
        "number": number,
        "params": params,
        "reports": reporter.reports,
        "result": result,
        "seconds": seconds,
        "cpu": cpu,
    }


def run_seed(
    seed: int, n_trials: int, max_epochs: int, n_workers: int, overrides: dict[str, Any]
) -> dict[str, Any]:
    """Run one random search; return its trials (sorted by number) and its wall time in s."""
    rng = np.random.default_rng(seed)
    jobs = [(i, train.sample_params(rng), max_epochs) for i in range(n_trials)]
    start = time.perf_counter()
    with multiprocessing.Pool(n_workers, initializer=_init_worker, initargs=(overrides,)) as pool:
        trials = sorted(pool.imap_unordered(_run_trial, jobs), key=lambda t: t["number"])
    return {"seed": seed, "trials": trials, "wall": time.perf_counter() - start}


def summarize(run: dict[str, Any]) -> dict[str, float]:
    trials = run["trials"]
    finals = [t["reports"][-1][1] for t in trials]
    n_epochs = sum(len(t["reports"]) for t in trials)
    return {
        "seed": run["seed"],
        "best": max(finals),
        "n_good": sum(f >= GOOD for f in finals),
        "s_per_epoch": sum(t["seconds"] for t in trials) / n_epochs,
        "cpu_per_epoch": sum(t.get("cpu", math.nan) for t in trials) / n_epochs,
        "wall": run["wall"],
        "never_learns": float(
            np.mean([max(r[1] for r in t["reports"]) <= NEVER_LEARNS for t in trials])
        ),
    }


def stop_epoch(
    reports: list[tuple[int, float, float]],
    upper_bound: float | None,
    max_ratio: float | None,
    threshold: float | None,
    grace_budget: int,
) -> int | None:
    """Return the epoch after which the divergence rule stops this trial, or None."""
    first_loss = reports[0][2]
    for epoch, accuracy, loss in reports:
        if not math.isfinite(loss) or (upper_bound is not None and loss > upper_bound):
            return epoch
        if max_ratio is not None and epoch > reports[0][0] and loss > max_ratio * first_loss:
            return epoch
        if threshold is not None and epoch >= grace_budget and accuracy <= threshold:
            return epoch
    return None


def evaluate_rule(runs: list[dict[str, Any]], rule: tuple[Any, ...]) -> dict[str, Any]:
    ran = saved = good_stopped = 0
    best_stopped = []
    for run in runs:
        trials = run["trials"]
        best = max(trials, key=lambda t: t["reports"][-1][1])
        for t in trials:
            n = len(t["reports"])
            stop = stop_epoch(t["reports"], *rule)
            ran += n
            if stop is not None and stop < n:
                saved += n - stop
                good_stopped += t["reports"][-1][1] >= GOOD
                if t is best:
                    best_stopped.append(run["seed"])
    return {
        "rule": rule,
        "saved": saved / ran,
        "best_stopped": best_stopped,
        "good_stopped": good_stopped,
    }


def rule_table(runs: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Evaluate a grid of rules; return (the rows to print, all rows)."""
    grid = itertools.product(
        (None, 1e4, 1e3, 1e2, 1e1), (None, 10.0, 2.0), (None, 0.1, 0.15, 0.2), (2, 3, 4, 5, 6)
    )
    rules = {(b, k, thr, g if thr is not None else 1) for b, k, thr, g in grid}
    rules |= {(b, None, None, 1) for b in (1e6, 1e5, 5.0, 3.0)}
    rules |= {(None, k, None, 1) for k in (1.5, 1.1, 1.0)}
    rules |= {(None, None, thr, 1) for thr in (0.1, 0.15, 0.2)}
    rules |= {(None, None, 0.3, g) for g in (2, 3, 5)}
    order = sorted(rules, key=lambda r: [-1 if x is None else x for x in r])
    rows = [evaluate_rule(runs, r) for r in order]
    single = [r for r in rows if sum(x is not None for x in r["rule"][:3]) <= 1]
    combined = [
        r
        for r in rows
        if r["rule"][:2] in ((1e2, 10.0), (1e4, 10.0)) and (r["rule"][2] or 0) >= 0.15
    ]
    return single + combined, rows


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:g}"


def print_rules(shown: list[dict[str, Any]], table: list[dict[str, Any]]) -> None:
    print(
        "\nupper_bound max_ratio threshold grace | epochs saved | best stopped (seeds)"
        " | good stopped"
    )
    for row in shown:
        b, k, thr, g = row["rule"]
        print(
            f"{_fmt(b):>11} {_fmt(k):>9} {_fmt(thr):>9} {g if thr is not None else '-':>5} |"
            f" {row['saved']:12.1%} | {str(row['best_stopped'] or 'no'):>20}"
            f" | {row['good_stopped']:>12}"
        )
    safe = [r for r in table if not r["best_stopped"]]
    safest = [r for r in safe if r["good_stopped"] == 0]
    for label, rows in (("never stops a best trial", safe), ("never stops a good trial", safest)):
        if rows:
            top = max(rows, key=lambda r: r["saved"])
            print(f"most saved over the grid, {label}: {top['rule']} saves {top['saved']:.1%}")


def time_mnist(max_epochs: int) -> None:
    params = {"learning_rate": 0.05, "batch_size": 32, "dropout": 0.2, "stddev": 0.05}
    start = time.perf_counter()
    train.load_data("mnist")
    load = time.perf_counter() - start
    reporter = RecordingReporter()
    start, cpu = time.perf_counter(), time.process_time()
    result = train.train(params, reporter, dataset="mnist", max_epochs=max_epochs)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    print(
        f"mnist: data load {load:.2f} s, {seconds / max_epochs:.3f} s/epoch"
        f" ({cpu / max_epochs:.3f} s CPU, 1 thread), {result}"
    )
    print("  reports:", [(e, round(a, 4), round(loss, 4)) for e, a, loss in reporter.reports])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--n-trials", type=int, default=100)
    parser.add_argument("--max-epochs", type=int, default=10)
    parser.add_argument("--n-workers", type=int, default=2)
    parser.add_argument("--momentum", type=float, help="override train.MOMENTUM (ablation)")
    parser.add_argument("--channels", type=int, nargs=2, help="override train._CHANNELS (ablation)")
    parser.add_argument("--hidden", type=int, help="override train._HIDDEN, 0 = none (ablation)")
    parser.add_argument("--raw-pixels", action="store_true", help="no standardization (ablation)")
    parser.add_argument("--save", type=Path, help="write the recorded trials as JSON")
    parser.add_argument("--load", type=Path, nargs="+", help="replay the rules on saved runs")
    parser.add_argument("--time-mnist", action="store_true", help="only time one mnist trial")
    args = parser.parse_args()

    overrides: dict[str, Any] = {}
    if args.momentum is not None:
        overrides["MOMENTUM"] = args.momentum
    if args.channels:
        overrides["_CHANNELS"] = tuple(args.channels)
    if args.hidden is not None:
        overrides["_HIDDEN"] = args.hidden
    if args.raw_pixels:
        overrides["_STANDARDIZE"] = False
    _init_worker(overrides)
    if args.time_mnist:
        time_mnist(3)
        return
    if args.load:
        runs = [run for path in args.load for run in json.loads(path.read_text())]
    else:
        print(
            f"model: channels {train._CHANNELS}, hidden {train._HIDDEN}, momentum {train.MOMENTUM},"
            f" standardized pixels {train._STANDARDIZE}"
        )
        runs = []
        for seed in args.seeds:
            runs.append(run_seed(seed, args.n_trials, args.max_epochs, args.n_workers, overrides))
            s = summarize(runs[-1])
            print(
                f"seed {s['seed']}: best final acc {s['best']:.4f}, {s['n_good']} trials >= {GOOD},"
                f" {s['s_per_epoch']:.3f} s/epoch ({s['cpu_per_epoch']:.3f} s CPU),"
                f" wall {s['wall']:.1f} s,"
                f" never learn {s['never_learns']:.0%}",
                flush=True,
            )
        if args.save:
            args.save.write_text(json.dumps(runs))
    print_rules(*rule_table(runs))


if __name__ == "__main__":
    main()

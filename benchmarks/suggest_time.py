"""Time per suggestion with 1,000 and 10,000 completed trials: hpsearch TPE vs Optuna TPE.

Both are multivariate TPE with their default settings, on the same 5-parameter mixed space
(two floats, one log float, one int, one categorical) and the same history of completed
trials (random params, a smooth objective). Each suggestion is followed by a completed trial,
so the history grows by one per call, as in a real study.

* hpsearch: ``TPESearcher.suggest(space, trials)`` (what the Study calls), and the full
  ``Study.ask`` + ``tell`` on an in-memory SQLite study for the end-to-end cost.
* Optuna: ``study.ask(fixed_distributions)`` + ``study.tell`` on an in-memory study (the
  sampler runs inside ``ask``); ``TPESampler(multivariate=True)``.

    python benchmarks/suggest_time.py --sizes 1000,10000 --n-calls 20

Times are CPU seconds of this process (``time.process_time``), BLAS on one thread, so that the
comparison holds on a loaded machine; ``--wall`` reports wall-clock seconds instead.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time
import warnings
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

import hpsearch as hp  # noqa: E402
from hpsearch.trial import Trial, TrialState  # noqa: E402

clock = time.process_time

SPACE = hp.SearchSpace({
    "x": hp.Float(-5, 5),
    "y": hp.Float(0, 1),
    "lr": hp.Float(1e-5, 1, log=True),
    "n": hp.Int(1, 100),
    "act": hp.Categorical(["relu", "tanh", "gelu"]),
})


def objective(p: dict[str, Any]) -> float:
    return ((p["x"] - 1) ** 2 + (p["y"] - 0.3) ** 2 + (math.log10(p["lr"]) + 3) ** 2
            + abs(p["n"] - 40) / 20 + (0.0 if p["act"] == "relu" else 0.5))


def history(n: int, seed: int = 0) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    return [SPACE.sample(rng) for _ in range(n)]


def time_hpsearch(params: list[dict[str, Any]], n_calls: int) -> list[float]:
    trials = [Trial(number=i, state=TrialState.COMPLETED, params=p, value=objective(p))
              for i, p in enumerate(params)]
    s = hp.TPESearcher(seed=0)
    s.suggest(SPACE, trials, mode="min")  # build the memo once, as a running study has it
    out = []
    for _ in range(n_calls):
        t0 = clock()
        p = s.suggest(SPACE, trials, mode="min")
        out.append(clock() - t0)
        trials.append(Trial(number=len(trials), state=TrialState.COMPLETED, params=p,
                            value=objective(p)))
    return out


def time_hpsearch_study(params: list[dict[str, Any]], n_calls: int) -> list[float]:
    study = hp.create_study(space=SPACE, storage="sqlite://", searcher=hp.TPESearcher(seed=0))
    for p in params:
        t = study.ask(p)
        study.tell(t.number, objective(p))
    out = []
    for _ in range(n_calls):
        t0 = clock()
        t = study.ask()
        out.append(clock() - t0)
        study.tell(t.number, objective(dict(t.params)))
    return out


def time_optuna(params: list[dict[str, Any]], n_calls: int) -> list[float]:
    import optuna
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    dists = {"x": FloatDistribution(-5, 5), "y": FloatDistribution(0, 1),
             "lr": FloatDistribution(1e-5, 1, log=True), "n": IntDistribution(1, 100),
             "act": CategoricalDistribution(["relu", "tanh", "gelu"])}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0, multivariate=True))
        study.add_trials([optuna.trial.create_trial(params=p, distributions=dists,
                                                    value=objective(p)) for p in params])
        out = []
        for _ in range(n_calls):
            t0 = clock()
            trial = study.ask(dists)
            out.append(clock() - t0)
            study.tell(trial, objective(trial.params))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,10000")
    ap.add_argument("--n-calls", type=int, default=20)
    ap.add_argument("--wall", action="store_true", help="wall-clock instead of CPU time")
    args = ap.parse_args(argv)
    global clock
    if args.wall:
        clock = time.perf_counter
    print("| completed trials | hpsearch TPESearcher.suggest | hpsearch Study.ask | "
          "Optuna TPE ask (multivariate) | hpsearch / Optuna |")
    print("|---|---|---|---|---|")
    for n in (int(s) for s in args.sizes.split(",")):
        params = history(n)
        a = statistics.median(time_hpsearch(params, args.n_calls))
        b = statistics.median(time_hpsearch_study(params, args.n_calls))
        c = statistics.median(time_optuna(params, args.n_calls))
        print(f"| {n:,} | {a * 1e3:.1f} ms | {b * 1e3:.1f} ms | {c * 1e3:.1f} ms | "
              f"{a / c:.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

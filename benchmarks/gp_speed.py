"""Time per suggestion of hpsearch's GPSearcher vs Optuna's GPSampler, 6-D, 50/100/200 trials.

Both get the same history of completed trials (Sobol-random params, Hartmann-6 values) and
then make ``--n-calls`` suggestions, each followed by a completed trial (the history grows by
one per call, as in a study, so Optuna's GP cache is used as it would be). Reported: median and
max wall-clock seconds per suggestion, and the median CPU seconds of the process (all threads;
less sensitive to other jobs on a shared machine than wall-clock time).

* hpsearch: ``GPSearcher.suggest(space, trials)``, what the Study calls.
* Optuna: ``study.ask(fixed_distributions)`` + ``study.tell`` on an in-memory study with
  ``GPSampler(seed=...)`` (the sampler runs inside ``ask``).

Also reports the best value reached by the last call, as a sanity check that both searched.

    python benchmarks/gp_speed.py --sizes 50,100,200 --n-calls 10
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np

import hpsearch as hp
from hpsearch.trial import Trial, TrialState

SPACE = hp.SearchSpace({f"x{i}": hp.Float(0.0, 1.0) for i in range(6)})
_A = np.array([[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14],
               [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]])
_P = 1e-4 * np.array([[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
                      [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]])
_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])


def hartmann6(p: dict) -> float:
    x = np.array([p[f"x{i}"] for i in range(6)])
    return -float(_ALPHA @ np.exp(-(_A * (x - _P) ** 2).sum(1)))


def history(n: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [SPACE.sample(rng) for _ in range(n)]


Timings = tuple[list[float], list[float], float]  # wall, cpu, best value


def time_hpsearch(params: list[dict], n_calls: int, seed: int) -> Timings:
    s = hp.GPSearcher(seed=seed)
    trials = [Trial(number=i, state=TrialState.COMPLETED, params=p, value=hartmann6(p))
              for i, p in enumerate(params)]
    times, cpu = [], []
    for _ in range(n_calls):
        t0, c0 = time.perf_counter(), time.process_time()
        p = s.suggest(SPACE, trials, mode="min")
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        trials.append(Trial(number=len(trials), state=TrialState.COMPLETED, params=p,
                            value=hartmann6(p)))
    return times, cpu, min(t.value for t in trials if t.value is not None)


def time_optuna(params: list[dict], n_calls: int, seed: int) -> Timings:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    dists = {k: optuna.distributions.FloatDistribution(0.0, 1.0) for k in SPACE}
    study = optuna.create_study(sampler=optuna.samplers.GPSampler(seed=seed))
    for p in params:
        study.add_trial(optuna.trial.create_trial(params=p, distributions=dists,
                                                  value=hartmann6(p)))
    times, cpu = [], []
    for _ in range(n_calls):
        t0, c0 = time.perf_counter(), time.process_time()
        trial = study.ask(dists)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        study.tell(trial, hartmann6(trial.params))
    return times, cpu, study.best_value


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="50,100,200")
    ap.add_argument("--n-calls", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    print("| trials | hpsearch GP wall median (max) | CPU median | Optuna GPSampler wall median "
          "(max) | CPU median | best after the calls, hpsearch / Optuna |")
    print("|---|---|---|---|---|---|")
    med = statistics.median
    for n in (int(x) for x in args.sizes.split(",")):
        params = history(n, args.seed)
        w1, c1, b1 = time_hpsearch(params, args.n_calls, args.seed)
        w2, c2, b2 = time_optuna(params, args.n_calls, args.seed)
        print(f"| {n} | {med(w1):.3f} s ({max(w1):.3f}) | {med(c1):.3f} s | {med(w2):.3f} s "
              f"({max(w2):.3f}) | {med(c2):.3f} s | {b1:.3f} / {b2:.3f} |", flush=True)


if __name__ == "__main__":
    main()

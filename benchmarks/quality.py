"""Search quality: best value found after 25 / 50 / 100 trials, hpsearch vs Optuna vs Hyperopt.

Every (problem, method, seed) run is cached in a JSON results file (the best-so-far curve and
the wall time), so partial runs accumulate and an interrupted benchmark resumes where it
stopped. ``--report`` prints the Markdown tables of BENCHMARKS.md from the file.

    python benchmarks/quality.py --problems branin,rosenbrock --seeds 0-9
    python benchmarks/quality.py --report

hpsearch runs through the real Study ask/tell loop (in-memory SQLite); Optuna through its
ask/tell-equivalent ``optimize`` with the same objective; Hyperopt through ``fmin``. All
problems are minimized. Objectives that use BLAS/OpenMP are limited to one thread.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import logging
import math
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

import hpsearch as hp  # noqa: E402

ROOT = Path(__file__).resolve().parent
DEFAULT_RESULTS = ROOT / "results" / "quality.json"
CHECKPOINTS = (25, 50, 100)

Objective = Callable[[dict[str, Any]], float]


# -- problems ------------------------------------------------------------------------------
def branin(p: dict[str, Any]) -> float:
    x1, x2 = p["x1"], p["x2"]
    b, c = 5.1 / (4 * math.pi ** 2), 5 / math.pi
    return (x2 - b * x1 ** 2 + c * x1 - 6) ** 2 + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x1) + 10


def rosenbrock(p: dict[str, Any]) -> float:
    x = [p[f"x{i}"] for i in range(5)]
    return float(sum(100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2 for i in range(4)))


def styblinski_tang(p: dict[str, Any]) -> float:
    x = np.array([p[f"x{i}"] for i in range(8)])
    return float(0.5 * np.sum(x ** 4 - 16 * x ** 2 + 5 * x))


_ACT = {"relu": 0.0, "gelu": 0.2, "tanh": 1.0, "sigmoid": 2.0}
_OPT = {"adam": 0.0, "rmsprop": 0.5, "sgd": 1.5}


def mixed(p: dict[str, Any]) -> float:
    """A made-up mixed problem: minimum 0 at x=1.3, lr=10**-2.5, units=16, layers=3, relu, adam.

    The best learning rate depends on the optimizer (sgd prefers 10**-1.5) and tanh is worse
    with deep networks: interactions a univariate model cannot see.
    """
    lr_opt = -1.5 if p["optimizer"] == "sgd" else -2.5
    v = (p["x"] - 1.3) ** 2 + (math.log10(p["lr"]) - lr_opt) ** 2
    v += 0.5 * (math.log2(p["units"]) - 4) ** 2 + 0.7 * abs(p["layers"] - 3)
    v += _ACT[p["activation"]] + _OPT[p["optimizer"]]
    v += 1.0 if (p["activation"] == "tanh" and p["layers"] > 4) else 0.0
    return float(v)


_DIGITS: Any = None


def hgb_digits(p: dict[str, Any]) -> float:
    """3-fold CV error of HistGradientBoostingClassifier on load_digits (15 boosting rounds)."""
    global _DIGITS
    from sklearn.datasets import load_digits
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import cross_val_score

    if _DIGITS is None:
        _DIGITS = load_digits(return_X_y=True)
    x, y = _DIGITS
    model = HistGradientBoostingClassifier(
        learning_rate=p["learning_rate"], max_leaf_nodes=p["max_leaf_nodes"],
        min_samples_leaf=p["min_samples_leaf"], l2_regularization=p["l2_regularization"],
        max_iter=15, early_stopping=False, random_state=0)
    return float(1.0 - cross_val_score(model, x, y, cv=3).mean())


_CNN: Any = None


def cnn_digits(p: dict[str, Any]) -> float:
    """Validation error of examples/cnn_digits after 3 epochs (one torch thread)."""
    global _CNN
    if _CNN is None:
        import torch

        torch.set_num_threads(1)
        sys.path.insert(0, str(ROOT.parent))
        from examples.cnn_digits.train import make_objective

        _CNN = make_objective(max_epochs=3)
    return float(1.0 - _CNN(dict(p))["accuracy"])


PROBLEMS: dict[str, tuple[dict[str, hp.Distribution], Objective]] = {
    "branin": ({"x1": hp.Float(-5, 10), "x2": hp.Float(0, 15)}, branin),
    "rosenbrock": ({f"x{i}": hp.Float(-5, 10) for i in range(5)}, rosenbrock),
    "styblinski_tang": ({f"x{i}": hp.Float(-5, 5) for i in range(8)}, styblinski_tang),
    "mixed": ({
        "x": hp.Float(-5, 5),
        "lr": hp.Float(1e-5, 1.0, log=True),
        "units": hp.Int(1, 256, log=True),
        "layers": hp.Int(1, 8),
        "activation": hp.Categorical(["relu", "tanh", "sigmoid", "gelu"]),
        "optimizer": hp.Categorical(["sgd", "adam", "rmsprop"]),
    }, mixed),
    "hgb_digits": ({
        "learning_rate": hp.Float(1e-3, 1.0, log=True),
        "max_leaf_nodes": hp.Int(4, 64, log=True),
        "min_samples_leaf": hp.Int(1, 50),
        "l2_regularization": hp.Float(1e-6, 10.0, log=True),
    }, hgb_digits),
    "cnn_digits": ({
        "learning_rate": hp.Float(1e-6, 10.0, log=True),
        "batch_size": hp.Int(30, 99),
        "dropout": hp.Float(0.0, 1.0),
        "stddev": hp.Float(1e-3, 10.0, log=True),
    }, cnn_digits),
}


# -- methods -------------------------------------------------------------------------------
def run_hpsearch(name: str, space: dict[str, Any], f: Objective, n: int, seed: int) -> list[float]:
    study = hp.create_study(space=space, storage="sqlite://", searcher=name, seed=seed)
    values = []
    for _ in range(n):
        t = study.ask()
        v = f(dict(t.params))
        study.tell(t.number, v)
        values.append(v)
    return values


def _optuna_suggest(trial: Any, space: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, d in space.items():
        if isinstance(d, hp.Categorical):
            out[k] = trial.suggest_categorical(k, list(d.choices))
        elif isinstance(d, hp.Int):
            out[k] = trial.suggest_int(k, d.low, d.high, log=d.log, step=d.step)
        else:
            out[k] = trial.suggest_float(k, d.low, d.high, log=d.log, step=d.step)
    return out


def run_optuna(kind: str, space: dict[str, Any], f: Objective, n: int, seed: int) -> list[float]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    samplers = {
        "optuna-tpe-mv": lambda: optuna.samplers.TPESampler(seed=seed, multivariate=True),
        "optuna-tpe": lambda: optuna.samplers.TPESampler(seed=seed),
        "optuna-gp": lambda: optuna.samplers.GPSampler(seed=seed),
        "optuna-cmaes": lambda: optuna.samplers.CmaEsSampler(seed=seed),
    }
    study = optuna.create_study(sampler=samplers[kind]())
    values: list[float] = []

    def objective(trial: Any) -> float:
        v = f(_optuna_suggest(trial, space))
        values.append(v)
        return v

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study.optimize(objective, n_trials=n)
    return values


def run_hyperopt(kind: str, space: dict[str, Any], f: Objective, n: int,
                 seed: int) -> list[float]:
    from hyperopt import Trials, fmin, rand, tpe
    from hyperopt import hp as hh

    hspace = {}
    for k, d in space.items():
        if isinstance(d, hp.Categorical):
            hspace[k] = hh.choice(k, list(d.choices))
        elif isinstance(d, hp.Int):
            if d.log:
                hspace[k] = hh.qloguniform(k, math.log(d.low), math.log(d.high), 1)
            else:
                hspace[k] = hh.quniform(k, d.low - 0.5, d.high + 0.5, 1)
        elif d.log:
            hspace[k] = hh.loguniform(k, math.log(d.low), math.log(d.high))
        else:
            hspace[k] = hh.uniform(k, d.low, d.high)
    values: list[float] = []

    def objective(p: dict[str, Any]) -> float:
        q = dict(p)
        for k, d in space.items():
            if isinstance(d, hp.Int):
                q[k] = int(min(max(round(q[k]), d.low), d.high))
        v = f(q)
        values.append(v)
        return v

    algo = tpe.suggest if kind == "hyperopt-tpe" else rand.suggest
    fmin(objective, hspace, algo=algo, max_evals=n, trials=Trials(),
         rstate=np.random.default_rng(seed), show_progressbar=False)
    return values


HP_METHODS = ["random", "sobol", "tpe", "auto", "gp", "cmaes"]
OTHER_METHODS = ["optuna-tpe-mv", "optuna-tpe", "optuna-gp", "optuna-cmaes", "hyperopt-tpe",
                 "hyperopt-random"]


def available_methods() -> list[str]:
    from hpsearch._registry import SEARCHERS

    return [m for m in HP_METHODS if m in SEARCHERS] + OTHER_METHODS


def run(method: str, problem: str, n: int, seed: int) -> list[float]:
    space, f = PROBLEMS[problem]
    if method.startswith("optuna-"):
        return run_optuna(method, space, f, n, seed)
    if method.startswith("hyperopt-"):
        return run_hyperopt(method, space, f, n, seed)
    return run_hpsearch(method, space, f, n, seed)


# -- results -------------------------------------------------------------------------------
def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.exists() else {}


def save(path: Path, results: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    lines = [f"{json.dumps(k)}: {json.dumps(results[k])}" for k in sorted(results)]
    tmp.write_text("{\n" + ",\n".join(lines) + "\n}\n")  # one run per line
    tmp.replace(path)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.parent, os.O_RDONLY)  # lock the folder: no stray lock file
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _seeds(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        a, _, b = part.partition("-")
        out.extend(range(int(a), int(b) + 1) if b else [int(a)])
    return out


def report(results: dict[str, Any], problems: list[str], methods: list[str]) -> str:
    lines = []
    for problem in problems:
        rows = []
        for method in methods:
            runs = [r for k, r in results.items() if k.startswith(f"{problem}|{method}|")]
            if not runs:
                continue
            cells = []
            for c in CHECKPOINTS:
                best = [min(r["values"][:c]) for r in runs if len(r["values"]) >= c]
                if not best:
                    cells.append("")
                    continue
                q1, med, q3 = np.percentile(best, [25, 50, 75])
                cells.append(f"{med:.4g} [{q1:.4g}, {q3:.4g}]")
            secs = np.median([r["seconds"] for r in runs])
            rows.append((method, len(runs), cells, secs))
        if not rows:
            continue
        lines.append(f"\n#### {problem}\n")
        lines.append("| method | seeds | best@25 median [IQR] | best@50 | best@100 | s/run |")
        lines.append("|---|---|---|---|---|---|")
        for method, n_seeds, cells, secs in rows:
            lines.append(f"| {method} | {n_seeds} | " + " | ".join(cells) + f" | {secs:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--problems", default=",".join(PROBLEMS))
    ap.add_argument("--methods", default=None, help="comma-separated; default all available")
    ap.add_argument("--seeds", default="0-9", help="e.g. 0-9 or 0,1,5")
    ap.add_argument("--n-trials", type=int, default=100)
    ap.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    ap.add_argument("--report", action="store_true", help="only print the tables")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    problems = args.problems.split(",")
    methods = args.methods.split(",") if args.methods else available_methods()
    for p in problems:
        if p not in PROBLEMS:
            ap.error(f"unknown problem {p!r}; choose from {sorted(PROBLEMS)}")
    results = load(args.results)
    if not args.report:
        for seed in _seeds(args.seeds):  # every problem and method for a seed, then the next
            for problem in problems:
                for method in methods:
                    key = f"{problem}|{method}|{seed}"
                    if key in results and len(results[key]["values"]) >= args.n_trials:
                        continue
                    t0 = time.perf_counter()
                    values = run(method, problem, args.n_trials, seed)
                    secs = time.perf_counter() - t0
                    with _locked(args.results):  # other processes may add runs too
                        results = load(args.results)
                        results[key] = {"values": values, "seconds": secs}
                        save(args.results, results)
                    print(f"{key}: best {min(values):.5g} in {secs:.1f} s", flush=True)
    print(report(results, problems, methods))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

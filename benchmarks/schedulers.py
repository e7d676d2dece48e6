"""Early stopping on the CNN example: compute saved and accuracy kept, hpsearch vs Optuna.

Part 1 (``--part decisions``, seconds): the cost of one scheduler decision in a study of
10,000 trials with learning curves of up to 27 reports, steady state (the memo is warm) and
cold (a new scheduler after a resume consumes every stored report on its first decision).

Part 2 (``--part cnn``, 15-25 minutes on 2 cores): random search of 100 trials on
``examples/cnn_digits/train.py`` ``make_objective(dataset="digits", max_epochs=27, seed=seed)``.
For each seed the 100 configurations are drawn once with ``numpy.random.default_rng(seed)``
(``train.sample_params``) and every variant runs exactly these, in this order:

* hpsearch, ``LocalExecutor(2)``: no stopping (full budget), divergence only,
  median + divergence, ASHA + divergence, Hyperband + divergence (params enqueued);
* Optuna, ``n_jobs=1`` (sequential: torch's seed is process-global, so two threads would
  change the objective's numbers): MedianPruner, SuccessiveHalvingPruner, HyperbandPruner
  (params enqueued with ``study.enqueue_trial``, RandomSampler for anything else).

Reported per variant (median over seeds): the best final validation accuracy of a completed
trial, and the epochs consumed as a fraction of the full-budget run's epochs (the full run
itself stops early only for a non-finite loss) and of the nominal 100 x 27. The variants
``median``, ``asha`` and ``hyperband`` (no divergence stopping) compare like for like with
Optuna's pruners.

Replay (``--replay DIR``): the full-budget run trains every configuration to the end, so its
stored curves hold every number any other variant can see; ``train.train`` is deterministic
given ``(params, seed)`` (one thread, seed hashed from both). With ``--replay`` the other
variants read the curves of ``DIR/full-s<seed>.db`` (a copy of the full run's study) instead of
training again, sleeping 5 % of each recorded epoch time so that two workers interleave as in
the real run; ``--verify k`` first trains ``k`` recorded configurations again and checks every
report bit for bit. Scheduling, stopping and epoch counts are unchanged; wall times are not
comparable to training.

Usage (from the repository root)::

    .venv/bin/python benchmarks/schedulers.py --part decisions
    .venv/bin/python benchmarks/schedulers.py --part cnn --seeds 0 1 2 --out /tmp/es.json
    .venv/bin/python benchmarks/schedulers.py --part cnn --load /tmp/es.json   # table only
    .venv/bin/python benchmarks/schedulers.py --part cnn --seeds 0 --variants full --keep DIR
    .venv/bin/python benchmarks/schedulers.py --part cnn --seeds 0 --replay DIR --verify 2
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "cnn_digits"
sys.path.insert(0, str(EXAMPLE))

import hpsearch as hp  # noqa: E402
from hpsearch._registry import resolve_scheduler  # noqa: E402
from hpsearch.trial import Report, Trial, TrialState  # noqa: E402

MAX_EPOCHS = 27
N_TRIALS = 100
ASHA = {"min_budget": 1, "max_budget": MAX_EPOCHS, "reduction_factor": 3}
MEDIAN = {"min_budget": 1, "min_trials": 5}  # as Optuna's MedianPruner(n_startup_trials=5)
# Used when examples/cnn_digits/study.yaml has no divergence section (see divergence_args()).
# Loss above 100 nats or 10x its first epoch's, or accuracy still <= 0.2 (chance is 0.1)
# after 3 epochs.
DEFAULT_DIVERGENCE = {"metric": "loss", "upper_bound": 100.0, "max_ratio": 10.0,
                      "threshold": 0.2, "grace_budget": 3}


# -- part 1: decision cost -------------------------------------------------------------------
def _history(n_trials: int, seed: int) -> list[tuple[int, float, float]]:
    """Report events ``(trial, epoch, accuracy)`` of ``n_trials`` trials, interleaved."""
    rng = np.random.default_rng(seed)
    events = []
    for n in range(n_trials):
        length = int(rng.choice([1, 3, 9, 27], p=[0.6, 0.25, 0.1, 0.05]))
        a, tau = rng.uniform(0.1, 0.99), rng.uniform(0.5, 8)
        t0 = n * 0.5 + rng.uniform(0, 0.4)  # trials start in number order, 2 per time unit
        for e in range(1, length + 1):
            events.append((t0 + e, n, float(e), float(a - (a - 0.1) * np.exp(-e / tau))))
    events.sort()
    return [(n, e, v) for _, n, e, v in events]


def time_decisions(n_trials: int = 10_000, n_timed: int = 3000, seed: int = 0) -> dict[str, Any]:
    """Median and 99th percentile of ``decide`` times in a study of ``n_trials`` trials."""
    specs = {
        "median": {"median": MEDIAN},
        "asha": {"asha": ASHA},
        "hyperband": {"hyperband": {**ASHA, "seed": 0}},
        "divergence+asha": {"divergence": DEFAULT_DIVERGENCE, "asha": ASHA},
    }
    events = _history(n_trials + n_timed // 5, seed)
    out: dict[str, Any] = {}
    for name, spec in specs.items():
        s = resolve_scheduler(spec)
        trials: list[Trial] = []
        times: list[float] = []  # wall seconds (include preemption by other processes)
        cpu: list[float] = []  # CPU seconds of this thread
        for n, e, v in events:
            while len(trials) <= n:
                trials.append(Trial(len(trials), TrialState.RUNNING, {}))
            t = trials[n]
            t = replace(t, reports=(*t.reports, Report(e, v, {"loss": 1.0 - v})))
            trials[n] = t
            t0, c0 = time.perf_counter(), time.thread_time()
            s.decide(t, trials, mode="max")
            dt, dc = time.perf_counter() - t0, time.thread_time() - c0
            if len(trials) >= n_trials:
                times.append(dt)
                cpu.append(dc)
            if len(times) >= n_timed:
                break
        cold = resolve_scheduler(spec)
        t0 = time.perf_counter()
        cold.decide(trials[-1], trials, mode="max")
        cold_s = time.perf_counter() - t0
        ms, cpu_ms = np.array(times) * 1e3, np.array(cpu) * 1e3
        out[name] = {"n_trials": len(trials), "n_reports": sum(len(t.reports) for t in trials),
                     "wall_median_ms": float(np.median(ms)),
                     "wall_p99_ms": float(np.percentile(ms, 99)),
                     "cpu_median_ms": float(np.median(cpu_ms)),
                     "cpu_p99_ms": float(np.percentile(cpu_ms, 99)),
                     "cpu_max_ms": float(cpu_ms.max()), "cold_first_decision_ms": cold_s * 1e3}
        print(f"{name:16s} " + ", ".join(f"{k} {v:.3g}" for k, v in out[name].items()),
              flush=True)
    return out


# -- part 2: the CNN -------------------------------------------------------------------------
def divergence_args() -> tuple[dict[str, Any], str]:
    """The divergence settings of the example's study file if it has them, else the default."""
    path = EXAMPLE / "study.yaml"
    if path.exists():
        from hpsearch.config import load_study_file  # its YAML reads 1.0e4 as a float

        sched = load_study_file(path).scheduler or {}
        if isinstance(sched, dict) and isinstance(sched.get("divergence"), dict):
            return dict(sched["divergence"]), str(path.relative_to(ROOT))
    return dict(DEFAULT_DIVERGENCE), "benchmarks/schedulers.py DEFAULT_DIVERGENCE"


def space() -> hp.SearchSpace:
    """The search space of ``train.sample_params`` in hpsearch terms."""
    return hp.SearchSpace({
        "learning_rate": hp.Float(1e-6, 10.0, log=True),
        "batch_size": hp.Int(30, 99),
        "dropout": hp.Float(0.0, 1.0),
        "stddev": hp.Float(1e-3, 10.0, log=True),
    })


def run_hpsearch(name: str, spec: Any, params: list[dict[str, Any]], objective: Any,
                 executor: Any, workdir: Path) -> dict[str, Any]:
    study = hp.create_study(name, space=space(), metric="accuracy", mode="max",
                            storage=f"sqlite:///{workdir / (name + '.db')}", scheduler=spec, seed=0)
    for p in params:
        study.enqueue(p)
    t0 = time.perf_counter()
    study.optimize(objective, n_trials=len(params), executor=executor)
    wall = time.perf_counter() - t0
    trials = study.trials
    assert [dict(t.params) for t in trials] == params, "the enqueued params ran in order"
    done = [t for t in trials if t.state == TrialState.COMPLETED]
    return {"best": max((t.value for t in done), default=math.nan),
            "epochs": sum(t.budget_used for t in trials), "wall_s": wall,
            "completed": len(done),
            "stopped": sum(t.state == TrialState.STOPPED for t in trials),
            "failed": sum(t.state == TrialState.FAILED for t in trials),
            "summary": study.budget_summary()}


def run_optuna(pruner_name: str, params: list[dict[str, Any]], objective: Any,
               seed: int) -> dict[str, Any]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    pruner = {
        "median": lambda: optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=0),
        "sha": lambda: optuna.pruners.SuccessiveHalvingPruner(
            min_resource=1, reduction_factor=3, min_early_stopping_rate=0),
        "hyperband": lambda: optuna.pruners.HyperbandPruner(
            min_resource=1, max_resource=MAX_EPOCHS, reduction_factor=3),
    }[pruner_name]()
    study = optuna.create_study(direction="maximize", pruner=pruner,
                                sampler=optuna.samplers.RandomSampler(seed=seed))
    for p in params:
        study.enqueue_trial(p)
    epochs: dict[int, int] = {}

    class OptunaReporter:
        def __init__(self, trial: Any) -> None:
            self.trial = trial

        def report(self, budget: float, value: float, /, **metrics: float) -> None:
            epochs[self.trial.number] = int(budget)
            self.trial.report(value, int(budget))
            if self.trial.should_prune():
                raise optuna.TrialPruned()

    def opt_objective(trial: Any) -> float:
        p = {"learning_rate": trial.suggest_float("learning_rate", 1e-6, 10.0, log=True),
             "batch_size": trial.suggest_int("batch_size", 30, 99),
             "dropout": trial.suggest_float("dropout", 0.0, 1.0),
             "stddev": trial.suggest_float("stddev", 1e-3, 10.0, log=True)}
        # the final accuracy, as hpsearch's study (metric "accuracy") records it
        return float(objective(p, OptunaReporter(trial))["accuracy"])

    t0 = time.perf_counter()
    study.optimize(opt_objective, n_trials=len(params), n_jobs=1, catch=())
    wall = time.perf_counter() - t0
    ran = [t.params for t in study.trials]
    assert all(ran[i] == params[i] for i in range(len(params))), "enqueued params ran in order"
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    return {"best": max((t.value for t in done), default=math.nan),
            "epochs": sum(epochs.values()), "wall_s": wall, "completed": len(done),
            "stopped": sum(t.state == optuna.trial.TrialState.PRUNED for t in study.trials),
            "failed": sum(t.state == optuna.trial.TrialState.FAIL for t in study.trials)}


def _key(params: dict[str, Any]) -> str:
    return json.dumps({k: params[k] for k in sorted(params)})


class ReplayObjective:
    """Replay the learning curves recorded by a full-budget run instead of training again.

    ``train.train`` is deterministic given ``(params, seed)`` (its torch seed is a hash of both,
    one thread), so the replayed reports are the numbers a new training would report; each
    epoch sleeps ``time_scale`` times its recorded duration so that two workers interleave
    roughly as in the real run. ``verify_replay`` checks the determinism on a sample.
    """

    def __init__(self, curves: dict[str, list[tuple[float, float, float]]],
                 epoch_seconds: dict[str, float], time_scale: float) -> None:
        self.curves = curves
        self.epoch_seconds = epoch_seconds
        self.time_scale = time_scale

    def __call__(self, params: dict[str, Any], reporter: Any = None) -> dict[str, float]:
        key = _key(params)
        acc, loss = 0.0, math.nan
        for epoch, acc, loss in self.curves[key]:
            time.sleep(self.time_scale * self.epoch_seconds[key])
            if reporter is not None:
                reporter.report(epoch, acc, loss=loss)
        return {"accuracy": acc, "loss": loss}


def load_full_run(db: Path, seed: int) -> tuple[dict[str, Any], ReplayObjective]:
    """The result of the recorded full-budget run of ``seed`` and a replay of its curves."""
    study = hp.load_study(f"full-s{seed}", storage=f"sqlite:///{db}")
    trials = study.trials
    curves, secs = {}, {}
    for t in trials:
        key = _key(dict(t.params))
        curves[key] = [(r.budget, r.value, float(r.metrics["loss"])) for r in t.reports]
        secs[key] = (t.duration or 0.0) / max(1, len(t.reports))
    done = [t for t in trials if t.state == TrialState.COMPLETED]
    result = {"best": max(t.value for t in done), "epochs": sum(t.budget_used for t in trials),
              "wall_s": max(t.finished_at or 0.0 for t in trials)
              - min(t.started_at or math.inf for t in trials),
              "completed": len(done), "stopped": 0,
              "failed": sum(t.state == TrialState.FAILED for t in trials),
              "summary": study.budget_summary(), "recorded_in": str(db)}
    return result, ReplayObjective(curves, secs, 0.05)


class Recorder:
    """A reporter that keeps ``(epoch, accuracy, loss)``."""

    def __init__(self) -> None:
        self.reports: list[tuple[float, float, float]] = []

    def report(self, budget: float, value: float, /, **metrics: float) -> None:
        self.reports.append((float(budget), float(value), float(metrics["loss"])))


def verify_replay(replay: ReplayObjective, params: list[dict[str, Any]], seed: int,
                  k: int) -> list[bool]:
    """Train ``k`` of the recorded configurations again (the best ones and random ones) and
    compare every report bit for bit with the recording."""
    import train

    objective = train.make_objective(dataset="digits", max_epochs=MAX_EPOCHS, seed=seed)
    order = sorted(range(len(params)), key=lambda i: -replay.curves[_key(params[i])][-1][1])
    picks = order[: k // 2] + list(np.random.default_rng(seed).choice(order[k // 2:], k - k // 2,
                                                                      replace=False))
    same = []
    for i in picks:
        recorder = Recorder()
        objective(params[i], recorder)
        rec, want = recorder.reports, replay.curves[_key(params[i])]
        same.append(len(rec) == len(want) and all(
            a[0] == b[0] and a[1] == b[1] and (a[2] == b[2] or (math.isnan(a[2])
                                                                and math.isnan(b[2])))
            for a, b in zip(rec, want, strict=True)))
    return same


def run_seed(seed: int, n_trials: int, variants: list[str], workdir: Path,
             replay_db: Path | None = None, verify: int = 0) -> dict[str, Any]:
    import train

    objective: Any = train.make_objective(dataset="digits", max_epochs=MAX_EPOCHS, seed=seed)
    rng = np.random.default_rng(seed)
    params = [train.sample_params(rng) for _ in range(n_trials)]
    out: dict[str, Any] = {}
    if replay_db is not None:
        out["full"], objective = load_full_run(replay_db, seed)
        variants = [v for v in variants if v != "full"]
        if verify:
            out["replay_verified"] = verify_replay(objective, params, seed, verify)
            print(f"seed {seed} replay verified on {verify} trials: {out['replay_verified']}",
                  flush=True)
    div, _ = divergence_args()
    specs: dict[str, Any] = {
        "full": None,
        "divergence": {"divergence": div},
        "median+div": {"divergence": div, "median": MEDIAN},
        "asha+div": {"divergence": div, "asha": ASHA},
        "hyperband+div": {"divergence": div, "hyperband": {**ASHA, "seed": seed}},
        # without divergence stopping, for a like-for-like comparison with Optuna's pruners
        "median": {"median": MEDIAN},
        "asha": {"asha": ASHA},
        "hyperband": {"hyperband": {**ASHA, "seed": seed}},
    }
    executor = hp.LocalExecutor(2)
    try:
        for v in variants:
            if v in specs:
                r = run_hpsearch(f"{v}-s{seed}".replace("+", "_"), specs[v], params, objective,
                                 executor, workdir)
            else:
                r = run_optuna(v.removeprefix("optuna-"), params, objective, seed)
            out[v] = r
            print(f"seed {seed} {v:16s} best {r['best']:.4f} epochs {r['epochs']:5.0f} "
                  f"wall {r['wall_s']:6.1f} s  completed {r['completed']} stopped {r['stopped']} "
                  f"failed {r['failed']}", flush=True)
    finally:
        executor.shutdown()
    return out


VARIANTS = ["full", "divergence", "median+div", "asha+div", "hyperband+div",
            "optuna-median", "optuna-sha", "optuna-hyperband", "median", "asha", "hyperband"]


def table(results: dict[str, dict[str, Any]], n_trials: int) -> str:
    seeds = sorted(results)
    nominal = n_trials * MAX_EPOCHS
    lines = ["| variant | best val. accuracy (median; per seed) | epochs, % of full run (median; "
             "per seed) | % of 100 x 27 | wall s (sum) |", "|---|---|---|---|---|"]
    for v in VARIANTS:
        if not all(v in results[s] for s in seeds):
            continue
        best = [results[s][v]["best"] for s in seeds]
        frac = [results[s][v]["epochs"] / results[s]["full"]["epochs"] for s in seeds]
        nom = [results[s][v]["epochs"] / nominal for s in seeds]
        wall = sum(results[s][v]["wall_s"] for s in seeds)
        lines.append(
            f"| {v} | {statistics.median(best):.4f} ({', '.join(f'{b:.4f}' for b in best)}) | "
            f"{100 * statistics.median(frac):.1f} % ({', '.join(f'{100 * f:.1f}' for f in frac)}) "
            f"| {100 * statistics.median(nom):.1f} % | {wall:.0f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=["decisions", "cnn"], required=True)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--n-trials", type=int, default=N_TRIALS)
    ap.add_argument("--variants", nargs="+", default=VARIANTS[:8], choices=VARIANTS)
    ap.add_argument("--out", type=Path, help="write the raw results as JSON (after each seed)")
    ap.add_argument("--load", type=Path, nargs="+", help="print the table of saved results")
    ap.add_argument("--replay", type=Path,
                    help="a folder with full-s<seed>.db of recorded full-budget runs: replay "
                         "their curves instead of training (see ReplayObjective)")
    ap.add_argument("--verify", type=int, default=0,
                    help="with --replay: train this many recorded trials again and compare")
    ap.add_argument("--keep", type=Path, help="keep the study databases in this folder")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.part == "decisions":
        time_decisions()
        return
    if args.load:
        merged: dict[int, Any] = {}
        for path in args.load:  # several files of the same seed add up their variants
            saved = json.loads(path.read_text())
            for k, v in saved["results"].items():
                merged.setdefault(int(k), {}).update(v)
        print(table(merged, saved["n_trials"]))
        return
    div, source = divergence_args()
    print(f"divergence settings from {source}: {div}", flush=True)
    results: dict[int, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        for seed in args.seeds:
            db = args.replay / f"full-s{seed}.db" if args.replay else None
            results[seed] = run_seed(seed, args.n_trials, args.variants, workdir, db,
                                     args.verify)
            if args.out:
                args.out.write_text(json.dumps({"n_trials": args.n_trials, "divergence": div,
                                                "divergence_source": source,
                                                "results": results}, indent=1))
    print(table(results, args.n_trials))


if __name__ == "__main__":
    main()

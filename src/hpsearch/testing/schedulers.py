"""Scheduler conformance suite and a fake-clock simulator of a study.

Every scheduler must pass :func:`check_scheduler` (or the individual ``check_*`` functions)::

    from hpsearch.testing.schedulers import check_scheduler
    check_scheduler(lambda: ASHAScheduler(max_budget=27))

:func:`simulate` replays synthetic learning curves (:func:`synthetic_curves`) through a
scheduler on a simulated clock with a fixed number of workers, as a study would: the trial's
snapshot is replaced after each report, ``decide`` is asked, a STOP ends the trial and frees its
worker for the next one. No training and no real time are involved, so the tests are exact and
fast. (The idea of a simulated backend comes from Syne Tune's ``time_keeper``.)

The checks raise ``AssertionError`` with a message naming the failed property.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from hpsearch.schedulers._base import Decision, Scheduler
from hpsearch.trial import Mode, Report, Trial, TrialState

__all__ = [
    "Curve",
    "Simulation",
    "check_decisions_are_decisions",
    "check_deterministic",
    "check_incremental_equals_fresh",
    "check_mode_symmetry",
    "check_non_finite_reports",
    "check_scheduler",
    "simulate",
    "synthetic_curves",
]

SchedulerFactory = Callable[[], Scheduler]


@dataclass(frozen=True)
class Curve:
    """A synthetic learning curve: what one trial reports, and how long each step takes.

    Attributes:
        budgets: reported budgets, shape (n_reports,), increasing (e.g. epochs 1..27).
        values: the reported values, shape (n_reports,) (may hold NaN or inf).
        metrics: extra metrics per report (e.g. ``{"loss": ...}``), one mapping per report.
        seconds_per_budget: simulated seconds per budget unit (the fake clock's speed).

    """

    budgets: tuple[float, ...]
    values: tuple[float, ...]
    metrics: tuple[Mapping[str, Any], ...] = ()
    seconds_per_budget: float = 1.0

    def negated(self) -> Curve:
        """Return the same curve with every value negated (for the min/max symmetry check)."""
        return replace(self, values=tuple(-v for v in self.values))


def synthetic_curves(n: int, *, seed: int = 0, max_budget: int = 27,
                     p_diverge: float = 0.2, p_flat: float = 0.3) -> list[Curve]:
    """Accuracy-like learning curves for ``n`` trials, reporting at budgets 1 .. ``max_budget``.

    A learner's value rises from 0.1 towards its final level ``a ~ U(0.3, 0.99)`` as
    ``a - (a - 0.1) exp(-b / tau)`` (``tau ~ U(0.5, 8)`` budget units) plus noise; some curves
    cross (fast learners with a low ceiling). A flat curve stays at chance (0.1 + noise); a
    divergent one has ``loss`` exploding and ends with NaN values. Each trial runs at its own
    speed (``seconds_per_budget ~ U(0.5, 2)``).

    Args:
        n: number of curves.
        seed: seeds the generator.
        max_budget: number of reports per curve (budgets 1, 2, ..., ``max_budget``).
        p_diverge: probability of a divergent curve.
        p_flat: probability of a flat curve.

    Returns:
        ``n`` curves; values to be maximized.

    """
    rng = np.random.default_rng(seed)
    out = []
    b = np.arange(1, max_budget + 1, dtype=float)
    for _ in range(n):
        u = rng.random()
        noise = rng.normal(0.0, 0.01, size=b.shape)
        if u < p_diverge:
            values = np.full_like(b, 0.1) + noise
            loss = 2.3 * 10.0 ** (b * rng.uniform(0.5, 3.0))
            k = int(rng.integers(1, max_budget + 1))
            values[k - 1:] = np.nan
            loss[k - 1:] = np.inf
        elif u < p_diverge + p_flat:
            values = np.full_like(b, 0.1) + noise
            loss = np.full_like(b, 2.3) + noise
        else:
            a, tau = rng.uniform(0.3, 0.99), rng.uniform(0.5, 8.0)
            values = a - (a - 0.1) * np.exp(-b / tau) + noise
            loss = 2.3 * np.exp(-b / tau) + 0.05
        out.append(Curve(tuple(b.tolist()), tuple(values.tolist()),
                         tuple({"loss": float(x)} for x in loss),
                         float(rng.uniform(0.5, 2.0))))
    return out


@dataclass
class Simulation:
    """The outcome of :func:`simulate`.

    Attributes:
        trials: the final snapshot of every trial by number: COMPLETED, STOPPED, or FAILED
            (a non-finite final value, as the study records it).
        decisions: ``(time in simulated seconds, trial number, budget, Decision)`` per report.
        budget_used: sum over trials of the largest budget reported.

    """

    trials: list[Trial]
    decisions: list[tuple[float, int, float, Decision]] = field(default_factory=list)

    @property
    def budget_used(self) -> float:  # noqa: D102
        return float(sum(t.budget_used for t in self.trials))

    @property
    def stopped(self) -> list[int]:
        """Numbers of the trials that were stopped."""
        return [t.number for t in self.trials if t.state == TrialState.STOPPED]


def _arrival(now: float, t: Trial, c: Curve, k: int) -> float:
    """Return the simulated time of report ``k`` of ``t``, never before ``now``."""
    b = c.budgets[k]
    b = b if math.isfinite(b) and b > 0 else 0.0
    start = t.started_at if t.started_at is not None else now
    return max(now, start + b * c.seconds_per_budget)


def simulate(
    scheduler: Scheduler,
    curves: Sequence[Curve],
    *,
    n_workers: int = 2,
    mode: Mode = "max",
    trials: Sequence[Trial] = (),
    fresh: SchedulerFactory | None = None,
    check_every: int = 1,
) -> Simulation:
    """Run ``curves`` as trials on ``n_workers`` simulated workers, asking ``scheduler``.

    Trial ``i`` of ``curves`` starts when a worker is free (trials in number order); its
    ``k``-th report arrives ``budgets[k] * seconds_per_budget`` simulated seconds after its
    start. Events at the same time are handled in trial-number order, so a run is
    deterministic. A trial ends COMPLETED after its last report, or STOPPED when the scheduler
    says so; the worker then starts the next trial at once (nothing ever waits).

    Args:
        scheduler: the scheduler under test.
        curves: one curve per trial.
        n_workers: simulated workers (>= 1).
        mode: ``"min"`` or ``"max"``.
        trials: earlier finished trials of the study (a resumed study); the curves get the
            numbers after them.
        fresh: if given, every ``check_every`` reports a new scheduler from this factory is
            asked the same question and must give the same decision (rebuild from trials).
        check_every: see ``fresh``.

    Returns:
        The :class:`Simulation`.

    Raises:
        AssertionError: a decision that is not a :class:`Decision`, or that differs from a
            fresh scheduler's.

    """
    done: list[Trial] = list(trials)
    offset = len(done)
    snap: list[Trial] = done + []
    sim = Simulation(trials=snap)
    heap: list[tuple[float, int, int]] = []  # (time, trial number, report index)
    next_curve = 0

    def start(now: float) -> None:
        nonlocal next_curve
        if next_curve >= len(curves):
            return
        n = offset + next_curve
        c = curves[next_curve]
        next_curve += 1
        snap.append(Trial(number=n, state=TrialState.RUNNING, params={"curve": n - offset},
                          started_at=now))
        if c.budgets:
            heapq.heappush(heap, (_arrival(now, snap[n], c, 0), n, 0))
        else:
            snap[n] = replace(snap[n], state=TrialState.COMPLETED, finished_at=now)
            start(now)

    for _ in range(n_workers):
        start(0.0)
    n_reports = 0
    while heap:
        now, n, k = heapq.heappop(heap)
        c = curves[n - offset]
        metrics = c.metrics[k] if k < len(c.metrics) else {}
        t = snap[n]
        t = replace(t, reports=(*t.reports, Report(c.budgets[k], c.values[k], dict(metrics))))
        snap[n] = t
        d = scheduler.decide(t, snap, mode=mode)
        if not isinstance(d, Decision):
            raise AssertionError(f"{scheduler!r}.decide returned {d!r}, not a Decision.")
        n_reports += 1
        if fresh is not None and n_reports % check_every == 0:
            d2 = fresh().decide(t, snap, mode=mode)
            if d2 != d:
                raise AssertionError(
                    f"A new {type(scheduler).__name__} fed the same trials decided {d2} where "
                    f"the running one decided {d} (trial {n}, report {k}).")
        sim.decisions.append((now, n, c.budgets[k], d))
        last = k + 1 == len(c.budgets)
        if d.is_stop or last:
            v = c.values[k]
            state = (TrialState.STOPPED if d.is_stop else
                     TrialState.COMPLETED if math.isfinite(v) else TrialState.FAILED)
            snap[n] = replace(t, state=state, reason=d.reason, finished_at=now,
                              value=v if math.isfinite(v) else None)
            start(now)
        else:
            heapq.heappush(heap, (_arrival(now, t, c, k + 1), n, k + 1))
    left = [t.number for t in snap if not t.state.is_finished]
    if left:
        raise AssertionError(f"Trials {left} were left waiting (never finished).")
    return sim


# -- the checks ------------------------------------------------------------------------------
def _curves_with_bad_values(seed: int) -> list[Curve]:
    curves = synthetic_curves(12, seed=seed, max_budget=9)
    bad = [math.nan, math.inf, -math.inf, 0.0, -0.0, 1e308, -1e308]
    rng = np.random.default_rng(seed)
    out = []
    for c in curves:
        vals = list(c.values)
        for i in range(len(vals)):
            if rng.random() < 0.3:
                vals[i] = bad[int(rng.integers(len(bad)))]
        out.append(replace(c, values=tuple(vals)))
    # odd budgets: repeated, decreasing, fractional, huge and non-finite budgets
    out.append(Curve((1.0, 1.0, 0.5, 2.5, 1e12, math.nan), (0.1, math.nan, 0.2, 0.3, 0.4, 0.5)))
    out.append(Curve((0.0, math.inf), (math.inf, -math.inf)))
    return out


def check_decisions_are_decisions(make: SchedulerFactory, *, seed: int = 0) -> None:
    """Every decision on ordinary curves is a Decision, in both modes, and no trial waits."""
    for mode in ("min", "max"):
        simulate(make(), synthetic_curves(30, seed=seed, max_budget=9), mode=mode, n_workers=3)


def check_non_finite_reports(make: SchedulerFactory, *, seed: int = 0) -> None:
    """NaN / inf values and budgets, odd budgets and empty report lists never crash ``decide``."""
    s = make()
    empty = Trial(number=0, state=TrialState.RUNNING, params={})
    for mode in ("min", "max"):
        d = s.decide(empty, [empty], mode=mode)
        if not isinstance(d, Decision):
            raise AssertionError(f"decide on a trial without reports returned {d!r}.")
    for mode in ("min", "max"):
        simulate(make(), _curves_with_bad_values(seed), mode=mode, n_workers=2)


def check_deterministic(make: SchedulerFactory, *, seed: int = 0) -> None:
    """Two schedulers from the factory make the same decisions on the same history."""
    curves = synthetic_curves(40, seed=seed, max_budget=9)
    a = simulate(make(), curves, n_workers=3)
    b = simulate(make(), curves, n_workers=3)
    if [d[1:] for d in a.decisions] != [d[1:] for d in b.decisions]:
        raise AssertionError("Two runs on the same history made different decisions.")


def check_incremental_equals_fresh(make: SchedulerFactory, *, seed: int = 0) -> None:
    """After every report, a new scheduler fed the same trials decides as the running one.

    This is the resume property: scheduler state is rebuilt exactly from the stored trials.
    It also covers a study resumed from finished trials, and asking twice about one report.
    """
    curves = synthetic_curves(30, seed=seed, max_budget=9)
    simulate(make(), curves, n_workers=3, fresh=make)
    first = simulate(make(), curves[:15], n_workers=3)
    resumed = make()
    simulate(resumed, curves[15:], n_workers=3, trials=first.trials, fresh=make)
    s = make()
    t = first.trials[-1]
    if s.decide(t, first.trials, mode="max") != s.decide(t, first.trials, mode="max"):
        raise AssertionError("Asking twice about the same report gave different decisions.")


def check_mode_symmetry(make: SchedulerFactory, *, seed: int = 0) -> None:
    """Negated values under ``mode="min"`` give the decisions of the values under ``"max"``.

    Other metrics (e.g. a watched loss) are not negated.
    """
    curves = synthetic_curves(40, seed=seed, max_budget=9)
    a = simulate(make(), curves, mode="max", n_workers=3)
    b = simulate(make(), [c.negated() for c in curves], mode="min", n_workers=3)
    da = [(d[1], d[2], d[3].is_stop) for d in a.decisions]
    db = [(d[1], d[2], d[3].is_stop) for d in b.decisions]
    if da != db:
        raise AssertionError("Decisions under mode='min' on negated values differ from 'max'.")


def check_scheduler(make: SchedulerFactory, *, seed: int = 0) -> None:
    """Run every conformance check on schedulers built by ``make``.

    Args:
        make: builds a new scheduler with fixed arguments (and a fixed seed) on each call.
        seed: seeds the synthetic curves.

    Raises:
        AssertionError: a check failed.

    """
    check_decisions_are_decisions(make, seed=seed)
    check_non_finite_reports(make, seed=seed)
    check_deterministic(make, seed=seed)
    check_incremental_equals_fresh(make, seed=seed)
    check_mode_symmetry(make, seed=seed)

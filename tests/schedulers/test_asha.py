"""ASHA as a stopping rule: successive halving, arrival order, budgets, NaN, fake-clock runs."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

import hpsearch as hp
from hpsearch.testing.schedulers import simulate, synthetic_curves
from hpsearch.trial import TrialState

from ._helpers import add_report, make_trial


def _asha():
    return hp.ASHAScheduler(min_budget=1, max_budget=9, reduction_factor=3)


def test_successive_halving_of_nine_promotes_three_then_one():
    """Decided once every value of a rung is in (synchronous SH): 9 -> 3 -> 1."""
    s = _asha()
    accuracy = [0.52, 0.91, 0.33, 0.87, 0.64, 0.12, 0.95, 0.41, 0.78]
    trials = [make_trial(i, (1, a)) for i, a in enumerate(accuracy)]
    keep = [t.number for t in trials if not s.decide(t, trials, mode="max").is_stop]
    assert keep == [1, 3, 6]  # 0.91, 0.87, 0.95
    for i in keep:
        add_report(trials, i, 3, accuracy[i] + (0.05 if i == 3 else 0.0))
    keep2 = [i for i in keep if not s.decide(trials[i], trials, mode="max").is_stop]
    assert keep2 == [6]  # 0.95 beats 0.92 and 0.91 at rung 3
    t = add_report(trials, 6, 9, 0.97)  # max_budget: the trial completes normally
    assert s.decide(t, trials, mode="max") == hp.Decision.CONTINUE


def _online(order, values, mode="max"):
    """Trials report at rung 0 one at a time in ``order``; returns the numbers that continue."""
    s = _asha()
    trials = [make_trial(i) for i in range(len(values))]
    kept = []
    for i in order:
        t = add_report(trials, i, 1, values[i])
        if not s.decide(t, trials, mode=mode).is_stop:
            kept.append(i)
    return kept


def test_arrival_order_best_first_keeps_only_the_first():
    values = [0.1 * (i + 1) for i in range(9)]
    assert _online(list(range(8, -1, -1)), values) == [8]


def test_arrival_order_worst_first_keeps_all():
    values = [0.1 * (i + 1) for i in range(9)]
    assert _online(list(range(9)), values) == list(range(9))


def test_random_arrival_order_keeps_floor_n_over_eta_on_average():
    """In random order, the i-th arrival continues with probability max(1, i // 3) / i."""
    rng = np.random.default_rng(0)
    values = [0.1 * (i + 1) for i in range(9)]
    counts, best_kept = [], 0
    for _ in range(1500):
        kept = _online(list(rng.permutation(9)), values)
        counts.append(len(kept))
        best_kept += 8 in kept
    expected = float(sum(Fraction(max(1, i // 3), i) for i in range(1, 10)))  # 3.49
    assert np.mean(counts) == pytest.approx(expected, abs=0.1)  # 3 standard errors
    assert best_kept == 1500  # the best value at a rung always continues
    assert min(counts) >= 1


def test_mode_min_and_ties():
    assert _online([0, 1, 2], [0.3, 0.2, 0.2], mode="min") == [0, 1, 2]  # ties share rank 1
    assert _online([0, 1, 2], [0.3, 0.4, 0.2], mode="min") == [0, 2]


def test_non_finite_values_are_the_worst():
    # the first value at a rung always continues, even NaN; later NaN / inf are the worst
    assert _online([0, 1, 2, 3], [math.nan, 0.5, math.inf, -math.inf]) == [0, 1]
    assert _online([0, 1, 2], [0.5, -math.inf, 0.4], mode="min") == [0, 2]


def test_reports_between_rungs_and_below_the_first_never_stop():
    s = hp.ASHAScheduler(min_budget=2, max_budget=18, reduction_factor=3)
    trials = [make_trial(0, (2, 0.9)), make_trial(1)]
    s.decide(trials[0], trials, mode="max")
    for b, v in [(1, 0.0), (1.5, 0.0), (2, 0.1)]:  # grace, grace, rung 0: stopped
        d = s.decide(add_report(trials, 1, b, v), trials, mode="max")
    assert d.is_stop and "rung 0" in d.reason
    # a trial that passed rung 0 is not stopped between rungs even if it gets worse
    trials.append(make_trial(2))
    assert not s.decide(add_report(trials, 2, 2, 0.95), trials, mode="max").is_stop
    for b in (3, 4, 5):
        assert not s.decide(add_report(trials, 2, b, 0.01), trials, mode="max").is_stop


def test_past_max_budget_stops_and_max_budget_continues():
    s = _asha()
    t = make_trial(0, (1, 0.5), (3, 0.6), (9, 0.7))
    assert s.decide(t, [t], mode="max") == hp.Decision.CONTINUE
    t = make_trial(0, (1, 0.5), (3, 0.6), (9, 0.7), (10, 0.8))
    d = s.decide(t, [t], mode="max")
    assert d.is_stop and "past max_budget 9" in d.reason


def test_fake_clock_run_stops_only_at_rungs_and_saves_budget():
    curves = synthetic_curves(120, seed=1, max_budget=27)
    s = hp.ASHAScheduler(min_budget=1, max_budget=27, reduction_factor=3)
    sim = simulate(s, curves, n_workers=4, fresh=lambda: hp.ASHAScheduler(max_budget=27),
                   check_every=7)
    full = simulate(hp.FIFOScheduler(), curves, n_workers=4)
    assert all(t.state.is_finished for t in sim.trials)
    stops = {t.budget_used for t in sim.trials if t.state == TrialState.STOPPED}
    assert stops <= {1.0, 3.0, 9.0}
    reached = [sum(t.budget_used >= r for t in sim.trials) for r in (1, 3, 9, 27)]
    assert reached[0] == 120 and reached[0] > reached[1] > reached[2] > reached[3] >= 1
    assert sim.budget_used < 0.25 * full.budget_used
    # every decision is immediate: one per report, and nothing else
    assert len(sim.decisions) == sum(len(t.reports) for t in sim.trials)
    best = max(c.values[-1] for c in curves if math.isfinite(c.values[-1]))
    found = max(t.value for t in sim.trials if t.state == TrialState.COMPLETED)
    assert found >= best - 0.05


def test_rung_values_and_to_config():
    s = _asha()
    trials = [make_trial(0, (1, 0.2)), make_trial(1, (1, 0.8))]
    for t in trials:
        s.decide(t, trials, mode="max")
    assert s.rung_values(0) == [0.8, 0.2]  # best first
    assert s.to_config() == {"asha": {"min_budget": 1.0, "max_budget": 9.0,
                                      "reduction_factor": 3.0}}


@pytest.mark.parametrize("make", [
    lambda: hp.ASHAScheduler(min_budget=1, max_budget=27, reduction_factor=3),
    lambda: hp.ASHAScheduler(min_budget=0.5, max_budget=10, reduction_factor=2.5),
    lambda: hp.HyperbandScheduler(min_budget=1, max_budget=27, reduction_factor=3, seed=1),
], ids=["asha", "asha-float", "hyperband"])
def test_memo_equals_recomputation_on_random_histories(make):
    """Odd budgets, NaN, several reports between decisions, reports of other trials unasked."""
    rng = np.random.default_rng(9)
    for mode in ("min", "max"):
        s = make()
        trials = []
        for step in range(150):
            if not trials or rng.random() < 0.2:
                trials.append(make_trial(len(trials)))
            n = int(rng.integers(len(trials)))
            for _ in range(int(rng.integers(1, 3))):
                prev = trials[n].budget_used
                b = rng.choice([prev, prev + 1, prev * 3 + 0.5, max(prev - 1, 0), math.nan, 30])
                add_report(trials, n, b, rng.choice([rng.random(), math.nan, -math.inf]))
            other = int(rng.integers(len(trials)))
            if rng.random() < 0.2 and other != n:
                add_report(trials, other, trials[other].budget_used + 2, rng.random())
            d = s.decide(trials[n], trials, mode=mode)
            fresh = make()
            assert fresh.decide(trials[n], trials, mode=mode) == d, step
            tables = getattr(s, "_tables", None) or [s._table]
            fresh_tables = getattr(fresh, "_tables", None) or [fresh._table]
            assert [t.values for t in tables] == [t.values for t in fresh_tables], step

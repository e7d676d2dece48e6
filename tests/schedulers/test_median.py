"""Median stopping (Vizier 3.2.2): the rule, its grace period, and its incremental memo."""

from __future__ import annotations

import math

import numpy as np
import pytest

import hpsearch as hp
from hpsearch.testing.schedulers import simulate, synthetic_curves

from ._helpers import add_report, make_trial


def _history():
    # running averages at budget 3: 0.2, 0.4, 0.6, 0.8 -> median 0.5 (mode max)
    return [
        make_trial(0, (1, 0.1), (2, 0.2), (3, 0.3)),
        make_trial(1, (1, 0.3), (2, 0.4), (3, 0.5)),
        make_trial(2, (1, 0.5), (2, 0.6), (3, 0.7)),
        make_trial(3, (1, 0.7), (2, 0.8), (3, 0.9)),
    ]


@pytest.mark.parametrize(("best", "stop"), [(0.49, True), (0.5, False), (0.51, False)])
def test_stop_when_best_is_strictly_worse_than_the_median_of_running_averages(best, stop):
    s = hp.MedianStoppingScheduler(min_budget=1, min_trials=4)
    trials = [*_history(), make_trial(4, (1, 0.0), (2, best), (3, 0.0))]
    d = s.decide(trials[4], trials, mode="max")
    assert d.is_stop is stop
    if stop:
        assert "median 0.5 " in d.reason and "4 other trials at budget 3" in d.reason


def test_running_averages_not_last_values():
    # last values of the others at budget 2: 0.9, 0.9, 0.9; running averages 0.5 each
    s = hp.MedianStoppingScheduler(min_budget=1, min_trials=3)
    trials = [make_trial(i, (1, 0.1), (2, 0.9)) for i in range(3)]
    trials.append(make_trial(3, (1, 0.6), (2, 0.55)))
    assert not s.decide(trials[3], trials, mode="max").is_stop  # best 0.6 >= median 0.5


def test_mode_min():
    s = hp.MedianStoppingScheduler(min_budget=1, min_trials=4)
    trials = [make_trial(t.number, *[(r.budget, -r.value) for r in t.reports])
              for t in _history()]
    trials.append(make_trial(4, (1, 0.0), (2, -0.49), (3, 0.0)))
    assert s.decide(trials[4], trials, mode="min").is_stop


def test_grace_budget_and_min_trials():
    trials = [*_history(), make_trial(4, (1, 0.0))]
    assert s_decide(hp.MedianStoppingScheduler(min_budget=2, min_trials=1), trials) is False
    assert s_decide(hp.MedianStoppingScheduler(min_budget=1, min_trials=4), trials) is True
    assert s_decide(hp.MedianStoppingScheduler(min_budget=1, min_trials=5), trials) is False


def s_decide(s, trials):
    return s.decide(trials[-1], trials, mode="max").is_stop


def test_only_trials_that_reached_the_budget_count():
    s = hp.MedianStoppingScheduler(min_budget=1, min_trials=2)
    trials = [make_trial(0, (1, 0.9)), make_trial(1, (1, 0.9)),  # stopped at 1: not at budget 2
              make_trial(2, (1, 0.1), (2, 0.1)), make_trial(3, (1, 0.1), (2, 0.1)),
              make_trial(4, (1, 0.2), (2, 0.2))]
    assert not s.decide(trials[4], trials, mode="max").is_stop
    trials.append(make_trial(5, (1, 0.0), (2, 0.05)))
    assert s.decide(trials[5], trials, mode="max").is_stop


def test_nan_is_the_worst():
    s = hp.MedianStoppingScheduler(min_budget=1, min_trials=2)
    trials = [make_trial(0, (1, 0.1)), make_trial(1, (1, 0.2)), make_trial(2, (1, math.nan))]
    assert s.decide(trials[2], trials, mode="max").is_stop
    trials = [make_trial(0, (1, math.nan)), make_trial(1, (1, math.inf)), make_trial(2, (1, 0.0))]
    assert not s.decide(trials[2], trials, mode="max").is_stop


def _recompute(s, trials, mode):
    """The per-budget caches of ``s`` recomputed from scratch by a new scheduler."""
    fresh = hp.MedianStoppingScheduler(min_budget=s.min_budget, min_trials=s.min_trials)
    fresh._feed.sync(trials[0], trials, mode)
    return {b: fresh._averages_at(b) for b in s._at}


def test_memo_equals_recomputation_on_random_histories():
    """Odd budgets (repeats, decreases, fractions, NaN), NaN values, several reports per call."""
    rng = np.random.default_rng(5)
    for mode in ("min", "max"):
        s = hp.MedianStoppingScheduler(min_budget=0.5, min_trials=2)
        trials = []
        for step in range(250):
            if not trials or rng.random() < 0.15:
                trials.append(make_trial(len(trials)))
            n = int(rng.integers(len(trials)))
            for _ in range(int(rng.integers(1, 3))):  # sometimes two reports before a decision
                prev = trials[n].budget_used
                b = rng.choice([prev, prev + 1, prev + 0.5, max(prev - 1, 0), math.nan, 3.0])
                v = rng.choice([rng.random(), math.nan, math.inf])
                add_report(trials, n, b, v)
            other = int(rng.integers(len(trials)))  # sometimes another trial reported unasked
            if rng.random() < 0.2 and other != n:
                add_report(trials, other, trials[other].budget_used + 1, rng.random())
            d = s.decide(trials[n], trials, mode=mode)
            fresh = hp.MedianStoppingScheduler(min_budget=0.5, min_trials=2)
            assert fresh.decide(trials[n], trials, mode=mode) == d, step
            if step % 50 == 0:
                assert _recompute(s, trials, mode) == s._at


def test_fake_clock_run():
    curves = synthetic_curves(80, seed=2, max_budget=27)
    s = hp.MedianStoppingScheduler(min_budget=2, min_trials=5)
    sim = simulate(s, curves, n_workers=3)
    full = simulate(hp.FIFOScheduler(), curves, n_workers=3)
    # best-so-far against running averages is lenient: flat curves at chance survive a while
    assert 0.3 * full.budget_used < sim.budget_used < 0.8 * full.budget_used
    assert all(t.budget_used >= 2 for t in sim.trials if t.reports and t.state.name == "STOPPED")
    best = max(t.value for t in full.trials if t.value is not None)
    assert max(t.value for t in sim.trials if t.state.name == "COMPLETED") >= best - 0.05

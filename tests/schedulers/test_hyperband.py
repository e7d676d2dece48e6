"""Asynchronous Hyperband: bracket assignment, weights, ranking within a bracket, no stalls."""

from __future__ import annotations

import collections
import math

import pytest

import hpsearch as hp
from hpsearch.testing.schedulers import simulate, synthetic_curves
from hpsearch.trial import TrialState

from ._helpers import make_trial


def _hb(seed=0, **kw):
    return hp.HyperbandScheduler(**{"min_budget": 1, "max_budget": 27, "reduction_factor": 3,
                                    "seed": seed, **kw})


def test_brackets_and_weights_follow_hyperband():
    h = _hb()
    assert h.rungs == (1, 3, 9) and h.n_brackets == 4
    # n_s = ceil((s_max + 1) eta**s / (s + 1)) for s = 3, 2, 1, 0 halvings: 27, 12, 6, 4
    assert h.probabilities == pytest.approx([27 / 49, 12 / 49, 6 / 49, 4 / 49])
    assert [t.rungs for t in h._tables] == [(1, 3, 9), (3, 9), (9,), ()]


def test_bracket_draws_are_a_pure_function_of_seed_and_number():
    a, b, c = _hb(seed=1), _hb(seed=1), _hb(seed=2)
    ts = [make_trial(i) for i in range(2000)]
    draws = [a.bracket_of(t) for t in ts]
    assert draws == [b.bracket_of(t) for t in reversed(ts)][::-1]
    assert draws != [c.bracket_of(t) for t in ts]
    freq = collections.Counter(draws)
    for j, p in enumerate(a.probabilities):
        assert freq[j] / 2000 == pytest.approx(p, abs=0.035)
    # a retry stays in the bracket of its first attempt
    assert a.bracket_of(make_trial(5000, retry_of=17)) == draws[17]


def test_seed_none_draws_one_and_keeps_it_in_the_config():
    h = hp.HyperbandScheduler(max_budget=27)
    cfg = h.to_config()["hyperband"]
    assert isinstance(cfg["seed"], int)
    again = hp.HyperbandScheduler(**cfg)
    ts = [make_trial(i) for i in range(50)]
    assert [h.bracket_of(t) for t in ts] == [again.bracket_of(t) for t in ts]


def _numbers_in(h, bracket, count):
    out, n = [], 0
    while len(out) < count:
        if h.bracket_of(make_trial(n)) == bracket:
            out.append(n)
        n += 1
    return out


def test_values_are_ranked_only_within_a_bracket():
    h = _hb(seed=3)
    good = _numbers_in(h, 0, 6)
    lone = _numbers_in(h, 1, 1)[0]
    trials = [make_trial(i) for i in range(max(good + [lone]) + 1)]
    for i in good:
        trials[i] = make_trial(i, (1, 0.9), (3, 0.9))
    # a poor trial in bracket 1 is first at its rung (budget 3): it continues ...
    trials[lone] = make_trial(lone, (1, 0.1), (3, 0.1))
    assert not h.decide(trials[lone], trials, mode="max").is_stop
    # ... while in bracket 0 the same values would rank last at budget 1 and 3
    poor0 = _numbers_in(h, 0, 7)[-1]
    trials += [make_trial(i) for i in range(len(trials), poor0 + 1)]
    trials[poor0] = make_trial(poor0, (1, 0.1))
    d = _hb(seed=3).decide(trials[poor0], trials, mode="max")
    assert d.is_stop and "bracket 0" in d.reason and "rank 7 of 7" in d.reason
    # the full-budget bracket never stops by rank
    full = _numbers_in(h, 3, 2)
    trials = [make_trial(i) for i in range(full[-1] + 1)]
    trials[full[0]] = make_trial(full[0], *[(b, 0.9) for b in range(1, 28)])
    trials[full[1]] = make_trial(full[1], *[(b, 0.1) for b in range(1, 28)])
    assert not _hb(seed=3).decide(trials[full[1]], trials, mode="max").is_stop


def test_no_bracket_stalls_on_the_fake_clock():
    curves = synthetic_curves(200, seed=4, max_budget=27)
    h = _hb(seed=4)
    sim = simulate(h, curves, n_workers=4, fresh=lambda: _hb(seed=4), check_every=40)
    by_bracket = collections.defaultdict(list)
    for t in sim.trials:
        by_bracket[h.bracket_of(t)].append(t)
    assert set(by_bracket) == {0, 1, 2, 3}
    for j, ts in by_bracket.items():
        # every trial ends; the first reporter of each rung continues, so each bracket
        # carries some trial to max_budget
        assert all(t.state.is_finished for t in ts)
        assert any(t.budget_used == 27 for t in ts), j
        start = h._tables[j].rungs[0] if h._tables[j].rungs else 27
        assert all(t.budget_used >= min(start, len(t.reports) and t.budget_used) for t in ts)
        # stops only at the bracket's rungs (or at a divergence-free NaN value: none here)
        assert {t.budget_used for t in ts if t.state == TrialState.STOPPED} <= set(
            h._tables[j].rungs)
    full = simulate(hp.FIFOScheduler(), curves, n_workers=4)
    assert sim.budget_used < 0.5 * full.budget_used
    best = max(t.value for t in full.trials if t.value is not None and math.isfinite(t.value))
    assert max(t.value for t in sim.trials if t.state == TrialState.COMPLETED) >= best - 0.05

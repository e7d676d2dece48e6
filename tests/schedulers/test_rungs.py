"""Rung arithmetic and argument checks of ASHA and Hyperband (hypothesis for the invariants)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hpsearch as hp
from hpsearch.schedulers._rungs import REL_TOL, rung_budgets

from ._helpers import make_trial


@pytest.mark.parametrize(("args", "expected"), [
    ((1, 27, 3), (1, 3, 9)),
    ((1, 26, 3), (1, 3, 9)),
    ((1, 28, 3), (1, 3, 9, 27)),
    ((2, 27, 3), (2, 6, 18)),
    ((1, 9, 3), (1, 3)),
    ((1, 100, 2), (1, 2, 4, 8, 16, 32, 64)),
    ((1, 2, 3), (1,)),
    ((1, 3, 3), (1,)),
    ((1, 1.5, 2), (1,)),
    ((5, 81, 3), (5, 15, 45)),
    ((1, 10, 2.5), (1, 2.5, 6.25)),
])
def test_rung_table(args, expected):
    assert hp.ASHAScheduler(min_budget=args[0], max_budget=args[1],
                            reduction_factor=args[2]).rungs == pytest.approx(expected)


def test_float_rungs_are_reached_by_the_budgets_they_mean():
    # 0.1 * 3 = 0.30000000000000004 in floating point; a report at 0.3 reaches that rung.
    s = hp.ASHAScheduler(min_budget=0.1, max_budget=2.7, reduction_factor=3)
    assert len(s.rungs) == 3 and s.rungs[1] > 0.3
    trials = [make_trial(0, (0.1, 0.5), (0.3, 0.6))]
    s.decide(trials[0], trials, mode="max")
    assert s.rung_values(1) == [0.6]
    # and 0.1 * 3**3 = 2.7000000000000006 is max_budget itself, not a rung, and not "past" it
    t = make_trial(0, (0.1, 0.5), (2.7, 0.5))
    assert not hp.ASHAScheduler(min_budget=0.1, max_budget=2.7).decide(t, [t], mode="max").is_stop


@settings(max_examples=120, deadline=None)
@given(lo=st.floats(1e-3, 1e3), ratio=st.floats(1.0001, 1e4), eta=st.floats(1.05, 10.0))
def test_rungs_bracket_max_budget(lo, ratio, eta):
    hi = lo * ratio
    rungs = rung_budgets(lo, hi, eta)
    assert rungs[0] == lo
    assert all(r < hi * (1 - REL_TOL) for r in rungs)
    for a, b in zip(rungs, rungs[1:], strict=False):
        assert b / a == pytest.approx(eta, rel=1e-9)
    # the next rung would be at or past max_budget: no rung is missing at the top
    assert lo * eta ** len(rungs) >= hi * (1 - REL_TOL)
    # Hyperband: one bracket per rung, plus the full-budget bracket
    h = hp.HyperbandScheduler(min_budget=lo, max_budget=hi, reduction_factor=eta, seed=0)
    assert h.n_brackets == len(rungs) + 1
    assert h.probabilities.sum() == pytest.approx(1.0)


@settings(max_examples=200, deadline=None)
@given(lo=st.integers(1, 20), eta=st.integers(2, 6), p=st.integers(1, 8),
       delta=st.sampled_from([-1, 0, 1]))
def test_integer_rungs_exact(lo, eta, p, delta):
    hi = lo * eta**p + delta
    rungs = rung_budgets(float(lo), float(hi), float(eta))
    expected = [lo * eta**k for k in range(p + 1) if lo * eta**k < hi]
    assert list(rungs) == expected


@settings(max_examples=100, deadline=None)
@given(lo=st.integers(1, 5), eta=st.integers(2, 4), p=st.integers(1, 5), data=st.data())
def test_a_jump_counts_at_the_highest_rung_crossed(lo, eta, p, data):
    hi = lo * eta**p
    s = hp.ASHAScheduler(min_budget=lo, max_budget=hi, reduction_factor=eta)
    b1 = data.draw(st.floats(0.0, hi), label="first budget")
    b2 = data.draw(st.floats(b1, hi), label="second budget")
    t = make_trial(0, (b1, 0.5), (b2, 0.7))
    s.decide(t, [t], mode="max")
    before = sum(r <= b1 * (1 + REL_TOL) for r in s.rungs)
    after = sum(r <= b2 * (1 + REL_TOL) for r in s.rungs)
    for k in range(len(s.rungs)):
        values = s.rung_values(k)
        if after > before and k == after - 1:
            assert values == [0.7]
        elif before and k == before - 1:
            assert values == [0.5]
        else:
            assert values == []


def _msg(owner, name, rng, got):
    return (f"The '{name}' parameter of {owner} must be a float in the range {rng}. "
            f"Got {got} instead.")


@pytest.mark.parametrize("cls", [hp.ASHAScheduler, hp.HyperbandScheduler])
def test_invalid_budget_arguments(cls):
    owner = cls.__name__
    with pytest.raises(hp.InvalidParameterError) as e:
        cls(max_budget=27, reduction_factor=1)
    assert str(e.value) == _msg(owner, "reduction_factor", "(1, inf)", "1")
    with pytest.raises(hp.InvalidParameterError, match="'min_budget' parameter"):
        cls(min_budget=0, max_budget=27)
    with pytest.raises(hp.InvalidParameterError, match="'min_budget' parameter"):
        cls(min_budget=math.nan, max_budget=27)
    with pytest.raises(hp.InvalidParameterError, match="'min_budget' parameter"):
        cls(min_budget=True, max_budget=27)
    with pytest.raises(hp.InvalidParameterError, match=r"'max_budget' .* \(min_budget=3, inf\)"):
        cls(min_budget=3, max_budget=3)
    with pytest.raises(hp.InvalidParameterError, match="'max_budget' parameter"):
        cls(min_budget=1, max_budget=math.inf)
    with pytest.raises(hp.InvalidParameterError, match="'reduction_factor'"):
        cls(max_budget=27, reduction_factor="3")
    with pytest.raises(hp.InvalidParameterError, match="at most 1000"):
        cls(min_budget=1e-300, max_budget=1e300, reduction_factor=1.0001)
    assert isinstance(hp.InvalidParameterError("x"), ValueError)


def test_invalid_median_and_hyperband_arguments():
    with pytest.raises(hp.InvalidParameterError) as e:
        hp.MedianStoppingScheduler(min_trials=0)
    assert str(e.value) == ("The 'min_trials' parameter of MedianStoppingScheduler must be an int "
                            "in the range [1, inf). Got 0 instead.")
    with pytest.raises(hp.InvalidParameterError, match="'min_trials'"):
        hp.MedianStoppingScheduler(min_trials=2.5)
    with pytest.raises(hp.InvalidParameterError) as e:
        hp.MedianStoppingScheduler(min_budget=-1)
    assert str(e.value) == _msg("MedianStoppingScheduler", "min_budget", "[0, inf)", "-1")
    with pytest.raises(hp.InvalidParameterError, match="'seed' parameter of HyperbandScheduler"):
        hp.HyperbandScheduler(max_budget=27, seed=-1)
    with pytest.raises(hp.InvalidParameterError, match="'seed'"):
        hp.HyperbandScheduler(max_budget=27, seed="a")

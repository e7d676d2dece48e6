"""The scheduler conformance suite, run over every registered scheduler (and composition)."""

from __future__ import annotations

import math

import pytest

import hpsearch as hp
from hpsearch._registry import SCHEDULERS, resolve_scheduler
from hpsearch.testing import schedulers as conformance

# Arguments that make each registered scheduler active on curves of 9 budgets (1..9).
ARGS = {
    "fifo": {},
    "divergence": {"metric": "loss", "upper_bound": 1e3, "max_ratio": 10.0},
    "median": {"min_trials": 3},
    "asha": {"min_budget": 1, "max_budget": 9, "reduction_factor": 3},
    "hyperband": {"min_budget": 1, "max_budget": 9, "reduction_factor": 3, "seed": 7},
}
COMPOSITES = {
    "composite(divergence, asha)": {"divergence": ARGS["divergence"], "asha": ARGS["asha"]},
    "composite(divergence, median)": {"divergence": ARGS["divergence"], "median": ARGS["median"]},
    "composite(hyperband, divergence)": {"hyperband": ARGS["hyperband"],
                                        "divergence": ARGS["divergence"]},
}


def test_every_registered_scheduler_is_covered():
    missing = set(SCHEDULERS) - set(ARGS)
    assert not missing, f"add conformance arguments for {missing}"


def _factories():
    out = [pytest.param({name: args}, id=name) for name, args in ARGS.items()]
    out += [pytest.param(spec, id=name) for name, spec in COMPOSITES.items()]
    return out


@pytest.mark.parametrize("spec", _factories())
@pytest.mark.parametrize("check", [
    conformance.check_decisions_are_decisions,
    conformance.check_non_finite_reports,
    conformance.check_deterministic,
    conformance.check_incremental_equals_fresh,
    conformance.check_mode_symmetry,
], ids=lambda f: f.__name__.removeprefix("check_"))
def test_conformance(spec, check):
    check(lambda: resolve_scheduler(spec), seed=3)


def test_composites_are_composites():
    for spec in COMPOSITES.values():
        assert isinstance(resolve_scheduler(spec), hp.CompositeScheduler)


# -- the suite itself must catch broken schedulers ------------------------------------------------
class _CountingScheduler(hp.Scheduler):
    """Hidden state not derived from the trials: stops every 5th report it is asked about."""

    def __init__(self):
        self.calls = 0

    def decide(self, trial, trials, *, mode):
        self.calls += 1
        return hp.Decision.stop("count") if self.calls % 5 == 0 else hp.Decision.CONTINUE


class _MaxOnlyScheduler(hp.Scheduler):
    """Ignores the mode: stops values below 0.3 whatever the direction."""

    def decide(self, trial, trials, *, mode):
        v = trial.reports[-1].value
        return hp.Decision.stop("low") if v < 0.3 else hp.Decision.CONTINUE


class _NaNCrashScheduler(hp.Scheduler):
    def decide(self, trial, trials, *, mode):
        if trial.reports and math.isnan(trial.reports[-1].value):
            raise ValueError("nan")
        return hp.Decision.CONTINUE


class _NotADecision(hp.Scheduler):
    def decide(self, trial, trials, *, mode):
        return "CONTINUE"


def test_suite_catches_hidden_state():
    with pytest.raises(AssertionError, match="new _CountingScheduler"):
        conformance.check_incremental_equals_fresh(_CountingScheduler)


def test_suite_catches_mode_asymmetry():
    with pytest.raises(AssertionError, match="mode='min'"):
        conformance.check_mode_symmetry(_MaxOnlyScheduler)


def test_suite_catches_crash_on_nan():
    with pytest.raises(ValueError, match="nan"):
        conformance.check_non_finite_reports(_NaNCrashScheduler)


def test_suite_catches_non_decisions():
    with pytest.raises(AssertionError, match="not a Decision"):
        conformance.check_decisions_are_decisions(_NotADecision)

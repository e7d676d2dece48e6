"""Factories shared by the scheduler tests."""

from __future__ import annotations

from dataclasses import replace

from hpsearch.trial import Report, Trial, TrialState


def make_trial(number, *reports, state=TrialState.RUNNING, retry_of=None):
    """A trial with reports given as (budget, value) or (budget, value, metrics)."""
    reps = tuple(Report(r[0], r[1], r[2] if len(r) > 2 else {}) for r in reports)
    return Trial(number, state, {}, reports=reps, retry_of=retry_of)


def add_report(trials, number, budget, value, **metrics):
    """Replace trial ``number`` in the list by a copy with one more report; return it."""
    t = trials[number]
    t = replace(t, reports=(*t.reports, Report(float(budget), float(value), metrics)))
    trials[number] = t
    return t

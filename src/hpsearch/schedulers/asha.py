"""Asynchronous successive halving (ASHA) as an early-stopping rule."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from hpsearch.schedulers._base import Decision, Scheduler
from hpsearch.schedulers._rungs import (
    Recording,
    ReportFeed,
    RungTable,
    check_budget_range,
    effective_budget,
    normalized,
    rung_budgets,
    rung_decision,
)
from hpsearch.trial import Mode, Trial

__all__ = ["ASHAScheduler"]


class ASHAScheduler(Scheduler):
    """Stop a trial that is not in the top ``1 / reduction_factor`` at a rung it reaches.

    Rungs lie at ``min_budget * reduction_factor**k`` below ``max_budget`` (see
    :func:`~hpsearch.schedulers._rungs.rung_budgets`; e.g. epochs 1, 3, 9 for ``(1, 27, 3)``).
    When a report's budget reaches a rung, its value is recorded there (a report that jumps
    over several rungs is recorded at the highest one crossed only) and the trial continues
    only if its rank among all values recorded at that rung so far, its own included, is at
    most ``max(1, floor(n / reduction_factor))`` for ``n`` values. Ties share the better rank.
    Use it when trials report a learning curve and most of them can be told apart early.

    Few values at a rung: with fewer than ``reduction_factor`` values, only a trial better
    than every value before it continues (the first trial at a rung always does). ASHA proper
    would pause such a trial until enough others arrive; a stopping rule cannot wait, so this
    errs towards stopping, like Optuna's SuccessiveHalvingPruner; Ray Tune's percentile cutoff
    keeps about ``ceil(n / eta)``. Consequences: the best value at a rung always continues;
    how many of the ``n`` trials continue depends on the order of arrival (exactly
    ``floor(n / eta)`` when decided after all ``n`` values are in, one when they arrive best
    first, all of them when each newcomer beats the ones before).

    Values: lower is better under ``mode="min"``. NaN and infinite values are the worst.
    Budgets: a report below the first rung is never stopped (the grace period); a report past
    ``max_budget`` (more than ``REL_TOL`` relative) stops the trial, since the budget accounting
    assumes no trial goes further; a report at ``max_budget`` continues, so the objective
    returns normally and the trial is COMPLETED. Decisions are immediate: no trial is paused.
    Decisions depend only on the reports in ``trials`` (all trials count, whatever their state),
    so a new scheduler fed the same trials decides the same (resume). A decision costs
    ``O(log n)`` plus the reports not yet seen.

    Args:
        min_budget: the first rung, in the unit of the reported budgets (epochs, steps, s).
        max_budget: the budget of a full trial, same unit (> ``min_budget``).
        reduction_factor: ``eta``, the ratio of successive rungs and the inverse of the
            fraction that continues at each rung (> 1).

    Raises:
        InvalidParameterError: ``min_budget <= 0``, ``max_budget <= min_budget``,
            ``reduction_factor <= 1`` or a non-number.

    References:
        Li, Jamieson, Rostamizadeh, Gonina, Ben-Tzur, Hardt, Recht and Talwalkar, "A System
        for Massively Parallel Hyperparameter Tuning", MLSys 2020, Algorithm 2 (rungs and the
        top ``1/eta`` promotion), used as a stopping rule as in Ray Tune's
        AsyncHyperBandScheduler.

    """

    name = "asha"

    def __init__(self, *, min_budget: float = 1.0, max_budget: float,
                 reduction_factor: float = 3.0) -> None:
        lo, hi, eta = check_budget_range("ASHAScheduler", min_budget, max_budget,
                                         reduction_factor)
        self.min_budget = lo
        self.max_budget = hi
        self.reduction_factor = eta
        self.rungs = rung_budgets(lo, hi, eta)
        self._feed = ReportFeed(self._reset, self._consume)
        self._reset()

    def _reset(self) -> None:
        self._table = RungTable(self.rungs, self.reduction_factor)
        self._budget: list[float] = []  # trial number -> effective budget so far
        self._last: dict[int, Recording] = {}  # trial number -> its latest rung recording

    def _consume(self, trial: Trial, index: int) -> None:
        n = trial.number
        while len(self._budget) <= n:
            self._budget.append(0.0)
        report = trial.reports[index]
        prev = self._budget[n]
        now = effective_budget(prev, report)
        self._budget[n] = now
        rec = self._table.record(prev, now, index, normalized(report.value, self._feed.sign))
        if rec is not None:
            self._last[n] = rec

    def decide(self, trial: Trial, trials: Sequence[Trial], *, mode: Mode) -> Decision:
        """Stop a trial at a rung outside the top ``1 / eta``, or past ``max_budget``."""
        if not trial.reports:
            return Decision.CONTINUE
        self._feed.sync(trial, trials, mode)
        n = trial.number
        return rung_decision("asha", "asha", self._budget[n], self.max_budget, self._last.get(n),
                             len(trial.reports), self._table, self._feed.sign)

    def rung_values(self, k: int) -> list[float]:
        """Return the values recorded at rung ``k`` so far, best first, in the study's units."""
        sign = self._feed.sign
        return [sign * v if math.isfinite(v) else math.nan for v in self._table.values[k]]

    def to_config(self) -> dict[str, Any]:  # noqa: D102
        return {self.name: {"min_budget": self.min_budget, "max_budget": self.max_budget,
                            "reduction_factor": self.reduction_factor}}

    def __repr__(self) -> str:
        return (f"ASHAScheduler(min_budget={self.min_budget:g}, max_budget={self.max_budget:g}, "
                f"reduction_factor={self.reduction_factor:g})")

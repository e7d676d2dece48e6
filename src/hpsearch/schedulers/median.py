"""Median stopping (Google Vizier): stop a trial that is worse than the median of the others."""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from typing import Any

from hpsearch.schedulers._base import Decision, Scheduler
from hpsearch.schedulers._rungs import (
    ReportFeed,
    check_float,
    check_int,
    effective_budget,
    normalized,
)
from hpsearch.trial import Mode, Trial

__all__ = ["MedianStoppingScheduler"]


class _Track:
    """One trial's reports as prefix arrays over its effective (running-maximum) budgets."""

    __slots__ = ("best", "budgets", "sums")

    def __init__(self) -> None:
        self.budgets: list[float] = []  # effective budget after each report (non-decreasing)
        self.sums: list[float] = []  # prefix sums of the normalized values
        self.best: float = math.inf  # best (lowest) normalized value so far

    def average_at(self, b: float) -> float | None:
        """Return the running average of the values reported up to budget ``b``.

        None when the trial has not reached ``b``, or reported nothing at or below ``b``.
        """
        if not self.budgets or self.budgets[-1] < b:
            return None
        j = bisect.bisect_right(self.budgets, b)
        return self.sums[j - 1] / j if j else None


class MedianStoppingScheduler(Scheduler):
    """Stop a trial whose best value so far is worse than the median of the other trials.

    At a report at budget ``b`` (the trial's largest budget so far), the trial is stopped when
    its best value up to ``b`` is strictly worse than the median of the running averages up to
    ``b`` of the other trials that have reached ``b`` (a trial's running average up to ``b`` is
    the mean of the values it reported at budgets up to ``b``). No decision is taken below
    ``min_budget``, nor with fewer than ``min_trials`` other trials at ``b``. A simple rule with
    no budget schedule, for learning curves that rank early; ASHA stops more aggressively.

    Details: the other trials count whatever their state (running, stopped after ``b``,
    completed), so the decision is a function of the reports only; trials stopped before ``b``
    do not count at ``b``. A budget lower than an earlier one of the same trial counts at the
    earlier budget. NaN and infinite values are the worst (their running averages are
    infinite). Comparisons at ``b`` use the budgets exactly as reported: trials reporting at the
    same budgets (epochs, steps) are compared. A decision costs ``O(log n)`` at a budget already
    seen and ``O(n)`` (n trials) the first time a budget value is compared at.

    Args:
        min_budget: budget (user units) before which no trial is stopped (the grace period).
        min_trials: the least number of other trials that must have reached ``b``.

    Raises:
        InvalidParameterError: a negative or non-finite ``min_budget``, ``min_trials < 1``.

    References:
        Golovin, Solnik, Moitra, Kochanski, Karro and Sculley, "Google Vizier: A Service for
        Black-Box Optimization", KDD 2017, section 3.2.2 (median stopping rule).

    """

    name = "median"

    def __init__(self, *, min_budget: float = 1.0, min_trials: int = 5) -> None:
        self.min_budget = check_float("MedianStoppingScheduler", "min_budget", min_budget, 0.0,
                                      low_open=False)
        self.min_trials = check_int("MedianStoppingScheduler", "min_trials", min_trials, 1)
        self._feed = ReportFeed(self._reset, self._consume)
        self._reset()

    def _reset(self) -> None:
        self._tracks: dict[int, _Track] = {}
        # budget b -> sorted running averages at b of the trials that reached b (built lazily)
        self._at: dict[float, list[float]] = {}
        self._keys: list[float] = []  # sorted keys of self._at

    def _consume(self, trial: Trial, index: int) -> None:
        tr = self._tracks.setdefault(trial.number, _Track())
        report = trial.reports[index]
        prev = tr.budgets[-1] if tr.budgets else -math.inf
        now = effective_budget(prev if tr.budgets else -math.inf, report)
        if now == -math.inf:  # a first report with a non-finite budget: count it at 0
            now = 0.0
        v = normalized(report.value, self._feed.sign)
        old_avg = tr.sums[-1] / len(tr.sums) if tr.sums else None
        tr.budgets.append(now)
        tr.sums.append((tr.sums[-1] if tr.sums else 0.0) + v)
        tr.best = min(tr.best, v)
        new_avg = tr.sums[-1] / len(tr.sums)
        # Cached budgets in (prev, now) get the old average (reports up to prev); the cached
        # budget equal to now gets the new one, replacing the old if the trial was there.
        lo = bisect.bisect_right(self._keys, prev)
        hi = bisect.bisect_right(self._keys, now)
        for b in self._keys[lo:hi]:
            vals = self._at[b]
            if b < now:
                if old_avg is not None:
                    bisect.insort(vals, old_avg)
            else:
                bisect.insort(vals, new_avg)
        if prev == now and now in self._at and old_avg is not None:
            vals = self._at[now]
            del vals[bisect.bisect_left(vals, old_avg)]
            bisect.insort(vals, new_avg)

    def _averages_at(self, b: float) -> list[float]:
        vals = self._at.get(b)
        if vals is None:
            vals = sorted(a for tr in self._tracks.values()
                          if (a := tr.average_at(b)) is not None)
            self._at[b] = vals
            bisect.insort(self._keys, b)
        return vals

    def decide(self, trial: Trial, trials: Sequence[Trial], *, mode: Mode) -> Decision:
        """Stop when the trial's best is worse than the others' median at its budget."""
        if not trial.reports:
            return Decision.CONTINUE
        self._feed.sync(trial, trials, mode)
        tr = self._tracks[trial.number]
        b = tr.budgets[-1]
        if b < self.min_budget:
            return Decision.CONTINUE
        vals = self._averages_at(b)
        own = tr.average_at(b)
        n = len(vals) - 1  # the others
        if own is None or n < self.min_trials:
            return Decision.CONTINUE
        skip = bisect.bisect_left(vals, own)  # drop one copy of the trial's own average

        def other(i: int) -> float:
            return vals[i] if i < skip else vals[i + 1]

        median = other(n // 2) if n % 2 else (other(n // 2 - 1) + other(n // 2)) / 2.0
        if tr.best > median:
            sign = self._feed.sign
            best = sign * tr.best if math.isfinite(tr.best) else math.nan
            return Decision.stop(
                f"median: best {best:.4g} worse than the median {sign * median:.4g} of the "
                f"running averages of {n} other trials at budget {b:g}")
        return Decision.CONTINUE

    def to_config(self) -> dict[str, Any]:  # noqa: D102
        return {self.name: {"min_budget": self.min_budget, "min_trials": self.min_trials}}

    def __repr__(self) -> str:
        return (f"MedianStoppingScheduler(min_budget={self.min_budget:g}, "
                f"min_trials={self.min_trials})")

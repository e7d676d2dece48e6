"""Asynchronous Hyperband: ASHA brackets with different minimum budgets."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from hpsearch.exceptions import InvalidParameterError
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

__all__ = ["HyperbandScheduler"]


def bracket_weights(n_brackets: int, reduction_factor: float) -> np.ndarray:
    """Hyperband's number of configurations per bracket, normalized to probabilities.

    Bracket ``j`` starts at rung ``j``; it halves ``s = s_max - j`` times, where
    ``s_max = n_brackets - 1``, and Hyperband gives it ``n_s = ceil((s_max + 1) * eta**s /
    (s + 1))`` configurations (Li et al. 2018, Algorithm 1, line 3).

    Returns:
        Probabilities of shape (n_brackets,), summing to 1.

    """
    s_max = n_brackets - 1
    n_s = np.array([math.ceil((s_max + 1) * reduction_factor ** (s_max - j) / (s_max - j + 1))
                    for j in range(n_brackets)], dtype=float)
    probabilities: np.ndarray = n_s / n_s.sum()
    return probabilities


class HyperbandScheduler(Scheduler):
    """Asynchronous Hyperband: each trial runs in one ASHA bracket drawn at random.

    With the rungs ``r_0 < r_1 < ... < r_{s_max - 1}`` of :class:`ASHAScheduler` for the same
    arguments, bracket ``j`` (``j = 0 .. s_max``) uses the rungs ``r_j, r_{j+1}, ...``: bracket
    0 is ASHA itself, the last bracket has no rung (its trials run to ``max_budget``). Hedging
    over brackets protects against a ``min_budget`` too small to rank trials. A trial's bracket
    is drawn with probability proportional to Hyperband's ``n_s`` (the bracket that halves
    ``s`` times gets ``ceil((s_max + 1) eta**s / (s + 1))`` configurations), by a generator
    seeded with ``(seed, trial number)`` (a retry uses the number of its first attempt), so the
    assignment is a pure function of the history. Values are ranked only within a bracket;
    the rules at a rung, for few values, past ``max_budget`` and for NaN are those of
    :class:`ASHAScheduler`. No bracket can stall: decisions are immediate, never a pause.

    Args:
        min_budget: the first rung of the most aggressive bracket, in budget units (> 0).
        max_budget: the budget of a full trial, same unit (> ``min_budget``).
        reduction_factor: ``eta`` (> 1).
        seed: seeds the bracket draws; None draws a seed, kept in ``to_config`` so a resumed
            study assigns the same brackets.

    Raises:
        InvalidParameterError: as :class:`ASHAScheduler`, or a seed that is not an int >= 0.

    References:
        Li, Jamieson, DeSalvo, Rostamizadeh and Talwalkar, "Hyperband: A Novel Bandit-Based
        Approach to Hyperparameter Optimization", JMLR 18(185), 2018, Algorithm 1; made
        asynchronous with ASHA brackets as in Li et al., MLSys 2020, section 3.3.

    """

    name = "hyperband"

    def __init__(self, *, min_budget: float = 1.0, max_budget: float,
                 reduction_factor: float = 3.0, seed: int | None = None) -> None:
        lo, hi, eta = check_budget_range("HyperbandScheduler", min_budget, max_budget,
                                         reduction_factor)
        if seed is None:
            seed = int(np.random.SeedSequence().entropy % (2**63))  # type: ignore[operator]
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
            raise InvalidParameterError(
                f"The 'seed' parameter of HyperbandScheduler must be an int in the range "
                f"[0, inf) or None. Got {seed!r} instead.")
        self.min_budget = lo
        self.max_budget = hi
        self.reduction_factor = eta
        self.seed = int(seed)
        self.rungs = rung_budgets(lo, hi, eta)
        self.n_brackets = len(self.rungs) + 1
        self.probabilities = bracket_weights(self.n_brackets, eta)
        self._cdf = np.cumsum(self.probabilities)
        self._feed = ReportFeed(self._reset, self._consume)
        self._reset()

    def bracket_of(self, trial: Trial) -> int:
        """Return the bracket of ``trial``: a function of ``(seed, first attempt's number)``."""
        root = trial.number if trial.retry_of is None else trial.retry_of
        u = np.random.default_rng([self.seed, root]).random()
        return min(int(np.searchsorted(self._cdf, u, side="right")), self.n_brackets - 1)

    def _reset(self) -> None:
        self._tables = [RungTable(self.rungs[j:], self.reduction_factor)
                        for j in range(self.n_brackets)]
        self._bracket: dict[int, int] = {}
        self._budget: dict[int, float] = {}
        self._last: dict[int, Recording] = {}

    def _consume(self, trial: Trial, index: int) -> None:
        n = trial.number
        if n not in self._bracket:
            self._bracket[n] = self.bracket_of(trial)
        report = trial.reports[index]
        prev = self._budget.get(n, 0.0)
        now = effective_budget(prev, report)
        self._budget[n] = now
        table = self._tables[self._bracket[n]]
        rec = table.record(prev, now, index, normalized(report.value, self._feed.sign))
        if rec is not None:
            self._last[n] = rec

    def decide(self, trial: Trial, trials: Sequence[Trial], *, mode: Mode) -> Decision:
        """ASHA's rule within the trial's bracket (see the class docstring)."""
        if not trial.reports:
            return Decision.CONTINUE
        self._feed.sync(trial, trials, mode)
        n = trial.number
        j = self._bracket[n]
        return rung_decision("hyperband", f"hyperband bracket {j}", self._budget[n],
                             self.max_budget, self._last.get(n), len(trial.reports),
                             self._tables[j], self._feed.sign)

    def to_config(self) -> dict[str, Any]:  # noqa: D102
        return {self.name: {"min_budget": self.min_budget, "max_budget": self.max_budget,
                            "reduction_factor": self.reduction_factor, "seed": self.seed}}

    def __repr__(self) -> str:
        return (f"HyperbandScheduler(min_budget={self.min_budget:g}, "
                f"max_budget={self.max_budget:g}, reduction_factor={self.reduction_factor:g}, "
                f"seed={self.seed})")

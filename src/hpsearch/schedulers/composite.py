"""Several stopping rules at once: a trial stops when any of them says so."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hpsearch.exceptions import InvalidParameterError
from hpsearch.schedulers._base import Decision, Scheduler
from hpsearch.trial import Mode, Trial

__all__ = ["CompositeScheduler"]


class CompositeScheduler(Scheduler):
    """Combine schedulers: the first STOP among them (in order) wins.

    Typical use: divergence stopping together with ASHA, so that exploding runs stop at once and
    the others are pruned by rank.

    Args:
        schedulers: one or more schedulers, asked in order on every report.

    Raises:
        InvalidParameterError: an empty list or an element that is not a Scheduler.
    """

    name = "composite"

    def __init__(self, schedulers: Sequence[Scheduler]) -> None:
        if not schedulers:
            raise InvalidParameterError("CompositeScheduler needs at least one scheduler.")
        for s in schedulers:
            if not isinstance(s, Scheduler):
                raise InvalidParameterError(
                    f"CompositeScheduler takes Scheduler objects. Got {type(s).__name__}."
                )
        self.schedulers = tuple(schedulers)

    def decide(self, trial: Trial, trials: Sequence[Trial], *, mode: Mode) -> Decision:
        """STOP when any member says STOP; every member is asked so each sees every report."""
        verdict = Decision.CONTINUE
        for s in self.schedulers:
            d = s.decide(trial, trials, mode=mode)
            if d.is_stop and not verdict.is_stop:
                verdict = d
        return verdict

    @property
    def max_budget(self) -> float | None:
        """The smallest ``max_budget`` of the members (budget accounting), or None."""
        budgets = [b for s in self.schedulers if (b := getattr(s, "max_budget", None)) is not None]
        return min(budgets) if budgets else None

    def to_config(self) -> dict[str, Any]:  # noqa: D102
        out: dict[str, Any] = {}
        for s in self.schedulers:
            out.update(s.to_config())
        return out

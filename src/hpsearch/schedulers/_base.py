"""The Scheduler contract: early-stopping decisions from the reports so far.

``decide(trial, trials, mode=...)`` is called by the study after each report of ``trial`` has
been committed; ``trial.reports[-1]`` is the new report. Schedulers are pure functions of the
trials (DESIGN.md rule 1): no storage, executor, clock or global RNG, so the decisions after a
resume equal those before. A scheduler may memoize derived state incrementally when the memo is
recomputable from ``trials``.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from hpsearch.trial import Mode, Trial

__all__ = ["Decision", "Scheduler", "sign_for"]


@dataclass(frozen=True, slots=True)
class Decision:
    """A scheduler's verdict on a trial: continue, or stop with a reason.

    Use ``Decision.CONTINUE`` and ``Decision.stop("why")``.
    """

    is_stop: bool
    reason: str | None = None

    CONTINUE: ClassVar[Decision]

    @classmethod
    def stop(cls, reason: str) -> Decision:
        """A STOP decision; ``reason`` is stored with the trial (e.g. ``"asha: rung 1"``)."""
        return cls(True, reason)

    def __str__(self) -> str:
        return f"STOP ({self.reason})" if self.is_stop else "CONTINUE"


Decision.CONTINUE = Decision(False, None)


def sign_for(mode: Mode) -> float:
    """+1 for "min", -1 for "max": multiply values by it to always minimize."""
    return 1.0 if mode == "min" else -1.0


def finite(x: float | None) -> bool:
    """Whether ``x`` is a finite real number."""
    return x is not None and isinstance(x, (int, float)) and math.isfinite(x)


class Scheduler(ABC):
    """Decides after every report whether a trial continues. See the module docstring."""

    #: the YAML / CLI name (``scheduler: asha``).
    name: str = ""

    @abstractmethod
    def decide(self, trial: Trial, trials: Sequence[Trial], *, mode: Mode) -> Decision:
        """Decide on ``trial`` after its newest report.

        Args:
            trial: the trial that just reported (``trial.reports[-1]`` is the new report).
            trials: every trial of the study by number, ``trial`` included (read-only view).
            mode: ``"min"`` or ``"max"`` for the reported values.

        Returns:
            ``Decision.CONTINUE`` or ``Decision.stop(reason)``.
        """

    def to_config(self) -> dict[str, Any]:
        """A JSON-able description stored with the study (``{name: {args}}``)."""
        return {self.name: {}}

"""Trial records: the states of a trial and the frozen dataclasses that describe it.

A trial goes PENDING (asked, not yet running) -> RUNNING -> one of the terminal states COMPLETED,
STOPPED (an early-stopping scheduler ended it; its value is its last report) or FAILED (the
objective raised or returned a non-number, the worker died, a timeout, or the driver was
interrupted; ``reason`` says which).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

from hpsearch.space import ParamValue

__all__ = [
    "Mode", "Report", "Trial", "TrialState", "TrialsView", "is_better", "validate_mode",
]

Mode = str  # "min" | "max"


class TrialState(enum.StrEnum):
    """The life cycle of a trial."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    STOPPED = "STOPPED"
    FAILED = "FAILED"

    @property
    def is_finished(self) -> bool:
        """Whether the state is terminal (COMPLETED, STOPPED or FAILED)."""
        return self in (TrialState.COMPLETED, TrialState.STOPPED, TrialState.FAILED)


@dataclass(frozen=True, slots=True)
class Report:
    """One intermediate result of a trial.

    Attributes:
        budget: the resource consumed so far, in the user's unit (epochs, steps, seconds).
        value: the study's metric at that budget (may be NaN or inf: schedulers must cope).
        metrics: other reported metrics, e.g. ``{"loss": 0.31}``.
    """

    budget: float
    value: float
    metrics: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Trial:
    """An immutable snapshot of one trial.

    Attributes:
        number: 0-based index of the trial in its study.
        state: the current :class:`TrialState`.
        params: the hyperparameter values (inactive conditional parameters absent).
        value: the study's metric (final value; for STOPPED, the last report's); None otherwise.
        metrics: every metric of the final result (the objective's dict, or the last report's).
        reports: intermediate reports in the order received.
        reason: why a trial FAILED or was STOPPED (``"exception"``, ``"timeout"``,
            ``"worker lost"``, ``"interrupted"``, ``"divergence: ..."``), else None.
        traceback: the formatted traceback of a failure, if any.
        retry_of: number of the first attempt this trial retries or re-runs, else None.
        attempt: 0 for a first attempt, k for the k-th retry.
        created_at, started_at, finished_at: POSIX timestamps in seconds.
    """

    number: int
    state: TrialState
    params: Mapping[str, ParamValue]
    value: float | None = None
    metrics: Mapping[str, Any] = field(default_factory=dict)
    reports: tuple[Report, ...] = ()
    reason: str | None = None
    traceback: str | None = None
    retry_of: int | None = None
    attempt: int = 0
    created_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None

    @property
    def last_report(self) -> Report | None:
        """The most recent report, or None."""
        return self.reports[-1] if self.reports else None

    @property
    def budget_used(self) -> float:
        """The largest budget reported (0 when the trial never reported)."""
        return max((r.budget for r in self.reports), default=0.0)

    @property
    def duration(self) -> float | None:
        """Seconds from start to finish, or None while unfinished."""
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serializable form (``hpsearch show --json`` and exports)."""
        return {
            "number": self.number,
            "state": self.state.value,
            "params": dict(self.params),
            "value": self.value,
            "metrics": dict(self.metrics),
            "reports": [
                {"budget": r.budget, "value": r.value, **dict(r.metrics)} for r in self.reports
            ],
            "budget_used": self.budget_used,
            "reason": self.reason,
            "retry_of": self.retry_of,
            "attempt": self.attempt,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "duration": self.duration,
        }


def validate_mode(mode: str) -> Mode:
    """Return ``mode`` if it is ``"min"`` or ``"max"``.

    Raises:
        InvalidParameterError: any other value.
    """
    from hpsearch.exceptions import InvalidParameterError

    if mode not in ("min", "max"):
        raise InvalidParameterError(f"The 'mode' must be 'min' or 'max'. Got {mode!r} instead.")
    return mode


def is_better(a: float, b: float | None, mode: Mode) -> bool:
    """Whether value ``a`` beats ``b`` under ``mode``.

    NaN never beats anything; any number beats None or NaN.
    """
    if a is None or math.isnan(a):
        return False
    if b is None or math.isnan(b):
        return True
    return a < b if mode == "min" else a > b


class TrialsView(Sequence[Trial]):
    """A read-only, zero-copy view of a study's trials by number (handed to policies)."""

    __slots__ = ("_items",)

    def __init__(self, items: list[Trial]) -> None:
        self._items = items

    @overload
    def __getitem__(self, i: int) -> Trial: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[Trial]: ...
    def __getitem__(self, i: int | slice) -> Trial | Sequence[Trial]:
        return self._items[i]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Trial]:
        return iter(self._items)

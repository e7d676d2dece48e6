"""The Executor contract: how the driver runs trials somewhere and hears back from them.

The driver (``Study``) calls :meth:`Executor.start` once with the objective, then
:meth:`~Executor.submit` for each trial while a slot is free, and :meth:`~Executor.events` to wait
for what the trials say. Events travel over a channel the executor provides (pipes for local
processes, a queue or actor for Ray and Dask); workers never open the database.

Reports are synchronous: a worker's ``reporter.report(...)`` sends a :class:`Reported` event and
waits for the decision, which the driver sends with :meth:`~Executor.send_decision` after the
report is committed and the scheduler has decided; on STOP the ``report`` call raises
``TrialStopped``, so a stopped trial spends no further budget. An executor whose engine cannot
wait for a reply may deliver STOP asynchronously (the next report raises); it says so in its
docstring.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Event",
    "Executor",
    "Failed",
    "Finished",
    "Reported",
    "Started",
    "Stopped",
]


@dataclass(frozen=True, slots=True)
class Started:
    """The trial began on a worker (``worker`` names it, e.g. ``"pid 1234"``)."""

    number: int
    worker: str


@dataclass(frozen=True, slots=True)
class Reported:
    """An intermediate report; the worker waits for ``send_decision`` (see the module docstring)."""

    number: int
    budget: float
    value: float
    metrics: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Finished:
    """The objective returned ``result`` (raw: a number, a dict of metrics, or anything else)."""

    number: int
    result: Any


@dataclass(frozen=True, slots=True)
class Failed:
    """The trial failed: ``reason`` is ``"exception"``, ``"worker lost"``, ``"timeout"``, ..."""

    number: int
    reason: str
    traceback: str | None = None


@dataclass(frozen=True, slots=True)
class Stopped:
    """The worker acknowledged a STOP decision (its ``report`` raised ``TrialStopped``)."""

    number: int


Event = Started | Reported | Finished | Failed | Stopped


class Executor(ABC):
    """Runs trials for one driver. See the module docstring for the protocol."""

    #: how many trials may run at once.
    n_slots: int

    @abstractmethod
    def start(self, objective: Callable[..., Any]) -> None:
        """Prepare workers for ``objective`` (shipped once per worker, not once per trial).

        Raises:
            ExecutorError: workers cannot be started or the objective cannot be serialized.
        """

    @abstractmethod
    def submit(self, number: int, params: Mapping[str, Any]) -> None:
        """Run trial ``number`` with ``params`` on a free slot.

        Raises:
            ExecutorError: no slot is free (``n_running >= n_slots``).
        """

    @property
    @abstractmethod
    def n_running(self) -> int:
        """Trials submitted and not yet Finished / Failed / Stopped."""

    @abstractmethod
    def events(self, timeout: float | None) -> list[Event]:
        """Wait up to ``timeout`` seconds (None: forever) for events; return those available.

        Returns an empty list on timeout. Each submitted trial ends with exactly one of
        :class:`Finished`, :class:`Failed` or :class:`Stopped`.
        """

    @abstractmethod
    def send_decision(self, number: int, stop: bool) -> None:
        """Answer the latest report of trial ``number``: continue, or raise TrialStopped."""

    @abstractmethod
    def kill(self, number: int, reason: str) -> None:
        """End trial ``number`` now (a timeout, a second Ctrl-C); a ``Failed(reason)`` follows.

        A no-op when the trial has already ended.
        """

    @abstractmethod
    def shutdown(self) -> None:
        """Kill running trials and release workers; idempotent."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

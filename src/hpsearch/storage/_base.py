"""The Storage contract: what the driver writes and what readers see.

The driver of a study is the only writer (DESIGN.md rule 2); readers (the CLI's ``show``, a
dashboard) may read concurrently. Every method commits before it returns, so an event is durable
once the call is back. Implementations raise :class:`~hpsearch.exceptions.StorageError` (from the
driver's error) with a one-line message naming the database and the cause.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hpsearch.trial import Trial, TrialState

__all__ = ["Storage", "StudyRecord", "StudySummary"]


@dataclass(frozen=True)
class StudyRecord:
    """A stored study's definition.

    Attributes:
        study_id: the storage's key.
        name: unique name.
        metric: name of the optimized metric.
        mode: ``"min"`` or ``"max"``.
        space: the search space's canonical dict (``SearchSpace.to_dict()``).
        config: other settings (searcher, scheduler, seed, n_trials, ...) as JSON-able dict.
        created_at: POSIX seconds.
    """

    study_id: int
    name: str
    metric: str
    mode: str
    space: Mapping[str, Any]
    config: Mapping[str, Any]
    created_at: float


@dataclass(frozen=True)
class StudySummary:
    """One line of ``hpsearch ls``: counts per state and the best value."""

    name: str
    metric: str
    mode: str
    created_at: float
    n_trials: int
    counts: Mapping[str, int]
    best_value: float | None


class Storage(ABC):
    """Persistence of studies, trials and reports. See the module docstring for the contract."""

    url: str

    # -- studies ---------------------------------------------------------------------------
    @abstractmethod
    def create_study(
        self, name: str, *, metric: str, mode: str, space: Mapping[str, Any],
        config: Mapping[str, Any], created_at: float,
    ) -> StudyRecord:
        """Create a study. Raises StorageError when the name is taken."""

    @abstractmethod
    def get_study(self, name: str) -> StudyRecord:
        """Load a study's definition. Raises StudyNotFoundError."""

    @abstractmethod
    def update_study_config(self, study_id: int, config: Mapping[str, Any]) -> None:
        """Replace the stored config of a study."""

    @abstractmethod
    def list_studies(self) -> list[StudySummary]:
        """Every study with its trial counts, oldest first."""

    @abstractmethod
    def delete_study(self, name: str) -> None:
        """Delete a study with its trials and reports. Raises StudyNotFoundError."""

    # -- the driver lock -------------------------------------------------------------------
    @abstractmethod
    def acquire_lock(self, study_id: int, owner: str, *, now: float, stale_after: float) -> bool:
        """Take the study's driver lock if free, held by ``owner``, or stale.

        Stale means a last heartbeat older than ``stale_after`` seconds. Returns whether the lock
        is now held by ``owner``.
        """

    @abstractmethod
    def heartbeat(self, study_id: int, owner: str, *, now: float) -> bool:
        """Refresh the lock's heartbeat; returns False if ``owner`` no longer holds it."""

    @abstractmethod
    def release_lock(self, study_id: int, owner: str) -> None:
        """Release the lock if ``owner`` holds it."""

    @abstractmethod
    def lock_info(self, study_id: int) -> tuple[str | None, float | None]:
        """The lock's ``(owner, last heartbeat)``; ``(None, None)`` when free."""

    # -- trials ----------------------------------------------------------------------------
    @abstractmethod
    def create_trial(
        self, study_id: int, number: int, *, state: TrialState, params: Mapping[str, Any],
        created_at: float, started_at: float | None = None, retry_of: int | None = None,
        attempt: int = 0,
    ) -> None:
        """Insert a trial (params in JSON form). Raises StorageError if the number exists."""

    @abstractmethod
    def start_trial(self, study_id: int, number: int, *, started_at: float) -> None:
        """Mark a PENDING trial RUNNING."""

    @abstractmethod
    def add_report(
        self, study_id: int, number: int, *, budget: float, value: float,
        metrics: Mapping[str, Any],
    ) -> None:
        """Append an intermediate report to a trial."""

    @abstractmethod
    def finish_trial(
        self, study_id: int, number: int, *, state: TrialState, value: float | None,
        metrics: Mapping[str, Any], finished_at: float, reason: str | None = None,
        traceback: str | None = None,
    ) -> None:
        """Record a trial's terminal state."""

    @abstractmethod
    def get_trials(
        self, study_id: int, *, decode: Any = None, states: Sequence[TrialState] | None = None,
    ) -> list[Trial]:
        """Every trial of a study with its reports, by number.

        Args:
            study_id: the study.
            decode: optional callable mapping stored JSON params to user values
                (``SearchSpace.from_json_params``).
            states: only trials in these states.
        """

    @abstractmethod
    def close(self) -> None:
        """Release connections. The storage must not be used afterwards."""

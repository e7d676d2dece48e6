"""The scheduler that never stops a trial."""

from __future__ import annotations

from collections.abc import Sequence

from hpsearch.schedulers._base import Decision, Scheduler
from hpsearch.trial import Mode, Trial

__all__ = ["FIFOScheduler"]


class FIFOScheduler(Scheduler):
    """Run every trial to its end (no early stopping), as Ray Tune's FIFOScheduler."""

    name = "fifo"

    def decide(self, trial: Trial, trials: Sequence[Trial], *, mode: Mode) -> Decision:
        """Always ``Decision.CONTINUE``."""
        return Decision.CONTINUE

"""Schedulers: early-stopping decisions after each report."""

from hpsearch.schedulers._base import Decision, Scheduler
from hpsearch.schedulers.composite import CompositeScheduler
from hpsearch.schedulers.divergence import DivergenceScheduler
from hpsearch.schedulers.fifo import FIFOScheduler

__all__ = [
    "CompositeScheduler",
    "Decision",
    "DivergenceScheduler",
    "FIFOScheduler",
    "Scheduler",
]

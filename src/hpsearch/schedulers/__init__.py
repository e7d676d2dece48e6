"""Schedulers: early-stopping decisions after each report."""

from hpsearch.schedulers._base import Decision, Scheduler
from hpsearch.schedulers.asha import ASHAScheduler
from hpsearch.schedulers.composite import CompositeScheduler
from hpsearch.schedulers.divergence import DivergenceScheduler
from hpsearch.schedulers.fifo import FIFOScheduler
from hpsearch.schedulers.hyperband import HyperbandScheduler
from hpsearch.schedulers.median import MedianStoppingScheduler

__all__ = [
    "ASHAScheduler",
    "CompositeScheduler",
    "Decision",
    "DivergenceScheduler",
    "FIFOScheduler",
    "HyperbandScheduler",
    "MedianStoppingScheduler",
    "Scheduler",
]

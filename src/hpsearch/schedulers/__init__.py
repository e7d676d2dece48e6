"""Schedulers: early-stopping decisions after each report."""

# The public front is lazy (PEP 562): importing hpsearch, e.g. in every worker process,
# does not import scipy, SQLAlchemy or the engines until a name is used.
from __future__ import annotations

from typing import TYPE_CHECKING

from hpsearch._lazy import lazy_exports

if TYPE_CHECKING:
    from hpsearch.schedulers._base import Decision, Scheduler
    from hpsearch.schedulers.asha import ASHAScheduler
    from hpsearch.schedulers.composite import CompositeScheduler
    from hpsearch.schedulers.divergence import DivergenceScheduler
    from hpsearch.schedulers.fifo import FIFOScheduler
    from hpsearch.schedulers.hyperband import HyperbandScheduler
    from hpsearch.schedulers.median import MedianStoppingScheduler

_EXPORTS: dict[str, str] = {
    "ASHAScheduler": "hpsearch.schedulers.asha",
    "CompositeScheduler": "hpsearch.schedulers.composite",
    "Decision": "hpsearch.schedulers._base",
    "DivergenceScheduler": "hpsearch.schedulers.divergence",
    "FIFOScheduler": "hpsearch.schedulers.fifo",
    "HyperbandScheduler": "hpsearch.schedulers.hyperband",
    "MedianStoppingScheduler": "hpsearch.schedulers.median",
    "Scheduler": "hpsearch.schedulers._base",
}

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

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)

"""Schedulers: early-stopping decisions after each report."""

# The public front is lazy (PEP 562): importing hpsearch, e.g. in every worker process,
# does not import scipy, SQLAlchemy or the engines until a name is used.
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

"""Executors: where trials run (inline, local processes, Ray, Dask)."""

# The public front is lazy (PEP 562): importing hpsearch, e.g. in every worker process,
# does not import scipy, SQLAlchemy or the engines until a name is used.
from __future__ import annotations

from typing import TYPE_CHECKING

from hpsearch._lazy import lazy_exports

if TYPE_CHECKING:
    from hpsearch.executors._base import (
        Event,
        Executor,
        Failed,
        Finished,
        Reported,
        Started,
        Stopped,
    )
    from hpsearch.executors._worker import Reporter
    from hpsearch.executors.dask import DaskExecutor
    from hpsearch.executors.inline import InlineExecutor
    from hpsearch.executors.local import LocalExecutor
    from hpsearch.executors.ray import RayExecutor

_EXPORTS: dict[str, str] = {
    "DaskExecutor": "hpsearch.executors.dask",
    "Event": "hpsearch.executors._base",
    "Executor": "hpsearch.executors._base",
    "Failed": "hpsearch.executors._base",
    "Finished": "hpsearch.executors._base",
    "InlineExecutor": "hpsearch.executors.inline",
    "LocalExecutor": "hpsearch.executors.local",
    "RayExecutor": "hpsearch.executors.ray",
    "Reported": "hpsearch.executors._base",
    "Reporter": "hpsearch.executors._worker",
    "Started": "hpsearch.executors._base",
    "Stopped": "hpsearch.executors._base",
}

__all__ = [
    "DaskExecutor",
    "Event",
    "Executor",
    "Failed",
    "Finished",
    "InlineExecutor",
    "LocalExecutor",
    "RayExecutor",
    "Reported",
    "Reporter",
    "Started",
    "Stopped",
]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)

"""Executors: where trials run (inline, local processes, Ray, Dask)."""

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
from hpsearch.executors.inline import InlineExecutor
from hpsearch.executors.local import LocalExecutor

__all__ = [
    "Event",
    "Executor",
    "Failed",
    "Finished",
    "InlineExecutor",
    "LocalExecutor",
    "Reported",
    "Reporter",
    "Started",
    "Stopped",
]

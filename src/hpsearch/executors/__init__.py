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
from hpsearch.executors.dask import DaskExecutor
from hpsearch.executors.inline import InlineExecutor
from hpsearch.executors.local import LocalExecutor
from hpsearch.executors.ray import RayExecutor

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

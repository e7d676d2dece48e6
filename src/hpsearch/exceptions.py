"""Exceptions raised by hpsearch.

The tree::

    HpsearchError
     +-- InvalidParameterError (ValueError)   a bad argument to a public class or function
     |    +-- SearchSpaceError                 a malformed search space or distribution
     |    +-- ConfigError                      a malformed YAML study file
     +-- StorageError (RuntimeError)          the database cannot be opened, read or written
     |    +-- StudyNotFoundError (KeyError)    no study of that name in the storage
     |    +-- StudyLockedError                 another live driver owns the study
     +-- ExecutorError (RuntimeError)         the executor cannot start or run trials
     +-- MissingDependencyError (ImportError) an optional extra is not installed
    TrialStopped (Exception)                  control flow: raised by ``reporter.report``

``TrialStopped`` is deliberately not an ``HpsearchError``: it is not an error, and the worker
wrapper catches it, so user code need not.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "ExecutorError",
    "HpsearchError",
    "InvalidParameterError",
    "MissingDependencyError",
    "SearchSpaceError",
    "StorageError",
    "StudyLockedError",
    "StudyNotFoundError",
    "TrialStopped",
]


class HpsearchError(Exception):
    """Root of every error hpsearch raises on purpose."""


class InvalidParameterError(HpsearchError, ValueError):
    """An argument of a public function or class is out of its domain."""


class SearchSpaceError(InvalidParameterError):
    """A distribution or a search space is malformed (empty range, bad step, ...)."""


class ConfigError(InvalidParameterError):
    """A YAML study file is malformed; the message names the key and the fix."""


class StorageError(HpsearchError, RuntimeError):
    """The storage cannot be opened, read or written; raised ``from`` the driver's error."""


class StudyNotFoundError(StorageError, KeyError):
    """No study of the requested name exists in the storage."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class StudyLockedError(StorageError):
    """Another driver that is still alive owns the study."""


class ExecutorError(HpsearchError, RuntimeError):
    """The executor cannot start workers or run trials."""


class MissingDependencyError(HpsearchError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""


class TrialStopped(Exception):
    """Raised by ``Reporter.report`` when the scheduler has stopped the trial.

    User code should let it propagate: the worker wrapper catches it and the trial is
    recorded as STOPPED with its last report.
    """

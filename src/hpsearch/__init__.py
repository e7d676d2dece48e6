"""hpsearch: hyperparameter optimization with parallel trials, early stopping and persisted studies.

Quick start::

    import hpsearch as hp

    space = {"x": hp.Float(-5, 5), "n": hp.Int(1, 10)}
    study = hp.create_study("demo", space=space, mode="min", storage="sqlite:///demo.db")
    study.optimize(lambda p: (p["x"] - 1) ** 2 + p["n"], n_trials=50)
    print(study.best_trial)
"""

# The public front is lazy (PEP 562): importing hpsearch, e.g. in every worker process,
# does not import scipy, SQLAlchemy or the engines until a name is used.
from __future__ import annotations

from typing import TYPE_CHECKING

from hpsearch._lazy import lazy_exports
from hpsearch.exceptions import (
    ConfigError,
    ExecutorError,
    HpsearchError,
    InvalidParameterError,
    MissingDependencyError,
    SearchSpaceError,
    StorageError,
    StudyLockedError,
    StudyNotFoundError,
    TrialStopped,
)

if TYPE_CHECKING:
    from hpsearch.executors import Executor, InlineExecutor, LocalExecutor, Reporter
    from hpsearch.executors.dask import DaskExecutor
    from hpsearch.executors.ray import RayExecutor
    from hpsearch.schedulers import (
        ASHAScheduler,
        CompositeScheduler,
        Decision,
        DivergenceScheduler,
        FIFOScheduler,
        HyperbandScheduler,
        MedianStoppingScheduler,
        Scheduler,
    )
    from hpsearch.searchers import (
        AutoSearcher,
        CMAESSearcher,
        GPSearcher,
        GridSearcher,
        RandomSearcher,
        Searcher,
        SobolSearcher,
        TPESearcher,
    )
    from hpsearch.space import (
        Categorical,
        Distribution,
        Float,
        Int,
        SearchSpace,
        choice,
        loguniform,
        quniform,
        randint,
        uniform,
    )
    from hpsearch.storage import Storage, open_storage
    from hpsearch.study import Study, create_study, load_study
    from hpsearch.trial import Report, Trial, TrialState

_EXPORTS: dict[str, str] = {
    "ASHAScheduler": "hpsearch.schedulers",
    "AutoSearcher": "hpsearch.searchers",
    "CMAESSearcher": "hpsearch.searchers",
    "Categorical": "hpsearch.space",
    "CompositeScheduler": "hpsearch.schedulers",
    "DaskExecutor": "hpsearch.executors.dask",
    "Decision": "hpsearch.schedulers",
    "Distribution": "hpsearch.space",
    "DivergenceScheduler": "hpsearch.schedulers",
    "Executor": "hpsearch.executors",
    "FIFOScheduler": "hpsearch.schedulers",
    "Float": "hpsearch.space",
    "GPSearcher": "hpsearch.searchers",
    "GridSearcher": "hpsearch.searchers",
    "HyperbandScheduler": "hpsearch.schedulers",
    "InlineExecutor": "hpsearch.executors",
    "Int": "hpsearch.space",
    "LocalExecutor": "hpsearch.executors",
    "MedianStoppingScheduler": "hpsearch.schedulers",
    "RandomSearcher": "hpsearch.searchers",
    "RayExecutor": "hpsearch.executors.ray",
    "Report": "hpsearch.trial",
    "Reporter": "hpsearch.executors",
    "Scheduler": "hpsearch.schedulers",
    "SearchSpace": "hpsearch.space",
    "Searcher": "hpsearch.searchers",
    "SobolSearcher": "hpsearch.searchers",
    "Storage": "hpsearch.storage",
    "Study": "hpsearch.study",
    "TPESearcher": "hpsearch.searchers",
    "Trial": "hpsearch.trial",
    "TrialState": "hpsearch.trial",
    "choice": "hpsearch.space",
    "create_study": "hpsearch.study",
    "load_study": "hpsearch.study",
    "loguniform": "hpsearch.space",
    "open_storage": "hpsearch.storage",
    "quniform": "hpsearch.space",
    "randint": "hpsearch.space",
    "uniform": "hpsearch.space",
}

__version__ = "0.1.0"
__all__ = [
    "ASHAScheduler",
    "AutoSearcher",
    "CMAESSearcher",
    "Categorical",
    "CompositeScheduler",
    "ConfigError",
    "DaskExecutor",
    "Decision",
    "Distribution",
    "DivergenceScheduler",
    "Executor",
    "ExecutorError",
    "FIFOScheduler",
    "Float",
    "GPSearcher",
    "GridSearcher",
    "HpsearchError",
    "HyperbandScheduler",
    "InlineExecutor",
    "Int",
    "InvalidParameterError",
    "LocalExecutor",
    "MedianStoppingScheduler",
    "MissingDependencyError",
    "RandomSearcher",
    "RayExecutor",
    "Report",
    "Reporter",
    "Scheduler",
    "SearchSpace",
    "SearchSpaceError",
    "Searcher",
    "SobolSearcher",
    "Storage",
    "StorageError",
    "Study",
    "StudyLockedError",
    "StudyNotFoundError",
    "TPESearcher",
    "Trial",
    "TrialState",
    "TrialStopped",
    "choice",
    "create_study",
    "load_study",
    "loguniform",
    "open_storage",
    "quniform",
    "randint",
    "uniform",
]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)

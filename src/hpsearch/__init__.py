"""hpsearch: hyperparameter optimization with parallel trials, early stopping and persisted studies.

Quick start::

    import hpsearch as hp

    space = {"x": hp.Float(-5, 5), "n": hp.Int(1, 10)}
    study = hp.create_study("demo", space=space, mode="min", storage="sqlite:///demo.db")
    study.optimize(lambda p: (p["x"] - 1) ** 2 + p["n"], n_trials=50)
    print(study.best_trial)
"""

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

"""Searchers: propose the params of the next trial."""

# The public front is lazy (PEP 562): importing hpsearch, e.g. in every worker process,
# does not import scipy, SQLAlchemy or the engines until a name is used.
from __future__ import annotations

from typing import TYPE_CHECKING

from hpsearch._lazy import lazy_exports

if TYPE_CHECKING:
    from hpsearch.searchers._base import Searcher
    from hpsearch.searchers.auto import AutoSearcher
    from hpsearch.searchers.cmaes import CMAESSearcher
    from hpsearch.searchers.gp import GPSearcher
    from hpsearch.searchers.grid import GridSearcher
    from hpsearch.searchers.random import RandomSearcher
    from hpsearch.searchers.sobol import SobolSearcher
    from hpsearch.searchers.tpe import TPESearcher

_EXPORTS: dict[str, str] = {
    "AutoSearcher": "hpsearch.searchers.auto",
    "CMAESSearcher": "hpsearch.searchers.cmaes",
    "GPSearcher": "hpsearch.searchers.gp",
    "GridSearcher": "hpsearch.searchers.grid",
    "RandomSearcher": "hpsearch.searchers.random",
    "Searcher": "hpsearch.searchers._base",
    "SobolSearcher": "hpsearch.searchers.sobol",
    "TPESearcher": "hpsearch.searchers.tpe",
}

__all__ = [
    "AutoSearcher",
    "CMAESSearcher",
    "GPSearcher",
    "GridSearcher",
    "RandomSearcher",
    "Searcher",
    "SobolSearcher",
    "TPESearcher",
]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)

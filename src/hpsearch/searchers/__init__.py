"""Searchers: propose the params of the next trial."""

from hpsearch.searchers._base import Searcher
from hpsearch.searchers.auto import AutoSearcher
from hpsearch.searchers.cmaes import CMAESSearcher
from hpsearch.searchers.gp import GPSearcher
from hpsearch.searchers.grid import GridSearcher
from hpsearch.searchers.random import RandomSearcher
from hpsearch.searchers.sobol import SobolSearcher
from hpsearch.searchers.tpe import TPESearcher

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

"""Searchers: propose the params of the next trial."""

from hpsearch.searchers._base import Searcher
from hpsearch.searchers.random import RandomSearcher

__all__ = ["RandomSearcher", "Searcher"]

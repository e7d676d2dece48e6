"""Every registered searcher passes the conformance suite (hpsearch.testing.searchers)."""

from __future__ import annotations

from typing import Any

import pytest

from hpsearch._registry import SEARCHERS, resolve_searcher
from hpsearch.exceptions import MissingDependencyError
from hpsearch.searchers._base import Searcher
from hpsearch.testing.searchers import check_searcher

# Arguments a searcher needs to be usable on the suite's spaces (a grid over continuous floats
# needs a number of points), and the searchers that claim to never repeat a point.
EXTRA_ARGS: dict[str, dict[str, Any]] = {"grid": {"n_points": 5}}
NO_DUPLICATES = {"grid"}


def _factory(name: str) -> Any:
    def make(seed: int) -> Searcher:
        s = resolve_searcher({name: dict(EXTRA_ARGS.get(name, {}))}, seed=seed)
        assert isinstance(s, Searcher)
        return s

    return make


@pytest.mark.parametrize("name", sorted(SEARCHERS))
def test_registered_searcher_conforms(name: str) -> None:
    try:
        make = _factory(name)
        make(0)
    except MissingDependencyError as e:  # an optional extra is not installed
        pytest.skip(str(e))
    check_searcher(make, no_duplicates=name in NO_DUPLICATES)


def test_suite_catches_a_searcher_that_ignores_pending_trials() -> None:
    from hpsearch.searchers.random import RandomSearcher

    class Stubborn(RandomSearcher):
        def suggest(self, space, trials, *, mode):  # type: ignore[no-untyped-def]
            done = [t for t in trials if t.state.is_finished]
            return super().suggest(space, done, mode=mode)

    with pytest.raises(AssertionError, match="parallel asks"):
        check_searcher(lambda seed: Stubborn(seed=seed))


def test_suite_catches_numpy_ints() -> None:
    import numpy as np

    from hpsearch.searchers.random import RandomSearcher

    class NumpyInts(RandomSearcher):
        def suggest(self, space, trials, *, mode):  # type: ignore[no-untyped-def]
            p = super().suggest(space, trials, mode=mode)
            return {k: (np.int64(v) if type(v) is int else v) for k, v in p.items()}

    with pytest.raises(AssertionError, match="Python int"):
        check_searcher(lambda seed: NumpyInts(seed=seed))

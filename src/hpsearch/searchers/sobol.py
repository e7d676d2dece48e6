"""Quasi-random search: the points of a scrambled Sobol sequence, in order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.stats import qmc

from hpsearch.searchers._base import Searcher
from hpsearch.space import ParamValue, SearchSpace
from hpsearch.trial import Mode, Trial

__all__ = ["SobolSearcher", "sobol_points"]


def sobol_points(d: int, n: int, seed: int) -> np.ndarray:
    """Return the first ``n`` points of the scrambled Sobol sequence of dimension ``d``.

    Points are generated in blocks of powers of two (so the balance properties hold and scipy
    does not warn) and are the same for every ``n`` (a prefix of one sequence per ``(d, seed)``).

    Args:
        d: the dimension (>= 1).
        n: the number of points (>= 0).
        seed: seed of the Owen scrambling.

    Returns:
        An array of shape ``(n, d)`` in [0, 1).

    References:
        Owen, A. B. (1998). Scrambling Sobol' and Niederreiter-Xing points. J. Complexity 14.

    """
    engine = qmc.Sobol(d, scramble=True, seed=np.random.default_rng(seed))
    m = max(0, int(np.ceil(np.log2(max(n, 1)))))
    points: np.ndarray = engine.random_base2(m)[:n]
    return points


class SobolSearcher(Searcher):
    """Propose the k-th point of a seeded, scrambled Sobol sequence for the k-th fresh trial.

    A low-discrepancy sequence covers the unit cube more evenly than independent draws, which
    helps at small budgets and as the start-up design of model-based searchers. The unit point is
    mapped through :meth:`SearchSpace.from_unit` (log scales, integer cells and steps included;
    coordinates of inactive conditional parameters are ignored). ``k`` counts the trials that are
    not retries, so the sequence depends only on the stored trials: a resumed or parallel study
    gets the same points. Points of a finite space may repeat.

    Args:
        seed: seed of the scrambling; None draws fresh OS entropy once.

    References:
        Sobol', I. M. (1967). USSR Comput. Math. Math. Phys. 7(4), 86-112.
        Owen, A. B. (1998). Scrambling Sobol' and Niederreiter-Xing points. J. Complexity 14.

    """

    name = "sobol"

    def __init__(self, seed: int | None = None) -> None:
        self.seed = int(np.random.default_rng().integers(2**63)) if seed is None else int(seed)
        self._points = np.empty((0, 0))

    def point(self, d: int, k: int) -> np.ndarray:
        """Return the k-th point (0-based) of the sequence of dimension ``d``, shape ``(d,)``."""
        if self._points.shape[1] != d or self._points.shape[0] <= k:
            n = max(2 * self._points.shape[0] if self._points.shape[1] == d else 0, k + 1, 64)
            self._points = sobol_points(d, 1 << int(np.ceil(np.log2(n))), self.seed)
        point: np.ndarray = self._points[k]
        return point

    def suggest(
        self, space: SearchSpace, trials: Sequence[Trial], *, mode: Mode
    ) -> dict[str, ParamValue]:
        """See :meth:`Searcher.suggest`."""
        k = sum(1 for t in trials if t.retry_of is None)
        return space.from_unit(self.point(len(space), k))

    def to_config(self) -> dict[str, Any]:  # noqa: D102
        return {self.name: {"seed": self.seed}}

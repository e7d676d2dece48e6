"""Random search: independent draws from the prior of each parameter."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from hpsearch.searchers._base import Searcher
from hpsearch.space import ParamValue, SearchSpace
from hpsearch.trial import Mode, Trial

__all__ = ["RandomSearcher"]


class RandomSearcher(Searcher):
    """Sample each configuration independently from the search space's prior.

    The baseline of every benchmark and a strong one in high dimensions (Bergstra & Bengio,
    "Random Search for Hyper-Parameter Optimization", JMLR 13, 2012). The k-th fresh suggestion
    (retries and re-runs do not count) is drawn from a generator seeded with ``(seed, k)``, so a
    seeded study produces the same sequence of params whether it runs straight through, in
    parallel, or is killed and resumed.

    Args:
        seed: seed of the generator; None draws fresh OS entropy once, at construction.

    References:
        Bergstra, J. and Bengio, Y. (2012). JMLR 13, 281-305.
    """

    name = "random"

    def __init__(self, seed: int | None = None) -> None:
        self.seed = _fresh_seed() if seed is None else int(seed)
        # Memo of "how many fresh (non-retry) trials exist among the first n": trials is
        # append-only, so this is recomputable from trials and O(1) per call.
        self._seen = 0
        self._fresh = 0

    def _n_fresh(self, trials: Sequence[Trial]) -> int:
        if len(trials) < self._seen:  # a different (shorter) history: recompute
            self._seen = self._fresh = 0
        for i in range(self._seen, len(trials)):
            if trials[i].retry_of is None:
                self._fresh += 1
        self._seen = len(trials)
        return self._fresh

    def suggest(
        self, space: SearchSpace, trials: Sequence[Trial], *, mode: Mode
    ) -> dict[str, ParamValue]:
        """See :meth:`Searcher.suggest`."""
        rng = np.random.default_rng([self.seed, self._n_fresh(trials)])
        return space.sample(rng)

    def to_config(self) -> dict[str, Any]:  # noqa: D102
        return {self.name: {"seed": self.seed}}


def _fresh_seed() -> int:
    """A seed from OS entropy, drawn once (so the searcher's config can be stored and reused)."""
    return int(np.random.SeedSequence().generate_state(1, dtype=np.uint64)[0] >> 1)

"""The Searcher contract.

A searcher proposes the params of the next trial from an immutable view of the study: the search
space and the trials so far (PENDING and RUNNING ones included, so that parallel suggestions
differ). It never touches storage, executors, clocks or the global RNG (DESIGN.md rule 1); it owns
a ``numpy.random.Generator`` built from its ``seed``. Its only state is derived from the trials,
so a resumed study rebuilds it by loading them; a searcher may memoize derived state
incrementally as long as the result equals a recomputation from ``trials``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from hpsearch.space import ParamValue, SearchSpace
from hpsearch.trial import Mode, Trial

__all__ = ["Searcher"]


class Searcher(ABC):
    """Proposes params for new trials. Subclasses implement :meth:`suggest`."""

    #: the YAML / CLI name (``searcher: random``).
    name: str = ""

    @abstractmethod
    def suggest(
        self, space: SearchSpace, trials: Sequence[Trial], *, mode: Mode
    ) -> dict[str, ParamValue]:
        """Propose the params of the next trial.

        Args:
            space: the study's search space.
            trials: every trial so far, by number (a read-only view; do not keep it).
            mode: ``"min"`` or ``"max"``; the trials' values are to be minimized or maximized.

        Returns:
            A configuration valid in ``space`` (Python ints for Int, original choice objects).
        """

    def is_exhausted(self, space: SearchSpace, trials: Sequence[Trial]) -> bool:
        """Whether the searcher has nothing left to propose (a finished grid). Default False."""
        return False

    def to_config(self) -> dict[str, Any]:
        """A JSON-able description stored with the study (``{name: {args}}``)."""
        return {self.name: {}}

"""Grid search: every combination of a finite set of values per parameter, each once."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from hpsearch.exceptions import InvalidParameterError, SearchSpaceError
from hpsearch.searchers._base import Searcher
from hpsearch.space import Categorical, Distribution, Float, Int, ParamValue, SearchSpace
from hpsearch.trial import Mode, Trial

__all__ = ["GridSearcher"]

logger = logging.getLogger(__name__)

#: refuse grids larger than this (enumerated in memory).
MAX_GRID_SIZE = 1_000_000


def _key(space: SearchSpace, params: Mapping[str, ParamValue]) -> str:
    return json.dumps(space.to_json_params(params), sort_keys=True)


class GridSearcher(Searcher):
    """Propose every combination of the grid values, each exactly once, in a seeded order.

    The grid values of a parameter are, in this order of precedence: the ``values`` given for it;
    every value of a Categorical, of an Int or stepped Float with at most ``n_points`` values (all
    of them when ``n_points`` is None); otherwise ``n_points`` values evenly spaced in the
    parameter's (log) scale, bounds included. A continuous Float with neither explicit values nor
    ``n_points`` is an error. Conditional spaces are enumerated natively: only valid combinations
    are in the grid (a child exists only under the parent values that activate it).

    Every trial, in any state (PENDING and RUNNING included), takes its point, so parallel workers
    never run a point twice; :meth:`is_exhausted` turns True once every point is taken and the
    Study then stops submitting, even if ``n_trials`` is larger. Asked again after that (ask and
    tell), it proposes a point again, drawn at random, and logs a warning. The visiting order is a
    permutation seeded by ``seed`` (a truncated grid is a uniform subset) or the plain enumeration
    order (last parameter fastest) with ``shuffle=False``.

    Args:
        values: ``{name: [values]}``; each value must be valid for the parameter.
        n_points: points per numeric parameter without explicit values (>= 2).
        shuffle: visit the grid in a seeded random order.
        seed: seed of the visiting order; None draws fresh OS entropy once.

    Raises:
        InvalidParameterError: ``n_points`` is not an int >= 2, or ``values`` is not a mapping of
            names to non-empty lists.
        SearchSpaceError: (at the first suggestion) ``values`` names an unknown parameter or
            holds an invalid value, a continuous Float has neither values nor ``n_points``, or the
            grid has more than 1,000,000 points.

    """

    name = "grid"

    def __init__(
        self,
        values: Mapping[str, Sequence[Any]] | None = None,
        *,
        n_points: int | None = None,
        shuffle: bool = True,
        seed: int | None = None,
    ) -> None:
        if n_points is not None and (
                not isinstance(n_points, int) or isinstance(n_points, bool) or n_points < 2):
            raise InvalidParameterError(
                f"The 'n_points' parameter of GridSearcher must be an int >= 2. Got {n_points!r}"
                " instead.")
        values = dict(values or {})
        for k, v in values.items():
            if isinstance(v, (str, bytes)) or not isinstance(v, Sequence) or len(v) == 0:
                raise InvalidParameterError(
                    f"The values of {k!r} in GridSearcher must be a non-empty list. Got {v!r}.")
        self.values = {str(k): list(v) for k, v in values.items()}
        self.n_points = n_points
        self.shuffle = bool(shuffle)
        self.seed = int(np.random.default_rng().integers(2**63)) if seed is None else int(seed)
        self._space: SearchSpace | None = None
        self._grid: list[dict[str, ParamValue]] = []
        # memo of the keys taken by trials[:_seen]; recomputed if the history is not an extension
        self._keys: list[str | None] = []
        self._axis_keys: dict[str, set[str]] = {}
        self._taken: set[str] = set()
        self._seen = self._n_taken = self._next = 0
        self._last: Trial | None = None
        self._warned = self._told = False

    # -- the grid ---------------------------------------------------------------------------
    def _axis(self, name: str, d: Distribution) -> list[ParamValue]:
        if name in self.values:
            out = []
            for v in self.values[name]:
                if not d.contains(v):
                    raise SearchSpaceError(
                        f"The grid value {v!r} of {name!r} is not a valid value of {d!r}.")
                if isinstance(d, Categorical):
                    v = d.choices[d.index(v)]
                elif isinstance(d, Int):
                    v = int(v)
                elif isinstance(d, Float):
                    v = float(v)
                if v not in out:
                    out.append(v)
            return out
        if isinstance(d, Categorical):
            return list(d.choices)
        n = d.n_values()
        if n is not None and (self.n_points is None or n <= self.n_points):
            if isinstance(d, Int):
                return [d.low + i * d.step for i in range(n)]
            return [d.from_unit(i / (n - 1)) if n > 1 else d.from_unit(0.0) for i in range(n)]
        if self.n_points is None:
            raise SearchSpaceError(
                f"GridSearcher needs grid values for the continuous parameter {name!r}: pass "
                f"values={{{name!r}: [...]}} or n_points=.")
        out = []
        for i, u in enumerate(np.linspace(0.0, 1.0, self.n_points)):
            v = d.from_unit(float(u))
            if isinstance(d, Float) and i in (0, self.n_points - 1):
                v = d.low if i == 0 else d.high  # exact bounds (exp(log(x)) may differ)
            if v not in out:
                out.append(v)
        return out

    def _build(self, space: SearchSpace) -> None:
        unknown = sorted(set(self.values) - set(space))
        if unknown:
            raise SearchSpaceError(
                f"GridSearcher has values for unknown parameter(s) {unknown}; the space has "
                f"{list(space)}.")
        axes = {n: self._axis(n, d) for n, d in space.items()}
        combos: list[dict[str, ParamValue]] = [{}]
        for n in space:  # parents come before their children
            nxt: list[dict[str, ParamValue]] = []
            for c in combos:
                if space.is_active(n, c):
                    nxt.extend({**c, n: v} for v in axes[n])
                else:
                    nxt.append(c)
            if len(nxt) > MAX_GRID_SIZE:
                raise SearchSpaceError(
                    f"The grid has more than {MAX_GRID_SIZE:,} points; give fewer values.")
            combos = nxt
        if self.shuffle:
            order = np.random.default_rng(self.seed).permutation(len(combos))
            combos = [combos[i] for i in order]
        self._space, self._grid = space, combos
        self._keys = [None] * len(combos)  # JSON keys, computed as the pointer passes
        self._axis_keys = {n: {json.dumps(space[n].to_json_value(v), sort_keys=True)
                               for v in axis} for n, axis in axes.items()}
        self._reset_memo()

    def _reset_memo(self) -> None:
        self._taken, self._seen, self._last = set(), 0, None
        self._n_taken = 0  # grid points among _taken
        self._next = 0  # no grid point before this index is free

    def grid_size(self, space: SearchSpace) -> int:
        """Return the number of points of the grid over ``space``.

        Raises:
            SearchSpaceError: as at the first suggestion.

        """
        self._sync(space, ())
        return len(self._grid)

    def _sync(self, space: SearchSpace, trials: Sequence[Trial]) -> None:
        if self._space is None or (self._space is not space and self._space != space):
            self._build(space)
        n = len(trials)
        if n < self._seen or (self._seen and trials[self._seen - 1] is not self._last and
                              trials[self._seen - 1].params != self._last.params):  # type: ignore[union-attr]
            self._reset_memo()
        for i in range(self._seen, n):
            params = trials[i].params
            key = _key(space, params)
            if key not in self._taken:
                self._taken.add(key)
                self._n_taken += self._in_grid(space, params)
        self._seen = n
        self._last = trials[n - 1] if n else None

    def _in_grid(self, space: SearchSpace, params: Mapping[str, ParamValue]) -> bool:
        for n in space:
            if space.is_active(n, params) != (n in params):
                return False
            if n in params and json.dumps(space[n].to_json_value(params[n]), sort_keys=True
                                          ) not in self._axis_keys[n]:
                return False
        return all(n in space for n in params)

    def _key_at(self, i: int) -> str:
        key = self._keys[i]
        if key is None:
            key = self._keys[i] = _key(self._space, self._grid[i])  # type: ignore[arg-type]
        return key

    # -- the Searcher protocol --------------------------------------------------------------
    def suggest(
        self, space: SearchSpace, trials: Sequence[Trial], *, mode: Mode
    ) -> dict[str, ParamValue]:
        """See :meth:`Searcher.suggest`; the first grid point no trial has taken."""
        self._sync(space, trials)
        while self._next < len(self._keys) and self._key_at(self._next) in self._taken:
            self._next += 1
        if self._next < len(self._keys):
            return dict(self._grid[self._next])
        if not self._warned:
            logger.warning("GridSearcher: all %d grid points are taken; repeating points.",
                           len(self._grid))
            self._warned = True
        rng = np.random.default_rng([self.seed, len(trials)])
        return dict(self._grid[int(rng.integers(len(self._grid)))])

    def is_exhausted(self, space: SearchSpace, trials: Sequence[Trial]) -> bool:
        """Whether every grid point is taken by a trial (in any state)."""
        self._sync(space, trials)
        done = self._n_taken >= len(self._keys)
        if done and not self._told:
            logger.info("GridSearcher: all %d grid points are taken.", len(self._keys))
            self._told = True
        return done

    def to_config(self) -> dict[str, Any]:  # noqa: D102
        return {self.name: {"values": self.values, "n_points": self.n_points,
                            "shuffle": self.shuffle, "seed": self.seed}}

"""Multivariate Tree-structured Parzen Estimator (TPE)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hpsearch.exceptions import InvalidParameterError
from hpsearch.searchers._base import Searcher
from hpsearch.searchers._parzen import Dim, ParzenEstimator, dims_of, recency_weights
from hpsearch.searchers.sobol import SobolSearcher
from hpsearch.space import ParamValue, SearchSpace
from hpsearch.trial import Mode, Trial, TrialState

__all__ = ["TPESearcher"]

# kinds of trials (the first two are ranking tiers: lower is better)
_COMPLETED, _STOPPED, _FAILED, _LIVE = 0, 1, 2, 3


@dataclass(frozen=True)
class _Group:
    """Parameters that are active in exactly the same configurations (same ``when``)."""

    cols: np.ndarray  # column indices into the space's unit vector
    dims: list[Dim]
    is_whole: bool  # the group is every column, in order


@dataclass(frozen=True)
class _History:
    """The trials as arrays: the usable observations ranked, and the bad ones."""

    x: np.ndarray  # (n_trials, d) unit coordinates, NaN where inactive
    ranked: np.ndarray  # row indices of COMPLETED / STOPPED trials, best first
    bad: np.ndarray  # row indices of FAILED, PENDING and RUNNING trials (constant liar)


def _check(name: str, x: Any, ok: bool, want: str) -> None:
    if not ok:
        raise InvalidParameterError(
            f"The {name!r} parameter of TPESearcher must be {want}. Got {x!r} instead.")


class TPESearcher(Searcher):
    """Multivariate TPE: propose the candidate maximizing ``l(x) / g(x)``.

    The observations are split into the best ``ceil(gamma * n)`` (the "below" set, density
    ``l``) and the rest (``g``); ``n_ei_candidates`` points drawn from ``l`` are scored by
    ``log l - log g`` and the best is proposed. Both densities are Parzen estimators in the unit
    cube of :meth:`SearchSpace.to_unit` (so log scales and integers are handled in the transformed
    space): multivariate truncated Gaussian kernels with a Scott-like bandwidth clipped from below
    ("magic clipping"), the cell mass for integers and steps (proposals are quantized), the
    Aitchison-Aitken kernel for categoricals, a prior component, and weights that decay for old
    observations. A good all-rounder: continuous, integer, categorical and conditional spaces,
    noisy objectives, thousands of trials (vectorized: milliseconds per suggestion at 10,000).

    How trials count:

    * COMPLETED trials rank by value. STOPPED trials (early-stopped by a scheduler) rank below
      every COMPLETED trial, among themselves by the budget they reached (higher first), then by
      their last reported value; so a trial stopped early is never preferred over one that was
      let run to the end, while stopped trials still inform the model when few completed.
    * FAILED trials and, as a constant liar, PENDING and RUNNING trials join the ``g`` set with
      no value: proposals avoid failing regions, and parallel asks avoid each other's points.
    * A failed attempt that was retried is replaced by its retry.

    Conditional spaces are decomposed into groups of parameters sharing the same ``when``
    condition (Optuna's group decomposition); each group has its own estimator over the trials
    where it is active, and all groups are sampled jointly (the unconditional parameters form
    one multivariate group). Until ``n_startup`` trials have a value, proposals are points of a
    scrambled Sobol sequence. The random generator of each suggestion is seeded with ``(seed,
    number of trials)``, and the only memo (unit coordinates of each trial's params) is checked
    against the trials, so a resumed study suggests exactly what an uninterrupted one would.

    Args:
        n_startup: trials with a value needed before the model is used (>= 1).
        n_ei_candidates: candidates drawn from ``l`` per suggestion (>= 1).
        gamma: fraction of the observations in the "below" set, in (0, 1]; linear split
            ``ceil(gamma * n)``.
        prior_weight: weight of the prior component (one observation weighs at most 1), > 0.
        constant_liar: count PENDING / RUNNING trials as bad observations.
        seed: seed of the generator; None draws fresh OS entropy once.

    Raises:
        InvalidParameterError: an argument out of its range.

    References:
        Bergstra, J., Bardenet, R., Bengio, Y. and Kegl, B. (2011). Algorithms for
        hyper-parameter optimization. NeurIPS 24.
        Watanabe, S. (2023). Tree-structured Parzen estimator: Understanding its algorithm
        components and their roles for better empirical performance. arXiv:2304.11127
        (Algorithm 1; splitting 3.1, weighting 3.4, bandwidth and magic clipping 3.3, prior 3.5).
        Falkner, S., Klein, A. and Hutter, F. (2018). BOHB. ICML (multivariate kernel densities).

    """

    name = "tpe"

    def __init__(
        self,
        *,
        n_startup: int = 10,
        n_ei_candidates: int = 24,
        gamma: float = 0.1,
        prior_weight: float = 1.0,
        constant_liar: bool = True,
        bandwidth: str = "auto",
        seed: int | None = None,
    ) -> None:
        for nm, v in (("n_startup", n_startup), ("n_ei_candidates", n_ei_candidates)):
            _check(nm, v, isinstance(v, int) and not isinstance(v, bool) and v >= 1, "an int >= 1")
        _check("gamma", gamma, isinstance(gamma, (int, float)) and 0 < gamma <= 1,
               "a float in the range (0, 1]")
        _check("prior_weight", prior_weight, isinstance(prior_weight, (int, float))
               and math.isfinite(prior_weight) and prior_weight > 0,
               "a float in the range (0, inf)")
        self.n_startup = n_startup
        self.n_ei_candidates = n_ei_candidates
        self.gamma = float(gamma)
        self.prior_weight = float(prior_weight)
        self.constant_liar = bool(constant_liar)
        _check("bandwidth", bandwidth, bandwidth in ("auto", "neighbor", "scott"),
               "'auto', 'neighbor' or 'scott'")
        self.bandwidth = bandwidth
        self.seed = int(np.random.default_rng().integers(2**63)) if seed is None else int(seed)
        self._startup = SobolSearcher(seed=self.seed)
        # memo: unit coordinates of each trial's params, checked against the trials each call
        self._space: SearchSpace | None = None
        self._groups: list[_Group] = []
        self._x = np.empty((0, 0))
        self._refs: list[Trial] = []
        self._kind = np.zeros(0, dtype=np.int8)
        self._budget = np.zeros(0)
        self._value = np.zeros(0)
        self._root = np.zeros(0, dtype=np.int64)

    # -- memo of the unit coordinates -------------------------------------------------------
    def _prepare(self, space: SearchSpace) -> None:
        if self._space is not None and (self._space is space or self._space == space):
            return
        self._space = space
        names = list(space)
        dims = dims_of([space[n] for n in names])
        by_cond: dict[str, list[int]] = {}
        for j, n in enumerate(names):
            cond = json.dumps({k: list(v) for k, v in space[n].when.items()}, sort_keys=True,
                              default=str)
            by_cond.setdefault(cond, []).append(j)
        self._groups = [_Group(np.array(c), [dims[j] for j in c], c == list(range(len(names))))
                        for c in by_cond.values()]
        self._x = np.empty((0, len(names)))
        self._refs = []
        self._kind = np.zeros(0, dtype=np.int8)
        self._budget = np.zeros(0)
        self._value = np.zeros(0)
        self._root = np.zeros(0, dtype=np.int64)

    def _grow(self, n: int) -> None:
        cap = self._x.shape[0]
        if cap >= n:
            return
        cap = max(n, 2 * cap)
        x = np.empty((cap, self._x.shape[1]))
        x[: len(self._refs)] = self._x[: len(self._refs)]
        self._x = x
        for name in ("_kind", "_budget", "_value", "_root"):
            old = getattr(self, name)
            arr = np.zeros(cap, dtype=old.dtype)
            arr[: len(old)] = old[: min(len(old), cap)]
            setattr(self, name, arr)

    def _update(self, space: SearchSpace, trials: Sequence[Trial]) -> int:
        """Refresh the memo rows of the trials that changed; return the number of trials."""
        n = len(trials)
        self._grow(n)
        del self._refs[n:]
        for i, t in enumerate(trials):
            if i < len(self._refs):
                old = self._refs[i]
                if old is t:
                    continue
                self._refs[i] = t
                same_params = old.params is t.params or old.params == t.params
            else:
                self._refs.append(t)
                same_params = False
            if not same_params:
                self._x[i] = space.to_unit(t.params)
            st, v = t.state, t.value
            if st in (TrialState.COMPLETED, TrialState.STOPPED) and v is not None and \
                    math.isfinite(v):
                self._kind[i] = _COMPLETED if st == TrialState.COMPLETED else _STOPPED
                self._value[i] = v
                self._budget[i] = t.budget_used if st == TrialState.STOPPED else 0.0
            else:
                self._kind[i] = _FAILED if st.is_finished else _LIVE
            self._root[i] = i if t.retry_of is None else t.retry_of
        return n

    def _history(self, space: SearchSpace, trials: Sequence[Trial], mode: Mode) -> _History:
        n = self._update(space, trials)
        kind, root = self._kind[:n], self._root[:n]
        idx = np.arange(n)
        current = np.ones(n, dtype=bool)  # not replaced by a retry
        retries = np.flatnonzero(root != idx)
        if len(retries):
            latest = idx.copy()
            np.maximum.at(latest, root[retries], retries)
            current = latest[root] == idx
        rows = np.flatnonzero(current & (kind <= _STOPPED))
        loss = self._value[rows] if mode == "min" else -self._value[rows]
        order = np.lexsort((rows, loss, -self._budget[rows], kind[rows]))
        bad_kind = kind == _FAILED
        if self.constant_liar:
            bad_kind |= kind == _LIVE
        return _History(self._x[:n], rows[order], np.flatnonzero(current & bad_kind))

    # -- the Searcher protocol --------------------------------------------------------------
    def suggest(
        self, space: SearchSpace, trials: Sequence[Trial], *, mode: Mode
    ) -> dict[str, ParamValue]:
        """See :meth:`Searcher.suggest`."""
        self._prepare(space)
        h = self._history(space, trials, mode)
        if len(h.ranked) < self.n_startup:
            return self._startup.suggest(space, trials, mode=mode)
        rng = np.random.default_rng([self.seed, len(trials)])
        u = np.full(len(space), np.nan)
        for g in self._groups:
            u[g.cols] = self._sample_group(g, h, rng)
        return space.from_unit(u)

    def _sample_group(self, g: _Group, h: _History, rng: np.random.Generator) -> np.ndarray:
        """Watanabe (2023), Algorithm 1 lines 4-9, for the columns of one group."""
        active = ~np.isnan(h.x[:, g.cols[0]])
        ranked = h.ranked[active[h.ranked]]
        n_below = math.ceil(self.gamma * len(ranked)) if len(ranked) else 0
        below = np.sort(ranked[:n_below])
        above = np.sort(np.concatenate([ranked[n_below:], h.bad[active[h.bad]]]))
        l_est = self._estimator(h.x, below, g)
        g_est = self._estimator(h.x, above, g)
        cand = l_est.sample(rng, self.n_ei_candidates)
        score = l_est.log_pdf(cand) - g_est.log_pdf(cand)
        best: np.ndarray = cand[int(np.argmax(score))]
        return best

    def _estimator(self, x: np.ndarray, rows: np.ndarray, g: _Group) -> ParzenEstimator:
        obs = x[rows] if g.is_whole else x[np.ix_(rows, g.cols)]
        return ParzenEstimator(obs, recency_weights(len(rows)), g.dims,
                               prior_weight=self.prior_weight, bandwidth=self.bandwidth)

    def to_config(self) -> dict[str, Any]:  # noqa: D102
        return {self.name: {"n_startup": self.n_startup, "n_ei_candidates": self.n_ei_candidates,
                            "gamma": self.gamma, "prior_weight": self.prior_weight,
                            "constant_liar": self.constant_liar, "bandwidth": self.bandwidth,
                            "seed": self.seed}}

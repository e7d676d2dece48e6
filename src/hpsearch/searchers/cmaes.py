"""CMA-ES with margin and IPOP restarts, on top of the ``cmaes`` library."""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hpsearch.exceptions import InvalidParameterError, MissingDependencyError, SearchSpaceError
from hpsearch.searchers._base import Searcher
from hpsearch.space import Categorical, Float, Int, ParamValue, SearchSpace
from hpsearch.trial import Mode, Trial, TrialState

__all__ = ["CMAESSearcher"]

logger = logging.getLogger(__name__)


def _fresh_seed() -> int:
    entropy: Any = np.random.SeedSequence().entropy
    return int(entropy) % (2**63)


def _clone(obj: Any) -> Any:
    """Deep-copy a ``cmaes`` optimizer exactly.

    ``copy.deepcopy`` goes through the library's pickling hooks, which drop the generator and
    store the covariance matrix compressed; the copy then drifts from the original in the last
    bits. This copies the attributes instead.
    """
    new = object.__new__(type(obj))
    for k, v in vars(obj).items():
        setattr(new, k, _clone(v) if type(v).__module__.startswith("cmaes") else copy.deepcopy(v))
    return new


@dataclass
class _Block:
    """The fresh trials (by their index among fresh trials) of one generation."""

    restart: int
    size: int
    members: list[int] = field(default_factory=list)


class _Layout:
    """Which parameters CMA-ES searches, and their coordinates in its space.

    CMA-ES coordinates are the space's unit coordinates. Int (not log) and stepped Float
    parameters are discrete dimensions of CMA-ES with margin, on their grid of unit values;
    log-scaled Int parameters are continuous and rounded. Categorical and constant parameters
    are not part of the CMA-ES space.
    """

    def __init__(self, space: SearchSpace) -> None:
        self.space = space
        self.dists = list(space.values())
        self.cma_idx: list[int] = []
        bounds, steps = [], []
        for i, d in enumerate(self.dists):
            n = d.n_values()
            if isinstance(d, Categorical) or n == 1:
                continue
            self.cma_idx.append(i)
            if isinstance(d, Int) and not d.log:
                assert n is not None  # noqa: S101 - Int is finite
                bounds.append((0.5 / n, (n - 0.5) / n))
                steps.append(1.0 / n)
            elif isinstance(d, Float) and n is not None:
                bounds.append((0.0, 1.0))
                steps.append(1.0 / (n - 1))
            else:
                bounds.append((0.0, 1.0))
                steps.append(0.0)
        self.bounds = np.array(bounds, dtype=float).reshape(-1, 2)
        self.steps = np.array(steps, dtype=float)
        self.cat_idx = [i for i, d in enumerate(self.dists) if isinstance(d, Categorical)]

    def decode(self, x: np.ndarray | None, rng: np.random.Generator) -> dict[str, ParamValue]:
        """Params from CMA-ES coordinates ``x`` (len(cma_idx),); categoricals drawn by ``rng``."""
        u = np.full(len(self.dists), 0.5)
        if x is not None:
            u[self.cma_idx] = x
        for i in self.cat_idx:
            u[i] = rng.random()
        return self.space.from_unit(u)

    def encode(self, params: dict[str, ParamValue]) -> np.ndarray:
        """CMA-ES coordinates of ``params``, shape (len(cma_idx),)."""
        out: np.ndarray = self.space.to_unit(params)[self.cma_idx]
        return out

    def same(self, a: dict[str, ParamValue], b: dict[str, ParamValue]) -> bool:
        """Whether ``a`` and ``b`` agree on the CMA-ES parameters."""
        names = list(self.space)
        return all(a.get(names[i]) == b.get(names[i]) for i in self.cma_idx)


class CMAESSearcher(Searcher):
    """Covariance matrix adaptation evolution strategy (CMA-ES) with IPOP restarts.

    Each generation samples ``popsize`` configurations from a multivariate normal over the unit
    cube and moves the distribution toward the best of them. Use it for continuous or integer
    spaces with a budget of hundreds of trials or more, and many parallel workers (a generation
    runs in parallel); for small budgets prefer :class:`GPSearcher` or :class:`TPESearcher`.

    Details:

    - Integers and stepped floats use CMA-ES with margin (``cmaes.CMAwM``), which keeps
      their marginal probability of leaving the current value above a margin so that the
      search does not fixate; log-scaled integers are continuous and rounded.
    - Categorical parameters are not modelled: each is drawn uniformly at random and
      independently (a weak fallback; use :class:`TPESearcher` for categorical spaces).
    - IPOP: when a run stops (``should_stop``: stagnation, tiny step size, ill conditioning),
      CMA-ES restarts from a random mean with a population twice as large.
    - Generations are derived from the order of the trials: the fresh (non-retry) trials are cut
      into consecutive blocks of ``popsize``; a generation is told to CMA-ES once all its
      trials have finished (FAILED ones get the worst value of the generation; STOPPED ones
      their last reported value). A trial asked while the previous generation still runs is
      sampled from the current distribution and belongs to the next block.
    - No state but the trials: every suggestion replays the asks and tells of the whole history
      in trial order (told in the order they became complete, by the trials' ``created_at`` and
      ``finished_at`` stamps), so a new searcher with the same seed rebuilds the exact state
      of a live one. A trial whose params differ from the replayed sample (enqueued by hand)
      is told with its own params.

    Args:
        seed: seed of the generators; None draws fresh OS entropy once, at construction.
        sigma0: initial step size, in unit-cube coordinates (0, 1].
        popsize: population size of the first run; None uses ``4 + floor(3 ln n_params)``.
        ipop: restart with a doubled population when a run stops.

    Raises:
        InvalidParameterError: a bad argument.
        MissingDependencyError: the ``cmaes`` package is not installed.
        SearchSpaceError: from :meth:`suggest`, for a conditional space.

    References:
        Hansen, N. (2016). The CMA Evolution Strategy: A Tutorial. arXiv:1604.00772.
        Auger, A. and Hansen, N. (2005). A Restart CMA Evolution Strategy With Increasing
        Population Size. IEEE CEC, 1769-1776 (IPOP).
        Hamano, R., Saito, S., Nomura, M. and Shirakawa, S. (2022). CMA-ES with Margin:
        Lower-Bounding Marginal Probability for Mixed-Integer Black-Box Optimization. GECCO.

    """

    name = "cmaes"

    def __init__(self, seed: int | None = None, *, sigma0: float = 1.0 / 6.0,
                 popsize: int | None = None, ipop: bool = True) -> None:
        try:
            import cmaes  # noqa: F401
        except ImportError as e:  # pragma: no cover - cmaes is a dependency
            raise MissingDependencyError(
                "CMAESSearcher needs the 'cmaes' package: pip install cmaes.") from e
        if isinstance(sigma0, bool) or not isinstance(sigma0, (int, float)) or not (
                0 < sigma0 <= 1):
            raise InvalidParameterError(
                f"The 'sigma0' parameter of CMAESSearcher must be a float in the range (0, 1]. "
                f"Got {sigma0!r} instead.")
        if popsize is not None and (isinstance(popsize, bool) or not isinstance(popsize, int)
                                    or popsize < 2):
            raise InvalidParameterError(
                f"The 'popsize' parameter of CMAESSearcher must be an int >= 2. Got {popsize!r} "
                "instead.")
        self.seed = _fresh_seed() if seed is None else int(seed)
        self.sigma0 = float(sigma0)
        self.popsize = popsize
        self.ipop = bool(ipop)
        self._memo: _Memo | None = None

    def to_config(self) -> dict[str, Any]:  # noqa: D102
        return {self.name: {"seed": self.seed, "sigma0": self.sigma0, "popsize": self.popsize,
                            "ipop": self.ipop}}

    def suggest(
        self, space: SearchSpace, trials: Sequence[Trial], *, mode: Mode
    ) -> dict[str, ParamValue]:
        """See :meth:`Searcher.suggest`.

        Raises:
            SearchSpaceError: the space has conditional parameters.

        """
        if space.is_conditional:
            raise SearchSpaceError(
                "CMAESSearcher does not support conditional parameters; use TPESearcher.")
        layout = _Layout(space)
        replay = _Replay(self, layout, trials, mode)
        memo = self._memo
        if memo is not None and memo.space == space and memo.mode == mode:
            replay.resume_from(memo)
        params, self._memo = replay.run(space)
        return params


@dataclass
class _Memo:
    """The replay state after the asks of ``n`` fresh trials (before the final tell and ask).

    Reused by the next suggestion when the history extends it: the same fresh trials, every
    told trial unchanged, and real timestamps (trials built by hand without ``created_at`` and
    ``finished_at`` are always replayed from scratch).
    """

    space: SearchSpace
    mode: Mode
    n: int
    fresh: list[tuple[int, dict[str, ParamValue]]]
    told: list[tuple[int, int, TrialState, float | None]]
    es: Any
    blocks: list[_Block]
    asked: list[tuple[np.ndarray, np.ndarray]]
    restart: int
    popsize: int | None


class _Replay:
    """One replay of the history through ask / tell (see CMAESSearcher, "No state")."""

    def __init__(self, searcher: CMAESSearcher, layout: _Layout, trials: Sequence[Trial],
                 mode: Mode) -> None:
        self.s = searcher
        self.layout = layout
        self.mode = mode
        self.sign = 1.0 if mode == "min" else -1.0
        # The fresh trials and, for each, its latest attempt (a retry replaces a failure).
        self.fresh: list[Trial] = []
        latest: dict[int, Trial] = {}
        for t in trials:
            if t.retry_of is None:
                self.fresh.append(t)
                latest[t.number] = t
            elif t.retry_of in latest:
                latest[t.retry_of] = t
        self.result = [latest[t.number] for t in self.fresh]
        self.asked: list[tuple[np.ndarray, np.ndarray]] = []
        self.blocks: list[_Block] = []
        self.restart = 0
        self.popsize = searcher.popsize
        self.es: Any = None
        self.told: list[tuple[int, int, TrialState, float | None]] = []
        self.start = 0  # fresh trials already replayed (from a memo)
        self.stamped = all(t.created_at is not None for t in self.fresh) and all(
            t.finished_at is not None for t in self.result if t.state.is_finished)

    def resume_from(self, memo: _Memo) -> None:
        """Continue from ``memo`` if the history extends the one it was built from."""
        if not self.stamped or memo.n > len(self.fresh):
            return
        for k, (number, params) in enumerate(memo.fresh):
            t = self.fresh[k]
            if t.number != number or dict(t.params) != params:
                return
        for k, number, state, value in memo.told:
            r = self.result[k]
            if r.number != number or r.state != state or r.value != value:
                return
        self.es = _clone(memo.es)
        self.blocks = copy.deepcopy(memo.blocks)
        self.asked = list(memo.asked)
        self.told = list(memo.told)
        self.restart, self.popsize, self.start = memo.restart, memo.popsize, memo.n

    # -- the CMA-ES instance ---------------------------------------------------------------
    def _new_es(self) -> None:
        from cmaes import CMAwM

        ss = np.random.SeedSequence([self.s.seed, self.restart])
        n = len(self.layout.cma_idx)
        if self.restart == 0:
            mean = np.full(n, 0.5)
        else:
            mean = np.random.default_rng(ss).uniform(0.2, 0.8, size=n)
        lo, hi = self.layout.bounds[:, 0], self.layout.bounds[:, 1]
        self.es = CMAwM(mean=np.clip(mean, lo, hi), sigma=self.s.sigma0,
                        bounds=self.layout.bounds, steps=self.layout.steps,
                        seed=int(ss.generate_state(1)[0]) & 0x7FFFFFFF,
                        population_size=self.popsize)
        self.popsize = self.es.population_size

    # -- replay ----------------------------------------------------------------------------
    def run(self, space: SearchSpace) -> tuple[dict[str, ParamValue], _Memo | None]:
        """Replay the history, then ask for the next trial; also return the memo to keep."""
        k = len(self.fresh)
        rng = np.random.default_rng([self.s.seed, k, 1])
        if not self.layout.cma_idx:
            return self.layout.decode(None, rng), None
        if self.es is None:
            self._new_es()
        for j in range(self.start, k):
            self._tell_ready(self.fresh[j].created_at)
            self._ask(j)
        memo = None
        if self.stamped:
            memo = _Memo(space, self.mode, k, [(t.number, dict(t.params)) for t in self.fresh],
                         list(self.told), _clone(self.es), copy.deepcopy(self.blocks),
                         list(self.asked), self.restart, self.popsize)
        self._tell_ready(None)
        x_enc, _ = self._sample(k)
        return self.layout.decode(x_enc, rng), memo

    def _sample(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Ask CMA-ES for fresh trial ``k``: its generator is reseeded with ``(seed, k)``."""
        ss = np.random.SeedSequence([self.s.seed, k, 2])
        self.es.reseed_rng(int(ss.generate_state(1)[0]) & 0x7FFFFFFF)
        sample: tuple[np.ndarray, np.ndarray] = self.es.ask()
        return sample

    def _ask(self, k: int) -> None:
        self.asked.append(self._sample(k))
        if not self.blocks or self.blocks[-1].restart != self.restart or len(
                self.blocks[-1].members) >= self.blocks[-1].size:
            self.blocks.append(_Block(self.restart, int(self.es.population_size)))
        self.blocks[-1].members.append(k)

    def _finished_by(self, k: int, time: float | None) -> bool:
        t = self.result[k]
        if not t.state.is_finished:
            return False
        return time is None or t.finished_at is None or t.finished_at <= time

    def _tell_ready(self, time: float | None) -> None:
        """Tell, in order, every generation whose trials had all finished by ``time``."""
        while self.blocks:
            b = self.blocks[0]
            if b.restart != self.restart:  # asked by a run that has restarted since
                self.blocks.pop(0)
                continue
            if len(b.members) < b.size or not all(self._finished_by(k, time) for k in b.members):
                return
            self.blocks.pop(0)
            self._tell(b)

    def _tell(self, b: _Block) -> None:
        values: list[float | None] = []
        for k in b.members:
            t = self.result[k]
            v = t.value
            if v is None and t.state == TrialState.STOPPED and t.reports:
                v = t.reports[-1].value  # the last report, if the value was not copied
            ok = t.state in (TrialState.COMPLETED, TrialState.STOPPED) and (
                v is not None and math.isfinite(v))
            values.append(self.sign * v if ok and v is not None else None)
        finite = [v for v in values if v is not None]
        if not finite:
            return  # a generation of failures carries no information
        worst = max(finite)
        solutions = []
        for k, v in zip(b.members, values, strict=True):
            solutions.append((self._told_x(k), worst if v is None else v))
        self.es.tell(solutions)
        self.told.extend((k, self.result[k].number, self.result[k].state, self.result[k].value)
                         for k in b.members)
        if self.s.ipop and self.es.should_stop():
            self.restart += 1
            self.popsize = 2 * int(self.es.population_size)
            logger.debug("CMA-ES restart %d with population %d", self.restart, self.popsize)
            self._new_es()

    def _told_x(self, k: int) -> np.ndarray:
        """Return the raw sample of fresh trial ``k``, or its own coordinates if not sampled."""
        x_enc, x_raw = self.asked[k]
        params = dict(self.fresh[k].params)
        rng = np.random.default_rng([self.s.seed, k, 1])
        if self.layout.same(self.layout.decode(x_enc, rng), params):
            out: np.ndarray = x_raw
            return out
        return self.layout.encode(params)

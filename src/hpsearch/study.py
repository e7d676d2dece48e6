"""The Study: the only component with side effects (storage, executor, clock, signals).

``Study.optimize`` runs the loop of DESIGN.md section 2: ask the searcher, commit the trial,
submit it, commit every event the executor returns before acting on it (scheduler decisions,
retries), until the trial budget or the time budget is spent. The ask-and-tell methods run the
same steps without an executor.
"""

from __future__ import annotations

import collections
import logging
import math
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from hpsearch._registry import resolve_scheduler, resolve_searcher
from hpsearch._runner import (
    _INTERRUPTED,
    _TIMEOUT,
    _WORKER_LOST,
    LOCK_STALE_AFTER,
    Callback,
    _is_retryable,
    _Runner,
)
from hpsearch.exceptions import (
    InvalidParameterError,
    StorageError,
    StudyNotFoundError,
)
from hpsearch.executors._base import Executor
from hpsearch.schedulers._base import Decision, Scheduler
from hpsearch.searchers._base import Searcher
from hpsearch.space import ParamValue, SearchSpace
from hpsearch.storage import Storage, open_storage
from hpsearch.trial import Report, Trial, TrialState, TrialsView, is_better, validate_mode

__all__ = ["LOCK_STALE_AFTER", "Study", "TrialsView", "create_study", "load_study"]

logger = logging.getLogger(__name__)

def _is_interrupted(t: Trial) -> bool:
    return t.state == TrialState.FAILED and (t.reason or "").startswith(_INTERRUPTED)


def _to_float(x: Any) -> float | None:
    """A real number from ints, floats, numpy / torch scalars; None for anything else.

    Strings are not numbers here (``"0.5"`` returned by an objective is a bug, not a value).
    """
    if isinstance(x, (bool, str, bytes)) or x is None:
        return None
    if isinstance(x, (int, float)):
        return float(x)
    try:
        return float(x)
    except (TypeError, ValueError, OverflowError):
        return None


class Study:
    """One optimization run: a search space, an objective's metric, and every trial so far.

    Create one with :func:`create_study` or :func:`load_study` rather than directly.

    Attributes:
        name: the study's unique name in its storage.
        space: the :class:`SearchSpace`.
        metric: name of the optimized metric (a key of the objective's returned dict).
        mode: ``"min"`` or ``"max"``.
        searcher: the :class:`Searcher` proposing params.
        scheduler: the :class:`Scheduler` deciding early stops.
        storage: the :class:`Storage` holding the study.
    """

    def __init__(
        self, *, storage: Storage, study_id: int, name: str, space: SearchSpace, metric: str,
        mode: str, searcher: Searcher, scheduler: Scheduler, config: Mapping[str, Any],
    ) -> None:
        self.storage = storage
        self._study_id = study_id
        self.name = name
        self.space = space
        self.metric = metric
        self.mode = mode
        self.searcher = searcher
        self.scheduler = scheduler
        self.config: dict[str, Any] = dict(config)
        self._trials: list[Trial] = []
        # Everything below is derived from self._trials and kept up to date by _put(), so that
        # the work per trial of a long study stays O(1) (no scans of the history).
        self._pending: collections.deque[int] = collections.deque()  # fresh (enqueued) trials
        self._pending_retries: collections.deque[int] = collections.deque()
        self._latest_attempt: dict[int, int] = {}  # root number -> number of its latest attempt
        self._counts: collections.Counter[str] = collections.Counter()  # of latest attempts
        self._n_interrupted = 0  # latest attempts FAILED "interrupted" (to be re-run)
        self._infra_failures: dict[int, list[int]] = {}  # root -> [worker lost, timeouts]
        self._best: Trial | None = None
        self._live: set[int] = set()  # trials this process is running or has asked
        self.interrupted = False
        self._config_dirty = False  # a searcher/scheduler given to load_study, stored on run
        self._reload()

    # -- state -----------------------------------------------------------------------------
    def _reload(self) -> None:
        trials = self.storage.get_trials(self._study_id, decode=self.space.from_json_params)
        self._trials = []
        self._pending.clear()
        self._pending_retries.clear()
        self._latest_attempt.clear()
        self._counts.clear()
        self._n_interrupted = 0
        self._infra_failures.clear()
        self._best = None
        for t in trials:
            self._put(t)
            if t.state == TrialState.PENDING:
                (self._pending if t.retry_of is None else self._pending_retries).append(t.number)

    @staticmethod
    def _root(t: Trial) -> int:
        return t.number if t.retry_of is None else t.retry_of

    def _count(self, t: Trial, k: int) -> None:
        self._counts[t.state.value] += k
        if _is_interrupted(t):
            self._n_interrupted += k

    def _put(self, t: Trial) -> None:
        """Store ``t`` (new, or a new state of a known trial) and update the derived state."""
        n = t.number
        old = self._trials[n] if n < len(self._trials) else None
        if old is None:
            if n != len(self._trials):
                raise StorageError(f"Study {self.name!r}: trial numbers are not contiguous at {n}.")
            self._trials.append(t)
        else:
            self._trials[n] = t
        root = self._root(t)
        latest = self._latest_attempt.get(root)
        if latest is None or n > latest:  # a new logical trial, or a new attempt replaces one
            if latest is not None:
                self._count(self._trials[latest], -1)
            self._latest_attempt[root] = n
            self._count(t, +1)
        elif n == latest and old is not None:
            self._count(old, -1)
            self._count(t, +1)
        if t.state == TrialState.FAILED and (old is None or old.state != TrialState.FAILED):
            reason = t.reason or ""
            if reason.startswith(_WORKER_LOST) or reason == _TIMEOUT:
                c = self._infra_failures.setdefault(root, [0, 0])
                c[0 if reason.startswith(_WORKER_LOST) else 1] += 1
        best = None if self._best is None else self._best.value
        if t.state == TrialState.COMPLETED and t.value is not None and is_better(
                t.value, best, self.mode):
            self._best = t

    def refresh(self) -> None:
        """Reload the trials from storage (for a reader while another process drives)."""
        self._reload()

    @property
    def trials(self) -> list[Trial]:
        """Every trial by number (a copy of the list; the trials are immutable)."""
        return list(self._trials)

    @property
    def trials_view(self) -> TrialsView:
        """The trials without copying (read-only)."""
        return TrialsView(self._trials)

    def _effective(self) -> Iterator[Trial]:
        """The latest attempt of every logical trial (retries replace their predecessors)."""
        for n in self._latest_attempt.values():
            yield self._trials[n]

    @property
    def n_finished(self) -> int:
        """Logical trials whose latest attempt is COMPLETED, STOPPED or FAILED.

        A trial FAILED "interrupted" (cut by a crash, a second Ctrl-C or the study timeout) is not
        finished: the next ``optimize`` runs it again. O(1).
        """
        c = self._counts
        return (c[TrialState.COMPLETED.value] + c[TrialState.STOPPED.value]
                + c[TrialState.FAILED.value] - self._n_interrupted)

    def counts(self) -> dict[str, int]:
        """How many logical trials are in each state (retried attempts not counted). O(1)."""
        return {s.value: self._counts[s.value] for s in TrialState}

    def _n_committed(self) -> int:
        """Logical trials that count against ``n_trials``: all but fresh PENDING ones."""
        return len(self._latest_attempt) - len(self._pending)

    @property
    def best_trial(self) -> Trial:
        """The COMPLETED trial with the best value under ``mode`` (NaN never wins).

        Only COMPLETED trials compete: STOPPED trials (values at a partial budget), reports and
        FAILED trials never count as best. Ties go to the earlier trial. O(1).

        Raises:
            ValueError: no trial has completed yet.
        """
        if self._best is None:
            raise ValueError(f"Study {self.name!r} has no completed trial yet.")
        return self._best

    @property
    def best_value(self) -> float:
        """``best_trial.value``. Raises ValueError when no trial has completed."""
        v = self.best_trial.value
        assert v is not None  # noqa: S101 - COMPLETED trials have values
        return v

    @property
    def best_params(self) -> dict[str, ParamValue]:
        """``best_trial.params``. Raises ValueError when no trial has completed."""
        return dict(self.best_trial.params)

    def budget_summary(self) -> dict[str, float]:
        """Budget consumed by all trials vs what full-budget trials would have used.

        Returns:
            ``{"used": sum of each trial's largest reported budget, "full": max budget seen
            (or the scheduler's ``max_budget``) x trials that reported, "fraction": used / full}``.
        """
        reported = [t for t in self._trials if t.reports]
        used = float(sum(t.budget_used for t in reported))
        max_budget = getattr(self.scheduler, "max_budget", None)
        if max_budget is None:
            max_budget = max((t.budget_used for t in reported), default=0.0)
        full = float(max_budget) * len(reported)
        return {"used": used, "full": full, "fraction": used / full if full else float("nan")}

    # -- ask and tell ----------------------------------------------------------------------
    def _new_trial(self, params: Mapping[str, ParamValue], *, state: TrialState,
                   retry_of: int | None = None, attempt: int = 0) -> Trial:
        number = len(self._trials)
        now = time.time()
        started = now if state == TrialState.RUNNING else None
        self.storage.create_trial(
            self._study_id, number, state=state, params=self.space.to_json_params(params),
            created_at=now, started_at=started, retry_of=retry_of, attempt=attempt)
        t = Trial(number=number, state=state, params=dict(params), retry_of=retry_of,
                  attempt=attempt, created_at=now, started_at=started)
        self._put(t)
        if state == TrialState.PENDING:
            (self._pending if retry_of is None else self._pending_retries).append(number)
        return t

    def _suggest(self) -> dict[str, ParamValue]:
        params = self.searcher.suggest(self.space, TrialsView(self._trials), mode=self.mode)
        self.space.validate(params)
        return params

    def enqueue(self, params: Mapping[str, ParamValue]) -> Trial:
        """Add a PENDING trial with fixed ``params``; ``optimize`` runs pending trials first.

        Raises:
            SearchSpaceError: ``params`` is not a valid configuration of the space.
        """
        self.space.validate(params)
        return self._new_trial(params, state=TrialState.PENDING)

    def ask(self, params: Mapping[str, ParamValue] | None = None) -> Trial:
        """Start a trial (ask-and-tell): a PENDING one (retries first), else a new suggestion.

        Ask-and-tell does not take the driver lock: do not mix it with a running ``optimize``
        of the same study in another process.

        Args:
            params: fixed params instead of a suggestion (validated).

        Returns:
            The RUNNING trial; evaluate ``trial.params``, then :meth:`report` / :meth:`tell`.
        """
        if params is not None:
            self.space.validate(params)
            t = self._new_trial(params, state=TrialState.RUNNING)
        elif self._pending_retries:
            t = self._start_pending(self._pending_retries)
        elif self._pending:
            t = self._start_pending(self._pending)
        else:
            t = self._new_trial(self._suggest(), state=TrialState.RUNNING)
        self._live.add(t.number)
        return t

    def _start_pending(self, queue: collections.deque[int]) -> Trial:
        """Start the oldest trial of ``queue`` (popped only once the start is committed)."""
        number = queue[0]
        now = time.time()
        self.storage.start_trial(self._study_id, number, started_at=now)
        queue.popleft()
        t = replace(self._trials[number], state=TrialState.RUNNING, started_at=now)
        self._put(t)
        return t

    def _running_trial(self, number: int) -> Trial:
        if not isinstance(number, int) or not 0 <= number < len(self._trials):
            raise InvalidParameterError(f"Study {self.name!r} has no trial {number!r}.")
        t = self._trials[number]
        if t.state != TrialState.RUNNING:
            raise InvalidParameterError(
                f"Trial {number} is {t.state.value}, not RUNNING: it cannot report or be told.")
        return t

    def report(self, number: int, budget: float, value: float, **metrics: Any) -> Decision:
        """Record an intermediate report of a RUNNING trial and ask the scheduler.

        Returns:
            The scheduler's decision; on STOP the trial is already recorded STOPPED.

        Raises:
            InvalidParameterError: the trial does not exist or is not RUNNING, ``budget`` is not
                a finite number, or ``value`` is not a number (NaN and inf are allowed: they are
                recorded, never count as best, and divergence stopping acts on them).
        """
        self._running_trial(number)
        b, v = _to_float(budget), _to_float(value)
        if b is None or not math.isfinite(b):
            raise InvalidParameterError(
                f"The 'budget' of a report must be a finite number. Got {budget!r} instead.")
        if v is None:
            raise InvalidParameterError(
                f"The 'value' of a report must be a number. Got {value!r} instead.")
        return self._on_report(number, b, v, _jsonable(metrics))

    def tell(self, number: int, result: Any = None, *, failed: bool = False,
             reason: str | None = None) -> Trial:
        """Finish a RUNNING trial with the objective's result (a number or a dict of metrics).

        Args:
            number: the trial.
            result: what the objective returned; NaN, inf, None or a non-number makes the trial
                FAILED (the documented bad-value policy).
            failed: record the trial FAILED (``reason`` says why).
            reason: the failure reason when ``failed``.

        Returns:
            The finished trial.

        Raises:
            InvalidParameterError: the trial does not exist or is not RUNNING.
        """
        self._running_trial(number)
        if failed:
            self._finish(number, TrialState.FAILED, None, {}, reason or "failed", None)
        else:
            self._on_finished(number, result)
        self._live.discard(number)
        return self._trials[number]

    # -- event handling (shared by ask/tell and optimize) ----------------------------------
    def _on_report(self, number: int, budget: float, value: float,
                   metrics: dict[str, Any]) -> Decision:
        t = self._trials[number]
        if t.state != TrialState.RUNNING:  # e.g. already stopped or killed
            return Decision.stop("trial is no longer running")
        self.storage.add_report(self._study_id, number, budget=budget, value=value,
                                metrics=metrics)
        t = replace(t, reports=(*t.reports, Report(budget, value, metrics)))
        self._put(t)
        decision = self.scheduler.decide(t, TrialsView(self._trials), mode=self.mode)
        if decision.is_stop:
            v = value if math.isfinite(value) else None
            self._finish(number, TrialState.STOPPED, v, {self.metric: value, **metrics},
                         decision.reason, None)
        return decision

    def _normalize(self, result: Any) -> tuple[float | None, dict[str, Any], str | None]:
        """(value, metrics, error) from an objective's return value."""
        if isinstance(result, Mapping):
            metrics = {str(k): (_to_float(v) if _to_float(v) is not None else v)
                       for k, v in result.items()}
            if self.metric not in metrics:
                return None, metrics, (
                    f"invalid result: the returned dict has no key {self.metric!r} (the study's "
                    f"metric); keys: {sorted(metrics)}")
            raw = result[self.metric]
        else:
            raw, metrics = result, {}
        value = _to_float(raw)
        if value is None:
            return None, metrics, (
                f"invalid result: {type(raw).__name__} {raw!r:.80} is not a number")
        metrics[self.metric] = value
        if not math.isfinite(value):
            return None, metrics, f"invalid result: {value}"
        return value, metrics, None

    def _on_finished(self, number: int, result: Any) -> None:
        value, metrics, error = self._normalize(result)
        if error is not None:
            self._finish(number, TrialState.FAILED, None, _jsonable(metrics), error, None)
        else:
            self._finish(number, TrialState.COMPLETED, value, _jsonable(metrics), None, None)

    def _finish(self, number: int, state: TrialState, value: float | None,
                metrics: Mapping[str, Any], reason: str | None, tb: str | None) -> None:
        now = time.time()
        if value is not None and not math.isfinite(value):
            value = None  # the bad-value policy: NaN / inf are never a trial's value
        self.storage.finish_trial(self._study_id, number, state=state, value=value,
                                  metrics=metrics, finished_at=now, reason=reason, traceback=tb)
        self._put(replace(self._trials[number], state=state, value=value, metrics=dict(metrics),
                          reason=reason, traceback=tb, finished_at=now))

    def _retry(self, t: Trial) -> Trial:
        root = t.number if t.retry_of is None else t.retry_of
        return self._new_trial(t.params, state=TrialState.PENDING, retry_of=root,
                               attempt=t.attempt + 1)

    # -- optimize --------------------------------------------------------------------------
    def optimize(
        self,
        objective: Callable[..., Any],
        n_trials: int | None = None,
        *,
        timeout: float | None = None,
        executor: Executor | None = None,
        trial_timeout: float | None = None,
        max_retries: int = 0,
        retry_timeouts: bool = False,
        callbacks: Sequence[Callback] = (),
        catch_signals: bool = True,
    ) -> None:
        """Run trials until the study holds ``n_trials`` finished trials or ``timeout`` passes.

        ``n_trials`` is a study-wide total of logical trials (a retry replaces its failed
        attempt): a study with 30 finished trials and ``n_trials=100`` runs 70 more, and never
        more than 100 finish, whatever the number of workers. Calling ``optimize`` on a loaded
        study resumes it: trials left RUNNING by a driver that died, or cut by an interruption,
        are recorded FAILED ("interrupted") and their params run again first, as new trials
        linked to the old ones (``retry_of``, ``attempt``); COMPLETED trials are never run again.

        One driver per study: the call takes the study's lock (refreshed by a heartbeat thread)
        and fails with StudyLockedError while another live process holds it; the lock of a dead
        driver is taken over (at once on the same host, else after ``LOCK_STALE_AFTER`` s).

        Ctrl-C (or SIGTERM): the first stops submitting and waits for running trials (a warning
        is logged); the second kills them (recorded FAILED "interrupted", re-run on resume). Then
        KeyboardInterrupt is raised; call ``optimize`` again to resume.

        A storage failure (database locked past the busy timeout, read-only, disk full, corrupt)
        stops the call at once: running trials are killed without further writes, and the
        StorageError propagates. Every committed event stays; the trials the failure cut are
        left RUNNING and re-run on resume.

        Args:
            objective: ``objective(params) -> float | dict`` or ``objective(params, reporter)``.
                A result that is NaN, inf, None or not a number (or a dict without the study's
                metric) records the trial FAILED with reason ``"invalid result: ..."``.
            n_trials: total number of finished trials wanted; None runs until ``timeout``, an
                exhausted searcher or Ctrl-C.
            timeout: wall-clock seconds for this call; when it passes, running trials are
                stopped within about a second (recorded FAILED "interrupted: study timeout",
                re-run on resume).
            executor: where trials run; default a :class:`~hpsearch.LocalExecutor` on every core.
                An executor passed in is started but not shut down (reuse it).
            trial_timeout: seconds after which a running trial is killed (FAILED "timeout").
                :class:`~hpsearch.LocalExecutor` kills the worker process; InlineExecutor can
                only abandon a trial at its next report, and cannot interrupt an objective
                that takes no reporter (its result is then recorded when it returns).
            max_retries: extra attempts for a trial whose worker died (and, with
                ``retry_timeouts``, one that timed out); each attempt is a new trial with
                ``retry_of`` = the first attempt's number and ``attempt`` = k. Re-runs after an
                interruption do not use up retries. A resumed study retries such failures of
                the earlier runs too, up to this call's ``max_retries``.
            retry_timeouts: retry timed-out trials too.
            callbacks: ``callback(study, trial)`` after each trial starts or finishes.
            catch_signals: install the Ctrl-C / SIGTERM handlers (main thread only).

        Raises:
            InvalidParameterError: a bad argument.
            StudyLockedError: another live driver is running this study, or took it over
                while this call ran (its heartbeat could not be written for too long).
            StorageError: the storage failed; everything committed before stays.
            ExecutorError: the executor cannot start.
            KeyboardInterrupt: after a clean stop on Ctrl-C / SIGTERM.
        """
        _check_optional_positive("n_trials", n_trials, integer=True)
        _check_optional_positive("timeout", timeout)
        _check_optional_positive("trial_timeout", trial_timeout)
        if not isinstance(max_retries, int) or isinstance(max_retries, bool) or max_retries < 0:
            raise InvalidParameterError(
                "The 'max_retries' parameter of optimize must be an int >= 0. "
                f"Got {max_retries!r} instead.")
        if not callable(objective):
            raise InvalidParameterError(
                f"The objective must be callable. Got {type(objective).__name__}.")
        own_executor = executor is None
        if executor is None:
            from hpsearch.executors.local import LocalExecutor

            executor = LocalExecutor()
        runner = _Runner(self, executor, objective, n_trials=n_trials, timeout=timeout,
                         trial_timeout=trial_timeout, max_retries=max_retries,
                         retry_timeouts=bool(retry_timeouts), callbacks=callbacks)
        try:
            runner.run(catch_signals=catch_signals)
        except KeyboardInterrupt:
            self.interrupted = True
            raise
        finally:
            if own_executor:
                executor.shutdown()
        if runner.interrupted:
            self.interrupted = True
            raise KeyboardInterrupt

    def _retries_used(self, root: int, retry_timeouts: bool) -> int:
        lost, timeouts = self._infra_failures.get(root, (0, 0))
        return lost + (timeouts if retry_timeouts else 0)

    def _recover(self, max_retries: int, retry_timeouts: bool) -> int:
        """Recover what a dead or interrupted driver left; O(n), once per optimize.

        Trials left RUNNING by a dead driver are recorded FAILED "interrupted"; interrupted
        trials are queued to run again, and infrastructure failures within ``max_retries``.
        """
        for t in list(self._trials):
            if t.state == TrialState.RUNNING and t.number not in self._live:
                self._finish(t.number, TrialState.FAILED, None, {}, _INTERRUPTED, None)
        n = 0
        for root, latest in list(self._latest_attempt.items()):
            t = self._trials[latest]
            if _is_interrupted(t) or (
                    _is_retryable(t, retry_timeouts)
                    and self._retries_used(root, retry_timeouts) <= max_retries):
                self._retry(t)
                n += 1
        return n

    def __repr__(self) -> str:
        return (f"Study(name={self.name!r}, metric={self.metric!r}, mode={self.mode!r}, "
                f"n_trials={len(self._trials)}, storage={self.storage!r})")


def _jsonable(metrics: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in metrics.items():
        if v is None or isinstance(v, (bool, int, float, str)):
            out[k] = v
        else:
            f = _to_float(v)
            out[k] = f if f is not None else repr(v)
    return out


def _check_optional_positive(name: str, x: Any, *, integer: bool = False) -> None:
    if x is None:
        return
    ok = isinstance(x, int) if integer else isinstance(x, (int, float))
    ok = ok and not isinstance(x, bool)
    if not ok or not math.isfinite(x) or x <= 0:
        kind = "an int >= 1" if integer else "a float in the range (0, inf)"
        raise InvalidParameterError(f"The {name!r} parameter must be {kind}. Got {x!r} instead.")


def _study_seed(seed: int | None) -> tuple[int | None, int | None]:
    if seed is None:
        return None, None
    a, b = np.random.SeedSequence(seed).spawn(2)
    return int(a.generate_state(1)[0]), int(b.generate_state(1)[0])


def create_study(
    name: str | None = None,
    *,
    space: SearchSpace | Mapping[str, Any],
    metric: str = "value",
    mode: str = "min",
    storage: str | Storage | None = None,
    searcher: Searcher | str | Mapping[str, Any] | None = None,
    scheduler: Scheduler | str | Mapping[str, Any] | Sequence[Any] | None = None,
    seed: int | None = None,
    load_if_exists: bool = False,
) -> Study:
    """Create a study in ``storage`` (default ``sqlite:///hpsearch.db`` in the working directory).

    Args:
        name: unique name; None generates ``study-YYYYmmdd-HHMMSS-xxxx``.
        space: a :class:`SearchSpace` or a mapping accepted by it.
        metric: the metric optimized: the key of the objective's returned dict (a plain number
            return is taken as this metric).
        mode: ``"min"`` or ``"max"``.
        storage: a storage URL or object.
        searcher: a Searcher, a name (``"random"``) or ``{name: {args}}``; default ``"auto"``
            (:class:`~hpsearch.AutoSearcher`; ``"random"`` is the plain baseline).
        scheduler: a Scheduler, name, ``{name: {args}}`` or a list of those (any may stop a
            trial); default none (every trial runs to its end).
        seed: seeds the searcher and scheduler built from names (child seeds of one
            ``SeedSequence``), so a seeded sequential study is reproducible.
        load_if_exists: load the study when ``name`` exists instead of failing.

    Raises:
        InvalidParameterError: a bad mode, metric, searcher or scheduler spec.
        SearchSpaceError: a malformed space.
        StorageError: the storage cannot be opened, or the name is taken.
    """
    validate_mode(mode)
    if not isinstance(metric, str) or not metric:
        raise InvalidParameterError(f"The 'metric' must be a non-empty string. Got {metric!r}.")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise InvalidParameterError(f"The study name must be a non-empty string. Got {name!r}.")
    space = space if isinstance(space, SearchSpace) else SearchSpace(space)
    st = open_storage(storage)
    if name is None:
        name = time.strftime("study-%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:4]
    elif load_if_exists:
        try:
            st.get_study(name)
        except StudyNotFoundError:
            pass
        else:
            return load_study(name, storage=st, searcher=searcher, scheduler=scheduler)
    s_seed, d_seed = _study_seed(seed)
    searcher_obj = resolve_searcher(searcher, seed=s_seed)
    scheduler_obj = resolve_scheduler(scheduler, seed=d_seed)
    config = {"searcher": searcher_obj.to_config(), "scheduler": scheduler_obj.to_config(),
              "seed": seed}
    rec = st.create_study(name, metric=metric, mode=mode, space=space.to_dict(), config=config,
                          created_at=time.time())
    return Study(storage=st, study_id=rec.study_id, name=name, space=space, metric=metric,
                 mode=mode, searcher=searcher_obj, scheduler=scheduler_obj, config=config)


def load_study(
    name: str,
    *,
    storage: str | Storage | None = None,
    searcher: Searcher | str | Mapping[str, Any] | None = None,
    scheduler: Scheduler | str | Mapping[str, Any] | Sequence[Any] | None = None,
) -> Study:
    """Load a stored study.

    Its searcher and scheduler are rebuilt from the stored config unless given (their state is
    derived from the stored trials). A stored one that cannot be rebuilt (a custom class not
    registered in this process) fails only when the study runs, so readers still work.

    Raises:
        StudyNotFoundError: no study named ``name``.
        StorageError: the storage cannot be opened or read.
    """
    st = open_storage(storage, create=False)
    rec = st.get_study(name)
    space = SearchSpace.from_dict(rec.space)
    config = dict(rec.config)
    if searcher is not None:
        searcher_obj = resolve_searcher(searcher)
        config["searcher"] = searcher_obj.to_config()
    else:
        searcher_obj = _stored(resolve_searcher, "searcher", config.get("searcher"))
    if scheduler is not None:
        scheduler_obj = resolve_scheduler(scheduler)
        config["scheduler"] = scheduler_obj.to_config()
    else:
        scheduler_obj = _stored(resolve_scheduler, "scheduler", config.get("scheduler"))
    study = Study(storage=st, study_id=rec.study_id, name=rec.name, space=space,
                  metric=rec.metric, mode=rec.mode, searcher=searcher_obj,
                  scheduler=scheduler_obj, config=config)
    # A reader must not change the study: a new searcher/scheduler is stored by the driver
    # that runs with it (Study.optimize, once it holds the lock).
    study._config_dirty = searcher is not None or scheduler is not None
    return study


def _stored(resolve: Callable[[Any], Any], kind: str, spec: Any) -> Any:
    """Rebuild a stored searcher/scheduler, or stand in for one that cannot be rebuilt."""
    try:
        return resolve(spec)
    except InvalidParameterError as e:
        logger.warning("The stored %s %r cannot be rebuilt (%s); pass %s=... to run the study.",
                       kind, spec, e, kind)
        return _Unavailable(kind, spec, str(e))


class _Unavailable(Searcher, Scheduler):
    """Stands for a stored searcher/scheduler that cannot be rebuilt; raises when used."""

    def __init__(self, kind: str, spec: Any, error: str) -> None:
        self.kind, self.spec, self.error = kind, spec, error

    def _fail(self) -> InvalidParameterError:
        return InvalidParameterError(
            f"The stored {self.kind} {self.spec!r} cannot be rebuilt here ({self.error}); "
            f"load the study with {self.kind}=... to run it.")

    def suggest(self, space: SearchSpace, trials: Sequence[Trial], *, mode: str
                ) -> dict[str, ParamValue]:
        """Raise: see the class docstring."""
        raise self._fail()

    def decide(self, trial: Trial, trials: Sequence[Trial], *, mode: str) -> Decision:
        """Raise: see the class docstring."""
        raise self._fail()

    def is_exhausted(self, space: SearchSpace, trials: Sequence[Trial]) -> bool:
        """Raise: see the class docstring."""
        raise self._fail()

    def to_config(self) -> dict[str, Any]:
        """The stored spec, unchanged."""
        return dict(self.spec) if isinstance(self.spec, Mapping) else {str(self.spec): {}}

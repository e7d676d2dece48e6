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
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any, overload

import numpy as np

from hpsearch._registry import resolve_scheduler, resolve_searcher
from hpsearch.exceptions import (
    InvalidParameterError,
    StorageError,
    StudyLockedError,
    StudyNotFoundError,
)
from hpsearch.executors._base import Event, Executor, Failed, Finished, Reported, Stopped
from hpsearch.schedulers._base import Decision, Scheduler
from hpsearch.searchers._base import Searcher
from hpsearch.space import ParamValue, SearchSpace
from hpsearch.storage import Storage, open_storage
from hpsearch.trial import Report, Trial, TrialState, is_better, validate_mode

__all__ = ["Study", "TrialsView", "create_study", "load_study"]

logger = logging.getLogger(__name__)

Callback = Callable[["Study", Trial], None]

#: seconds between heartbeats of the driver lock, and the age after which a lock is stale.
HEARTBEAT_INTERVAL = 5.0
LOCK_STALE_AFTER = 30.0
_INTERRUPTED = "interrupted"


class TrialsView(Sequence[Trial]):
    """A read-only, zero-copy view of a study's trials by number (handed to policies)."""

    __slots__ = ("_items",)

    def __init__(self, items: list[Trial]) -> None:
        self._items = items

    @overload
    def __getitem__(self, i: int) -> Trial: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[Trial]: ...
    def __getitem__(self, i: int | slice) -> Trial | Sequence[Trial]:
        return self._items[i]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Trial]:
        return iter(self._items)


def _to_float(x: Any) -> float | None:
    """A real number from ints, floats, numpy / torch scalars; None for anything else."""
    if isinstance(x, bool) or x is None:
        return None
    if isinstance(x, (int, float)):
        return float(x)
    try:
        return float(x)
    except (TypeError, ValueError, OverflowError):
        return None


def _owner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _owner_is_dead(owner: str | None) -> bool:
    """Whether a lock owner ``host:pid:token`` is a process of this host that no longer exists."""
    if not owner:
        return True
    host, _, rest = owner.partition(":")
    pid_s = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_s.isdigit():
        return False
    try:
        os.kill(int(pid_s), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


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
        self._pending: collections.deque[int] = collections.deque()
        self._latest_attempt: dict[int, int] = {}  # root number -> number of its latest attempt
        self._live: set[int] = set()  # trials this process is running or has asked
        self._stop_requests = 0
        self.interrupted = False
        self._reload()

    # -- state -----------------------------------------------------------------------------
    def _reload(self) -> None:
        self._trials = self.storage.get_trials(self._study_id, decode=self.space.from_json_params)
        self._pending.clear()
        self._latest_attempt.clear()
        for t in self._trials:
            self._index(t)
            if t.state == TrialState.PENDING:
                self._pending.append(t.number)

    def _index(self, t: Trial) -> None:
        root = t.number if t.retry_of is None else t.retry_of
        self._latest_attempt[root] = t.number

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
        """Logical trials whose latest attempt is COMPLETED, STOPPED or FAILED."""
        return sum(1 for t in self._effective() if t.state.is_finished)

    def counts(self) -> dict[str, int]:
        """How many logical trials are in each state (retried attempts not counted)."""
        c = {s.value: 0 for s in TrialState}
        for t in self._effective():
            c[t.state.value] += 1
        return c

    @property
    def best_trial(self) -> Trial:
        """The COMPLETED trial with the best value under ``mode`` (NaN never wins).

        Raises:
            ValueError: no trial has completed yet.
        """
        best: Trial | None = None
        for t in self._trials:
            if t.state == TrialState.COMPLETED and t.value is not None and (
                    best is None or is_better(t.value, best.value, self.mode)):
                best = t
        if best is None:
            raise ValueError(f"Study {self.name!r} has no completed trial yet.")
        return best

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
        self._trials.append(t)
        self._index(t)
        if state == TrialState.PENDING:
            self._pending.append(number)
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
        """Start a trial (ask-and-tell): the oldest PENDING one, else a new suggestion.

        Args:
            params: fixed params instead of a suggestion (validated).

        Returns:
            The RUNNING trial; evaluate ``trial.params``, then :meth:`report` / :meth:`tell`.
        """
        if params is not None:
            self.space.validate(params)
            t = self._new_trial(params, state=TrialState.RUNNING)
        elif self._pending:
            t = self._start_pending(self._pending.popleft())
        else:
            t = self._new_trial(self._suggest(), state=TrialState.RUNNING)
        self._live.add(t.number)
        return t

    def _start_pending(self, number: int) -> Trial:
        now = time.time()
        self.storage.start_trial(self._study_id, number, started_at=now)
        t = replace(self._trials[number], state=TrialState.RUNNING, started_at=now)
        self._trials[number] = t
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
            InvalidParameterError: the trial does not exist or is not RUNNING.
        """
        self._running_trial(number)
        return self._on_report(number, float(budget), float(value), dict(metrics))

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
        self._trials[number] = t
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
            return None, metrics, f"invalid result: {type(raw).__name__} {raw!r:.80} is not a number"
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
        self.storage.finish_trial(self._study_id, number, state=state, value=value,
                                  metrics=metrics, finished_at=now, reason=reason, traceback=tb)
        self._trials[number] = replace(self._trials[number], state=state, value=value,
                                       metrics=dict(metrics), reason=reason, traceback=tb,
                                       finished_at=now)

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
        attempt): a study with 30 finished trials and ``n_trials=100`` runs 70 more. Trials left
        RUNNING by a driver that died, or cut by an earlier interruption, are recorded FAILED
        ("interrupted") and their params run again first, as new trials linked to the old ones.

        Ctrl-C (or SIGTERM): the first stops submitting and waits for running trials; the second
        kills them (recorded FAILED "interrupted", re-run on resume). Then KeyboardInterrupt is
        raised; the study can be resumed by calling ``optimize`` again.

        Args:
            objective: ``objective(params) -> float | dict`` or ``objective(params, reporter)``.
            n_trials: total number of finished trials wanted; None runs until ``timeout``, an
                exhausted searcher or Ctrl-C.
            timeout: wall-clock seconds for this call; running trials are stopped when it
                passes (recorded FAILED "interrupted", re-run on resume).
            executor: where trials run; default a :class:`~hpsearch.LocalExecutor` on every core.
                An executor passed in is started but not shut down (reuse it).
            trial_timeout: seconds after which a running trial is killed (FAILED "timeout").
            max_retries: extra attempts for a trial whose worker died (and, with
                ``retry_timeouts``, one that timed out); each attempt is recorded.
            retry_timeouts: retry timed-out trials too.
            callbacks: ``callback(study, trial)`` after each trial starts or finishes.
            catch_signals: install the Ctrl-C / SIGTERM handlers (main thread only).

        Raises:
            InvalidParameterError: a bad argument.
            StudyLockedError: another live driver is running this study.
            StorageError: the storage failed; everything committed before stays.
            ExecutorError: the executor cannot start.
            KeyboardInterrupt: after a clean stop on Ctrl-C / SIGTERM.
        """
        _check_optional_positive("n_trials", n_trials, integer=True)
        _check_optional_positive("timeout", timeout)
        _check_optional_positive("trial_timeout", trial_timeout)
        if not isinstance(max_retries, int) or isinstance(max_retries, bool) or max_retries < 0:
            raise InvalidParameterError(
                f"The 'max_retries' parameter of optimize must be an int >= 0. Got {max_retries!r}.")
        if not callable(objective):
            raise InvalidParameterError(
                f"The objective must be callable. Got {type(objective).__name__}.")
        own_executor = executor is None
        if executor is None:
            from hpsearch.executors.local import LocalExecutor

            executor = LocalExecutor()
        runner = _Runner(self, executor, objective, n_trials=n_trials, timeout=timeout,
                         trial_timeout=trial_timeout, max_retries=max_retries,
                         retry_timeouts=retry_timeouts, callbacks=callbacks)
        try:
            runner.run(catch_signals=catch_signals)
        finally:
            if own_executor:
                executor.shutdown()
        if runner.interrupted:
            self.interrupted = True
            raise KeyboardInterrupt

    def _recover_interrupted(self) -> int:
        """Fail trials left RUNNING by a dead driver and queue re-runs of interrupted ones."""
        n = 0
        for t in list(self._trials):
            if t.state == TrialState.RUNNING and t.number not in self._live:
                self._finish(t.number, TrialState.FAILED, None, {}, _INTERRUPTED, None)
                t = self._trials[t.number]
        for root, latest in list(self._latest_attempt.items()):
            t = self._trials[latest]
            if t.state == TrialState.FAILED and (t.reason or "").startswith(_INTERRUPTED):
                self._retry(t)
                n += 1
        return n

    def __repr__(self) -> str:
        return (f"Study(name={self.name!r}, metric={self.metric!r}, mode={self.mode!r}, "
                f"n_trials={len(self._trials)}, storage={self.storage!r})")


class _Runner:
    """The optimize loop for one call (kept apart so Study stays small)."""

    def __init__(self, study: Study, executor: Executor, objective: Callable[..., Any], *,
                 n_trials: int | None, timeout: float | None, trial_timeout: float | None,
                 max_retries: int, retry_timeouts: bool, callbacks: Sequence[Callback]) -> None:
        self.study = study
        self.executor = executor
        self.objective = objective
        self.n_trials = n_trials
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self.trial_timeout = trial_timeout
        self.max_retries = max_retries
        self.retry_timeouts = retry_timeouts
        self.callbacks = list(callbacks)
        self.started_at: dict[int, float] = {}
        self.owner = _owner_id()
        self.interrupted = False
        self._signals = 0
        self._draining = False

    # signals ------------------------------------------------------------------------------
    def _on_signal(self, signum: int, _frame: Any) -> None:
        self._signals += 1
        if self._signals == 1:
            logger.warning("Stopping: no new trials; waiting for %d running trial(s). "
                           "Press Ctrl-C again to stop them.", self.executor.n_running)
        else:
            logger.warning("Stopping the running trials now.")

    def _install_signals(self) -> dict[int, Any]:
        if threading.current_thread() is not threading.main_thread():
            return {}
        old = {}
        for s in (signal.SIGINT, signal.SIGTERM):
            old[s] = signal.signal(s, self._on_signal)
        return old

    # lock ---------------------------------------------------------------------------------
    def _lock(self) -> None:
        st, sid = self.study.storage, self.study._study_id
        now = time.time()
        if st.acquire_lock(sid, self.owner, now=now, stale_after=LOCK_STALE_AFTER):
            return
        owner, beat = st.lock_info(sid)
        if _owner_is_dead(owner) and st.acquire_lock(sid, self.owner, now=now, stale_after=0.0):
            logger.warning("Took over the lock of study %r from dead driver %s.",
                           self.study.name, owner)
            return
        age = f"{now - beat:.1f} s ago" if beat else "never"
        raise StudyLockedError(
            f"Study {self.study.name!r} is being run by another driver ({owner}, last heartbeat "
            f"{age}); wait for it to finish or stop it. A dead driver's lock is taken over after "
            f"{LOCK_STALE_AFTER:.0f} s.")

    # loop ---------------------------------------------------------------------------------
    def run(self, *, catch_signals: bool) -> None:
        study = self.study
        self._lock()
        old_handlers = self._install_signals() if catch_signals else {}
        try:
            n = study._recover_interrupted()
            if n:
                logger.info("Re-running %d interrupted trial(s) first.", n)
            self.executor.start(self.objective)
            self._loop()
        finally:
            try:
                self._abandon_running()
            finally:
                for s, h in old_handlers.items():
                    signal.signal(s, h)
                try:
                    study.storage.release_lock(study._study_id, self.owner)
                except StorageError:
                    logger.exception("Could not release the driver lock.")

    def _budget_left(self) -> bool:
        if self.n_trials is None:
            return True
        return len(self.study._latest_attempt) < self.n_trials

    def _next(self) -> Trial | None:
        study = self.study
        if study._pending:
            return study._start_pending(study._pending.popleft())
        if not self._budget_left():
            return None
        if study.searcher.is_exhausted(study.space, TrialsView(study._trials)):
            return None
        return study._new_trial(study._suggest(), state=TrialState.RUNNING)

    def _fill(self) -> bool:
        """Submit trials while slots are free; returns whether anything is left to submit."""
        ex = self.executor
        while ex.n_running < ex.n_slots:
            if self._signals or self._past_deadline():
                return False
            t = self._next()
            if t is None:
                return False
            self.study._live.add(t.number)
            self.started_at[t.number] = time.monotonic()
            ex.submit(t.number, t.params)
            self._notify(t)
        return True

    def _past_deadline(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    def _loop(self) -> None:
        ex = self.executor
        last_beat = time.monotonic()
        while True:
            more = self._fill()
            if ex.n_running == 0 and (not more or self._signals or self._past_deadline()):
                if self._signals:
                    self.interrupted = True
                return
            wait = 0.5
            if self.deadline is not None:
                wait = max(0.0, min(wait, self.deadline - time.monotonic()))
            for ev in ex.events(wait):
                self._handle(ev)
            now = time.monotonic()
            if self._signals >= 2 or self._past_deadline():
                reason = _INTERRUPTED + (": study timeout" if not self._signals else "")
                for number in list(self.started_at):
                    ex.kill(number, reason)
            elif self.trial_timeout is not None:
                for number, t0 in list(self.started_at.items()):
                    if now - t0 > self.trial_timeout:
                        ex.kill(number, "timeout")
            if now - last_beat > HEARTBEAT_INTERVAL:
                last_beat = now
                self.study.storage.heartbeat(self.study._study_id, self.owner, now=time.time())

    def _handle(self, ev: Event) -> None:
        study = self.study
        n = ev.number
        if isinstance(ev, Reported):
            decision = study._on_report(n, ev.budget, ev.value, dict(ev.metrics))
            self.executor.send_decision(n, decision.is_stop)
            if decision.is_stop:
                self._notify(study._trials[n])
            return
        if not isinstance(ev, (Finished, Failed, Stopped)):
            return
        self.started_at.pop(n, None)
        study._live.discard(n)
        t = study._trials[n]
        if t.state != TrialState.RUNNING:  # already STOPPED by a decision
            return
        if isinstance(ev, Finished):
            study._on_finished(n, ev.result)
        elif isinstance(ev, Stopped):
            last = t.last_report
            study._finish(n, TrialState.STOPPED, last.value if last else None, {}, "stopped", None)
        else:
            study._finish(n, TrialState.FAILED, None, {}, ev.reason, ev.traceback)
            t = study._trials[n]
            retryable = ev.reason.startswith("worker lost") or (
                self.retry_timeouts and ev.reason == "timeout")
            if retryable and t.attempt < self.max_retries and not self._signals:
                study._retry(t)
        self._notify(study._trials[n])

    def _abandon_running(self) -> None:
        """Kill what still runs (an error or a second Ctrl-C) and record it interrupted."""
        ex = self.executor
        for number in list(self.started_at):
            ex.kill(number, _INTERRUPTED)
        if self.started_at:
            deadline = time.monotonic() + 5.0
            while self.started_at and time.monotonic() < deadline:
                for ev in ex.events(0.1):
                    if isinstance(ev, (Finished, Failed, Stopped)):
                        try:
                            self._handle(ev)
                        except StorageError:
                            self.started_at.pop(ev.number, None)
            for number in list(self.started_at):
                t = self.study._trials[number]
                if t.state == TrialState.RUNNING:
                    try:
                        self.study._finish(number, TrialState.FAILED, None, {}, _INTERRUPTED, None)
                    except StorageError:
                        pass
                self.started_at.pop(number, None)

    def _notify(self, t: Trial) -> None:
        for cb in self.callbacks:
            cb(self.study, t)


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
    ok = (isinstance(x, int) if integer else isinstance(x, (int, float))) and not isinstance(x, bool)
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
        searcher: a Searcher, a name (``"random"``) or ``{name: {args}}``; default random.
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
    """Load a stored study; its searcher and scheduler are rebuilt from the stored config
    unless given (their state is derived from the stored trials).

    Raises:
        StudyNotFoundError: no study named ``name``.
        StorageError: the storage cannot be opened or read.
    """
    st = open_storage(storage, create=False)
    rec = st.get_study(name)
    space = SearchSpace.from_dict(rec.space)
    config = dict(rec.config)
    searcher_obj = resolve_searcher(searcher if searcher is not None else config.get("searcher"))
    scheduler_obj = resolve_scheduler(
        scheduler if scheduler is not None else config.get("scheduler"))
    if searcher is not None or scheduler is not None:
        config["searcher"] = searcher_obj.to_config()
        config["scheduler"] = scheduler_obj.to_config()
        st.update_study_config(rec.study_id, config)
    return Study(storage=st, study_id=rec.study_id, name=rec.name, space=space, metric=rec.metric,
                 mode=rec.mode, searcher=searcher_obj, scheduler=scheduler_obj, config=config)

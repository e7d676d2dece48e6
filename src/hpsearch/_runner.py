"""The optimize loop: one driver, one executor, until the budget is spent (used by Study.optimize).

Kept apart from ``study.py`` so that the Study holds the state and the ask/tell steps, and this
module the orchestration around them: the driver lock and its heartbeat, signals, timeouts,
retries, and the clean stop when the storage fails.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from hpsearch.exceptions import StorageError, StudyLockedError
from hpsearch.executors._base import Event, Executor, Failed, Finished, Reported, Stopped
from hpsearch.trial import Trial, TrialState, TrialsView

if TYPE_CHECKING:
    from hpsearch.study import Study

logger = logging.getLogger("hpsearch.study")

Callback = Callable[["Study", Trial], None]

#: seconds between heartbeats of the driver lock, and the age after which a lock is stale.
HEARTBEAT_INTERVAL = 5.0
LOCK_STALE_AFTER = 30.0
_INTERRUPTED = "interrupted"
_WORKER_LOST = "worker lost"
_TIMEOUT = "timeout"
_LOST_EVENT_GRACE = 10.0  # seconds to wait for the final event of a trial no longer running
#: lock owners of the optimize calls running in this process (a lock left behind by this
#: process, e.g. when the storage failed on release, is taken over at once).
_ACTIVE_OWNERS: set[str] = set()


def _locked_error(name: str, owner: str | None, beat: float | None,
                  now: float) -> StudyLockedError:
    age = f"{now - beat:.1f} s ago" if beat else "never"
    return StudyLockedError(
        f"Study {name!r} is being run by another driver ({owner}, last heartbeat {age}); wait "
        "for it to finish or stop it. A dead driver's lock is taken over at once on the same "
        f"host, after {LOCK_STALE_AFTER:.0f} s from another host.")


def check_not_running(storage: Any, study_id: int, name: str) -> None:
    """Raise StudyLockedError when a live driver holds the study's lock (checked before a run).

    Raises:
        StudyLockedError: the lock's heartbeat is fresh and its owner is not known to be dead.
    """
    owner, beat = storage.lock_info(study_id)
    now = time.time()
    if owner and beat is not None and now - beat < LOCK_STALE_AFTER \
            and not _owner_is_dead(owner):
        raise _locked_error(name, owner, beat, now)


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
    if int(pid_s) == os.getpid():  # this process: dead unless one of its optimize calls holds it
        return owner not in _ACTIVE_OWNERS
    try:
        os.kill(int(pid_s), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return _is_zombie(int(pid_s))


def _is_zombie(pid: int) -> bool:
    """Whether ``pid`` has exited but was not reaped by its parent yet (Linux; else False)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return False
    return state in ("Z", "X")


def _is_retryable(t: Trial, retry_timeouts: bool) -> bool:
    reason = t.reason or ""
    return t.state == TrialState.FAILED and (
        reason.startswith(_WORKER_LOST) or (retry_timeouts and reason == _TIMEOUT))


class _LockLost(Exception):
    """Internal: another driver took the study over while this one ran."""


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
        self._waiting = False  # inside executor.events(): a KeyboardInterrupt is safe there
        self._can_write = True  # False after a storage failure or a lost lock
        self._lock_lost = threading.Event()
        self._stop_beat = threading.Event()
        self._inline = type(executor).__name__ == "InlineExecutor"

    # signals ------------------------------------------------------------------------------
    def _on_signal(self, signum: int, _frame: Any) -> None:
        self._signals += 1
        name = signal.Signals(signum).name
        if self._signals == 1:
            logger.warning("%s: stopping. No new trials; waiting for %d running trial(s). "
                           "Press Ctrl-C again to stop them (they are re-run on resume).",
                           name, self.executor.n_running)
        else:
            logger.warning("%s again: stopping the running trials now.", name)
            if self._inline and self._waiting:
                # The objective may be running on this very thread: interrupt it.
                raise KeyboardInterrupt

    def _install_signals(self) -> dict[int, Any]:
        if threading.current_thread() is not threading.main_thread():
            return {}
        old: dict[int, Any] = {}
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
        if _owner_is_dead(owner) and st.acquire_lock(sid, self.owner, now=now, stale_after=-1.0):
            logger.warning("Took over the lock of study %r from dead driver %s.",
                           self.study.name, owner)
            return
        raise _locked_error(self.study.name, owner, beat, now)

    def _heartbeat(self) -> None:
        """Thread: refresh the lock every HEARTBEAT_INTERVAL s, even while a trial blocks."""
        st, sid = self.study.storage, self.study._study_id
        while not self._stop_beat.wait(HEARTBEAT_INTERVAL):
            try:
                if not st.heartbeat(sid, self.owner, now=time.time()):
                    self._lock_lost.set()
                    return
            except StorageError as e:
                logger.warning("Could not refresh the driver lock: %s", e)

    # loop ---------------------------------------------------------------------------------
    def run(self, *, catch_signals: bool) -> None:
        study = self.study
        self._lock()
        _ACTIVE_OWNERS.add(self.owner)
        beat = threading.Thread(target=self._heartbeat, name="hpsearch-heartbeat", daemon=True)
        beat.start()
        old_handlers: dict[int, Any] = {}
        try:
            study._reload()  # another process may have written since this Study was loaded
            if study._config_dirty:
                study.storage.update_study_config(study._study_id, study.config)
                study._config_dirty = False
            n = study._recover(self.max_retries, self.retry_timeouts)
            if n:
                logger.info("Re-running %d interrupted or failed trial(s) first.", n)
            self.executor.start(self.objective)  # workers start with the default handlers
            old_handlers = self._install_signals() if catch_signals else {}
            self._loop()
        except StorageError as e:
            self._can_write = False
            logger.warning("%s. Stopping: running trials are killed; committed trials are kept "
                           "and the study can be resumed.", e)
            raise
        except _LockLost:
            self._can_write = False
            raise StudyLockedError(
                f"Study {study.name!r}: another driver took over the lock while this one ran "
                "(its heartbeat could not be written); stopped without further writes.") from None
        finally:
            self._stop_beat.set()
            try:
                self._abandon_running()
            finally:
                for s, h in old_handlers.items():
                    signal.signal(s, h)
                beat.join(timeout=1.0)
                if not self._lock_lost.is_set():
                    try:
                        study.storage.release_lock(study._study_id, self.owner)
                    except StorageError as e:
                        logger.warning("Could not release the driver lock: %s", e)
                _ACTIVE_OWNERS.discard(self.owner)

    def _next(self) -> Trial | None:
        study = self.study
        full = self.n_trials is not None and (
            study.n_finished + len(self.started_at) >= self.n_trials)
        if study._pending_retries and not full:  # attempts of logical trials already counted
            return study._start_pending(study._pending_retries)
        if self.n_trials is not None and study._n_committed() >= self.n_trials:
            return None
        if study._pending:
            return study._start_pending(study._pending)
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
        idle_since: float | None = None
        while True:
            if self._lock_lost.is_set():
                raise _LockLost
            more = self._fill()
            # Done when nothing runs and every submitted trial's last event was handled (a
            # killed trial's Failed may still be queued: it can create a retry).
            if ex.n_running == 0 and not self.started_at and (
                    not more or self._signals or self._past_deadline()):
                if self._signals:
                    self.interrupted = True
                return
            if ex.n_running == 0 and self.started_at:  # the executor owes terminal events
                idle_since = idle_since or time.monotonic()
                if time.monotonic() - idle_since > _LOST_EVENT_GRACE:
                    self._fail_unaccounted()
                    idle_since = None
            else:
                idle_since = None
            wait = 0.5
            if self.deadline is not None:
                wait = max(0.0, min(wait, self.deadline - time.monotonic()))
            self._waiting = True
            try:
                events = ex.events(wait)
            finally:
                self._waiting = False
            for ev in events:
                self._handle(ev)
            now = time.monotonic()
            if self._signals >= 2 or self._past_deadline():
                reason = _INTERRUPTED + (": study timeout" if not self._signals else "")
                for number in list(self.started_at):
                    ex.kill(number, reason)
            elif self.trial_timeout is not None:
                for number, t0 in list(self.started_at.items()):
                    if now - t0 > self.trial_timeout:
                        ex.kill(number, _TIMEOUT)

    def _fail_unaccounted(self) -> None:
        """Record trials the executor no longer runs but never ended (an executor bug)."""
        for number in list(self.started_at):
            logger.warning("Trial %d: the executor dropped it without a result.", number)
            self._handle(Failed(number, f"{_WORKER_LOST}: no result from the executor"))

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
            root = n if t.retry_of is None else t.retry_of
            if (_is_retryable(t, self.retry_timeouts) and not self._signals
                    and study._retries_used(root, self.retry_timeouts) <= self.max_retries):
                study._retry(t)
        self._notify(study._trials[n])

    def _abandon_running(self) -> None:
        """Kill what still runs (an error, a second Ctrl-C) and record it interrupted.

        After a storage failure or a lost lock nothing more is written: the trials stay RUNNING
        in storage and the next driver records them interrupted.
        """
        ex = self.executor
        for number in list(self.started_at):
            ex.kill(number, _INTERRUPTED)
        if not self._can_write:
            self.started_at.clear()
            return
        deadline = time.monotonic() + 5.0
        while self.started_at and time.monotonic() < deadline:
            for ev in ex.events(0.1):
                if isinstance(ev, (Finished, Failed, Stopped)) and ev.number in self.started_at:
                    try:
                        self._handle(ev)
                    except StorageError:
                        self._can_write = False
                        self.started_at.clear()
                        return
        for number in list(self.started_at):
            if self.study._trials[number].state == TrialState.RUNNING:
                try:
                    self.study._finish(number, TrialState.FAILED, None, {}, _INTERRUPTED, None)
                except StorageError:
                    return
            self.started_at.pop(number, None)

    def _notify(self, t: Trial) -> None:
        for cb in self.callbacks:
            cb(self.study, t)

"""Run trials one at a time inside the driver process (for debugging)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Mapping
from typing import Any

from hpsearch.exceptions import ExecutorError, TrialStopped
from hpsearch.executors._base import Event, Executor, Failed, Finished, Reported, Started, Stopped
from hpsearch.executors._worker import ERROR, OK, Reporter, run_trial, wants_reporter

__all__ = ["InlineExecutor"]


class InlineExecutor(Executor):
    """Run each trial in the driver's own process, one at a time, on a helper thread.

    Nothing is pickled, so closures and unpicklable objects work, breakpoints and profilers see
    the objective, and the overhead is the lowest. An objective without a reporter runs on the
    driver's thread; one that reports runs on a helper thread, so that the driver's thread can
    commit each report and answer it. A trial cannot be killed: a
    ``kill`` (timeout, second Ctrl-C) records the trial FAILED at once and abandons its thread,
    whose later reports raise ``TrialStopped``. Use :class:`LocalExecutor` for isolation.
    """

    n_slots = 1

    def __init__(self) -> None:
        self._objective: Callable[..., Any] | None = None
        self._takes_reporter = False
        self._events: queue.SimpleQueue[Event] = queue.SimpleQueue()
        self._replies: dict[int, queue.SimpleQueue[bool]] = {}
        self._running: set[int] = set()
        self._abandoned: set[int] = set()
        self._tasks: queue.SimpleQueue[tuple[int, dict[str, Any], Any] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._direct: tuple[int, dict[str, Any]] | None = None

    def start(self, objective: Callable[..., Any]) -> None:  # noqa: D102
        if not callable(objective):
            raise ExecutorError(f"The objective must be callable. Got {type(objective).__name__}.")
        self._objective = objective
        self._takes_reporter = wants_reporter(objective)

    @property
    def n_running(self) -> int:  # noqa: D102
        return len(self._running)

    def submit(self, number: int, params: Mapping[str, Any]) -> None:  # noqa: D102
        if self._objective is None:
            raise ExecutorError("InlineExecutor.submit() before start(objective).")
        if self._running:
            raise ExecutorError("InlineExecutor runs one trial at a time; none is free.")
        self._running.add(number)
        if not self._takes_reporter:
            # No reports, so no decisions to wait for: run it on the driver's thread in events().
            self._direct = (number, dict(params))
            return
        replies: queue.SimpleQueue[bool] = queue.SimpleQueue()
        self._replies[number] = replies
        if self._thread is None or not self._thread.is_alive():
            # One long-lived thread runs trials in order; a killed (abandoned) trial's thread is
            # left to finish on its own and a fresh one takes over.
            self._tasks = queue.SimpleQueue()
            self._thread = threading.Thread(target=self._serve, args=(self._tasks,),
                                            name="hpsearch-inline", daemon=True)
            self._thread.start()
        self._tasks.put((number, dict(params), replies))

    def _serve(self, tasks: queue.SimpleQueue[tuple[int, dict[str, Any], Any] | None]) -> None:
        while True:
            task = tasks.get()
            if task is None:
                return
            self._run(*task)
            if task[0] in self._abandoned:
                return

    def _run(self, number: int, params: dict[str, Any],
             replies: queue.SimpleQueue[bool] | None) -> None:
        assert self._objective is not None  # noqa: S101 - internal invariant

        def send(budget: float, value: float, metrics: dict[str, Any]) -> bool:
            if number in self._abandoned:
                return True
            if replies is None:
                raise TrialStopped()  # unreachable: direct trials take no reporter
            self._events.put(Reported(number, budget, value, metrics))
            return replies.get()

        self._events.put(Started(number, f"thread {threading.get_ident()}"))
        kind, payload = run_trial(self._objective, params, Reporter(send), self._takes_reporter)
        if number in self._abandoned:
            return
        if kind == OK:
            self._events.put(Finished(number, payload))
        elif kind == ERROR:
            self._events.put(Failed(number, "exception", payload))
        else:
            self._events.put(Stopped(number))

    def events(self, timeout: float | None) -> list[Event]:  # noqa: D102
        if self._direct is not None:
            (number, params), self._direct = self._direct, None
            self._run(number, params, None)
        out: list[Event] = []
        try:
            out.append(self._events.get(timeout=timeout))
        except queue.Empty:
            return out
        while True:
            try:
                out.append(self._events.get_nowait())
            except queue.Empty:
                break
        for ev in out:
            if isinstance(ev, (Finished, Failed, Stopped)):
                self._running.discard(ev.number)
                self._replies.pop(ev.number, None)
        return out

    def send_decision(self, number: int, stop: bool) -> None:  # noqa: D102
        q = self._replies.get(number)
        if q is not None:
            q.put(stop)

    def kill(self, number: int, reason: str) -> None:  # noqa: D102
        if number not in self._running or number in self._abandoned:
            return
        self._abandoned.add(number)
        self._thread = None  # the next trial gets a fresh thread
        self.send_decision(number, True)
        self._running.discard(number)
        self._replies.pop(number, None)
        self._events.put(Failed(number, reason, None))

    def shutdown(self) -> None:  # noqa: D102
        for number in list(self._running):
            self.kill(number, "shutdown")
        if self._thread is not None:
            self._tasks.put(None)
            self._thread = None

"""Run trials in a pool of local worker processes that live across trials."""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from multiprocessing.connection import Connection, wait
from typing import Any

import cloudpickle

from hpsearch.exceptions import ExecutorError, InvalidParameterError
from hpsearch.executors._base import Event, Executor, Failed, Finished, Reported, Started, Stopped
from hpsearch.executors._worker import ERROR, OK, Reporter, run_trial, wants_reporter

__all__ = ["LocalExecutor"]

logger = logging.getLogger(__name__)

_SIGNAL_NAMES = {-s.value: s.name for s in signal.Signals}


def _exit_description(code: int | None) -> str:
    if code is None:
        return "worker lost"
    if code < 0:
        return f"worker lost: killed by {_SIGNAL_NAMES.get(code, f'signal {-code}')}"
    return f"worker lost: exit code {code}"


def _watch_parent(parent_pid: int) -> None:
    # A worker whose driver died (SIGKILL) must not linger: poll the parent pid.
    while True:
        time.sleep(1.0)
        if os.getppid() != parent_pid:
            os._exit(0)


def _worker_main(conn: Connection, parent_pid: int, env: Mapping[str, str]) -> None:
    """Loop of a worker process: receive ``run`` messages, run trials, send events back."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
    # A forked worker inherits the driver's Python SIGTERM handler (which only asks the driver to
    # stop): restore the default so that terminate() and the system can end a worker.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.environ.update(env)
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()
    objective: Callable[..., Any] | None = None
    takes_reporter = False
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        kind = msg[0]
        if kind == "exit":
            return
        if kind == "objective":
            try:
                objective = cloudpickle.loads(msg[1])
                takes_reporter = wants_reporter(objective)
                conn.send(("objective_ok",))
            except BaseException as e:  # noqa: BLE001
                conn.send(("objective_error", f"{type(e).__name__}: {e}"))
            continue
        if kind == "run":
            _, number, params = msg
            _run_one(conn, objective, takes_reporter, number, params)


def _run_one(conn: Connection, objective: Callable[..., Any] | None, takes_reporter: bool,
             number: int, params: dict[str, Any]) -> None:
    conn.send(("started", number, os.getpid()))

    def send(budget: float, value: float, metrics: dict[str, Any]) -> bool:
        conn.send(("report", number, budget, value, metrics))
        reply = conn.recv()
        return bool(reply[2])  # ("decision", number, stop)

    if objective is None:
        conn.send(("error", number, "no objective"))
        return
    kind, payload = run_trial(objective, params, Reporter(send), takes_reporter,
                                in_worker_process=True)
    try:
        if kind == OK:
            conn.send(("ok", number, payload))
        elif kind == ERROR:
            conn.send(("error", number, payload))
        else:
            conn.send(("stopped", number))
    except Exception as e:  # noqa: BLE001 - e.g. an unpicklable result
        conn.send(("error", number,
                   f"The objective's result could not be sent to the driver: "
                   f"{type(e).__name__}: {e}"))


def _subprocess_main() -> None:
    """Entry point of a worker started by ``subprocess`` (``start_method="subprocess"``)."""
    sys.path[:] = json.loads(os.environ.pop("HPSEARCH_WORKER_SYS_PATH"))
    fd = int(os.environ.pop("HPSEARCH_WORKER_FD"))
    parent = int(os.environ.pop("HPSEARCH_WORKER_PARENT"))
    _worker_main(Connection(fd), parent, {})


class _Subprocess:
    """A worker process started with ``subprocess`` rather than multiprocessing.

    Unlike multiprocessing's spawn, it does not import the user's main script again, so a script
    without a ``__main__`` guard works (the objective is shipped by cloudpickle, by value when it
    lives in ``__main__``). Offers the part of ``multiprocessing.Process`` that the executor uses.
    """

    def __init__(self, child: socket.socket, env: Mapping[str, str]) -> None:
        code = "from hpsearch.executors.local import _subprocess_main; _subprocess_main()"
        full_env = {**os.environ, **env, "HPSEARCH_WORKER_FD": str(child.fileno()),
                    "HPSEARCH_WORKER_PARENT": str(os.getpid()),
                    "HPSEARCH_WORKER_SYS_PATH": json.dumps(sys.path)}
        self._popen = subprocess.Popen(  # noqa: S603 - our own interpreter and code
            [sys.executable, "-c", code], env=full_env, pass_fds=(child.fileno(),),
            stdin=subprocess.DEVNULL)
        self.pid = self._popen.pid
        self.sentinel: int | None = None
        if hasattr(os, "pidfd_open"):  # Linux >= 5.3: readable when the process exits
            try:
                self.sentinel = os.pidfd_open(self.pid)
            except OSError:
                self.sentinel = None

    @property
    def exitcode(self) -> int | None:
        return self._popen.poll()

    def is_alive(self) -> bool:
        return self._popen.poll() is None

    def kill(self) -> None:
        if self.is_alive():
            self._popen.kill()

    def join(self, timeout: float | None = None) -> None:
        try:
            self._popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return
        if self.sentinel is not None:
            os.close(self.sentinel)
            self.sentinel = None


class _Worker:
    def __init__(self, ctx: Any, index: int, env: Mapping[str, str]) -> None:
        self.index = index
        self.process: Any
        if ctx is None:  # start_method="subprocess"
            a, b = socket.socketpair()
            self.conn = Connection(a.detach())
            try:
                self.process = _Subprocess(b, env)
            finally:
                b.close()
        else:
            self.conn, child = ctx.Pipe(duplex=True)
            self.process = ctx.Process(
                target=_worker_main, args=(child, os.getpid(), dict(env)),
                name=f"hpsearch-worker-{index}", daemon=True)
            self.process.start()
            child.close()
        self.number: int | None = None  # trial being run
        self.objective_version = -1


class LocalExecutor(Executor):
    """A pool of worker processes on this machine; the default executor.

    Each worker is a long-lived process (heavy imports such as torch are paid once per worker)
    connected to the driver by its own pipe, so the death of one worker (SIGKILL, segfault,
    ``os._exit``) fails only the trial it was running, and a fresh worker replaces it. Workers
    ignore SIGINT (the driver decides what Ctrl-C does) and exit when the driver dies.

    Args:
        n_workers: number of worker processes (concurrent trials); None: the number of cores.
        start_method: ``"subprocess"`` starts each worker as a fresh interpreter that does not
            re-import the main script (a script without an ``if __name__ == "__main__":`` guard
            works); or one of multiprocessing's ``"spawn"``, ``"forkserver"``, ``"fork"``.
        cpus_per_trial: CPU cores per trial; each worker's threads are capped with
            OMP/MKL/OPENBLAS_NUM_THREADS; ``n_workers`` defaults to ``cores // cpus_per_trial``.
        gpus_per_trial: 0 or 1; with 1, worker i sees exactly one GPU through
            CUDA_VISIBLE_DEVICES: the (i mod n_gpus)-th of the GPUs visible to the driver (its own
            CUDA_VISIBLE_DEVICES ids are kept), so with more workers than GPUs, workers share
            GPUs round-robin (a warning is logged); ``n_workers`` defaults to the number of GPUs.

    Raises:
        InvalidParameterError: ``n_workers < 1``, ``cpus_per_trial < 1``, an unknown start method.
    """

    def __init__(
        self,
        n_workers: int | None = None,
        *,
        start_method: str = "subprocess",
        cpus_per_trial: int = 1,
        gpus_per_trial: int = 0,
    ) -> None:
        methods = ["subprocess", *mp.get_all_start_methods()]
        if start_method not in methods:
            raise InvalidParameterError(
                f"The 'start_method' of LocalExecutor must be one of {methods}. "
                f"Got {start_method!r} instead.")
        if not isinstance(cpus_per_trial, int) or cpus_per_trial < 1:
            raise InvalidParameterError(
                "The 'cpus_per_trial' of LocalExecutor must be an int >= 1. "
                f"Got {cpus_per_trial!r}.")
        if gpus_per_trial not in (0, 1):
            raise InvalidParameterError(
                f"The 'gpus_per_trial' of LocalExecutor must be 0 or 1. Got {gpus_per_trial!r}.")
        self._gpu_ids = _visible_gpus() if gpus_per_trial else []
        n_gpus = len(self._gpu_ids)
        if gpus_per_trial and n_gpus == 0:
            raise InvalidParameterError("gpus_per_trial=1 but no GPU is visible on this machine.")
        if n_workers is None:
            n_cores = os.cpu_count() or 1
            n_workers = n_gpus if gpus_per_trial else max(1, n_cores // cpus_per_trial)
        if not isinstance(n_workers, int) or isinstance(n_workers, bool) or n_workers < 1:
            raise InvalidParameterError(
                "The 'n_workers' parameter of LocalExecutor must be an int >= 1. "
                f"Got {n_workers!r}.")
        if gpus_per_trial and n_workers > n_gpus:
            logger.warning("LocalExecutor: %d workers share %d GPU(s) round-robin, one GPU each.",
                           n_workers, n_gpus)
        self.n_slots = n_workers
        self.cpus_per_trial = cpus_per_trial
        self.gpus_per_trial = gpus_per_trial
        self.start_method = start_method
        self._ctx = None if start_method == "subprocess" else mp.get_context(start_method)
        self._workers: list[_Worker] = []
        self._objective_bytes: bytes | None = None
        self._objective_version = 0
        self._by_number: dict[int, _Worker] = {}
        self._pending_failures: list[Event] = []
        self._closed = False

    def _env_for(self, index: int) -> dict[str, str]:
        n = str(self.cpus_per_trial)
        env = {"OMP_NUM_THREADS": n, "MKL_NUM_THREADS": n, "OPENBLAS_NUM_THREADS": n}
        if self.gpus_per_trial:
            env["CUDA_VISIBLE_DEVICES"] = self._gpu_ids[index % len(self._gpu_ids)]
        return env

    def start(self, objective: Callable[..., Any]) -> None:  # noqa: D102
        if not callable(objective):
            raise ExecutorError(f"The objective must be callable. Got {type(objective).__name__}.")
        try:
            self._objective_bytes = cloudpickle.dumps(objective)
        except Exception as e:  # noqa: BLE001
            raise ExecutorError(
                f"The objective cannot be sent to worker processes: {type(e).__name__}: {e}. "
                "Use InlineExecutor for objectives that cannot be pickled.") from e
        self._objective_version += 1
        self._closed = False
        while len(self._workers) < self.n_slots:
            self._workers.append(self._spawn(len(self._workers)))
        for w in self._workers:
            self._send_objective(w)

    def _spawn(self, index: int) -> _Worker:
        try:
            return _Worker(self._ctx, index, self._env_for(index))
        except Exception as e:  # noqa: BLE001
            raise ExecutorError(f"Cannot start a worker process: {type(e).__name__}: {e}") from e

    def _send_objective(self, w: _Worker) -> None:
        if w.objective_version == self._objective_version:
            return
        w.conn.send(("objective", self._objective_bytes))
        try:
            reply = w.conn.recv()
        except (EOFError, OSError) as e:
            w.process.join(timeout=1)
            hint = ""
            if self.start_method in ("spawn", "forkserver"):
                hint = (" Worker processes import your main script again (multiprocessing "
                        f"{self.start_method!r}): put the code that creates and runs "
                        "the study under `if __name__ == \"__main__\":`.")
            raise ExecutorError(
                f"Worker {w.index} died while starting "
                f"({_exit_description(w.process.exitcode)}).{hint}") from e
        if reply[0] != "objective_ok":
            raise ExecutorError(f"A worker cannot load the objective: {reply[1]}")
        w.objective_version = self._objective_version

    @property
    def n_running(self) -> int:  # noqa: D102
        return len(self._by_number)

    def submit(self, number: int, params: Mapping[str, Any]) -> None:  # noqa: D102
        if self._objective_bytes is None:
            raise ExecutorError("LocalExecutor.submit() before start(objective).")
        idle = [w for w in self._workers if w.number is None]
        if not idle:
            raise ExecutorError("LocalExecutor.submit(): every worker is busy.")
        w = idle[0]
        w.number = number
        self._by_number[number] = w
        try:
            w.conn.send(("run", number, dict(params)))
        except (OSError, EOFError):
            self._replace(w, _exit_description(w.process.exitcode))

    def _replace(self, w: _Worker, reason: str) -> None:
        """Record the loss of ``w`` (failing its trial) and start a replacement."""
        if w.number is not None:
            self._pending_failures.append(Failed(w.number, reason, None))
            self._by_number.pop(w.number, None)
        try:
            w.conn.close()
        except OSError:
            pass
        if w.process.is_alive():
            w.process.kill()
        w.process.join(timeout=5)
        i = self._workers.index(w)
        if self._closed:
            self._workers.pop(i)
            return
        nw = self._spawn(w.index)
        self._workers[i] = nw
        self._send_objective(nw)

    def events(self, timeout: float | None) -> list[Event]:  # noqa: D102
        if self._pending_failures:
            failures, self._pending_failures = self._pending_failures, []
            return failures
        busy = [w for w in self._workers if w.number is not None]
        if not busy:
            if timeout:
                time.sleep(min(timeout, 0.05))
            return []
        handles: dict[Any, _Worker] = {}
        for w in busy:
            handles[w.conn] = w
            if w.process.sentinel is not None:
                handles[w.process.sentinel] = w
        ready = wait(list(handles), timeout)
        out: list[Event] = []
        seen: set[int] = set()
        for h in ready:
            w = handles[h]
            if id(w) in seen:
                continue
            seen.add(id(w))
            out.extend(self._drain(w))
        out.extend(self._pending_failures)
        self._pending_failures = []
        return out

    def _drain(self, w: _Worker) -> list[Event]:
        out: list[Event] = []
        while w.number is not None:
            try:
                if not w.conn.poll():
                    if not w.process.is_alive():
                        raise EOFError
                    break
                msg = w.conn.recv()
            except (EOFError, OSError):
                w.process.join(timeout=1)
                self._replace(w, _exit_description(w.process.exitcode))
                break
            ev = self._to_event(w, msg)
            if ev is not None:
                out.append(ev)
        return out

    def _to_event(self, w: _Worker, msg: tuple[Any, ...]) -> Event | None:
        kind, number = msg[0], msg[1]
        if kind == "started":
            return Started(number, f"pid {msg[2]}")
        if kind == "report":
            return Reported(number, msg[2], msg[3], msg[4])
        w.number = None
        self._by_number.pop(number, None)
        if kind == "ok":
            return Finished(number, msg[2])
        if kind == "error":
            return Failed(number, "exception", msg[2])
        if kind == "stopped":
            return Stopped(number)
        logger.warning("Unknown message from worker %d: %r", w.index, kind)
        return None

    def send_decision(self, number: int, stop: bool) -> None:  # noqa: D102
        w = self._by_number.get(number)
        if w is None:
            return
        try:
            w.conn.send(("decision", number, stop))
        except (OSError, EOFError):
            pass  # the sentinel will report the death

    def kill(self, number: int, reason: str) -> None:  # noqa: D102
        w = self._by_number.get(number)
        if w is None:
            return
        w.process.kill()
        self._replace(w, reason)

    def shutdown(self) -> None:  # noqa: D102
        self._closed = True
        for w in self._workers:
            try:
                if w.number is None:
                    w.conn.send(("exit",))
            except (OSError, EOFError):
                pass
        deadline = time.monotonic() + 2.0
        for w in self._workers:
            if w.number is not None:
                w.process.kill()
            w.process.join(timeout=max(0.0, deadline - time.monotonic()))
            if w.process.is_alive():
                w.process.kill()
                w.process.join(timeout=2)
            try:
                w.conn.close()
            except OSError:
                pass
        self._workers = []
        self._by_number.clear()
        self._pending_failures = []


def _visible_gpus() -> list[str]:
    """Return the GPU ids the driver sees: its CUDA_VISIBLE_DEVICES entries, else 0..n-1."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        ids = []
        for x in (x.strip() for x in visible.split(",")):
            if not x or x == "-1":  # CUDA ignores every id after an invalid one
                break
            ids.append(x)
        return ids
    try:
        import torch  # noqa: PLC0415

        return [str(i) for i in range(int(torch.cuda.device_count()))]
    except Exception:  # noqa: BLE001
        return []


def _count_gpus() -> int:
    return len(_visible_gpus())

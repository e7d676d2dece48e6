"""Run trials on a Ray cluster: one long-lived actor per slot, reports through a hub actor.

Each slot is a Ray actor that holds ``resources_per_trial`` for its whole life and runs trials one
after another, so heavy imports (torch) and the objective are loaded once per actor, not once per
trial. Reports travel through one async *hub* actor placed on the driver's node: a worker's
``reporter.report`` calls ``hub.report``, which returns only when the driver has committed the
report and answered with :meth:`RayExecutor.send_decision`; reports are therefore synchronous,
as the Executor contract asks. Ray never retries anything (``max_restarts=0``,
``max_task_retries=0``): a worker or node lost mid-trial ends the trial as
``Failed("worker lost: ...")`` and the Study decides on retries (``max_retries``).
"""

from __future__ import annotations

import logging
import math
import os
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from hpsearch.exceptions import ExecutorError, InvalidParameterError, MissingDependencyError
from hpsearch.executors._base import Event, Executor, Failed, Finished, Started, Stopped
from hpsearch.executors._remote import dumps_objective

__all__ = ["RayExecutor"]

logger = logging.getLogger(__name__)

#: Environment variables Ray needs on this kind of machine (see the README, "Scaling out"):
#: without the first Ray may advertise an external address the driver cannot reach and hang;
#: without the second an existing ``~/.ray/auth_token`` turns token authentication on.
RAY_ENV_DEFAULTS = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "disabled"}

#: seconds a hub long-poll waits on the hub's side before returning empty.
_POLL_SECONDS = 1.0


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as e:
        raise MissingDependencyError(
            "RayExecutor needs Ray, which is not installed: pip install 'hpsearch[ray]'.") from e
    return ray


class _Hub:
    """Driver-side mailbox (an async Ray actor): events from workers, decisions back to them."""

    def __init__(self) -> None:
        import asyncio

        self._events: list[tuple[Any, ...]] = []
        self._wakeup = asyncio.Event()
        self._decisions: dict[str, Any] = {}  # run key -> future of the decision

    async def report(self, key: str, number: int, budget: float, value: float,
                     metrics: dict[str, Any]) -> bool:
        import asyncio

        fut: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._decisions[key] = fut
        self._events.append((key, number, budget, value, metrics))
        self._wakeup.set()
        return await fut

    async def decide(self, key: str, stop: bool) -> None:
        fut = self._decisions.pop(key, None)
        if fut is not None and not fut.done():
            fut.set_result(stop)

    async def poll(self, timeout: float) -> list[tuple[Any, ...]]:
        import asyncio

        if not self._events:
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), timeout)
            except TimeoutError:
                pass
        out, self._events = self._events, []
        return out

    async def ping(self) -> bool:
        return True


class _Worker:
    """One slot: a Ray actor that loads the objective once and runs trials in turn."""

    def __init__(self, hub: Any) -> None:
        self._hub = hub
        self._objective: Callable[..., Any] | None = None
        self._takes_reporter = False

    def info(self) -> tuple[int, str]:
        import ray

        return os.getpid(), str(ray.util.get_node_ip_address())  # type: ignore[no-untyped-call]

    def load(self, blob: bytes) -> str | None:
        from hpsearch.executors._remote import loads_objective
        from hpsearch.executors._worker import wants_reporter

        try:
            self._objective = loads_objective(blob)
            self._takes_reporter = wants_reporter(self._objective)
        except BaseException as e:  # noqa: BLE001 - reported to the driver
            self._objective = None
            return f"{type(e).__name__}: {e}"
        return None

    def run(self, key: str, number: int, params: dict[str, Any]) -> tuple[str, Any]:
        import cloudpickle
        import ray

        from hpsearch.executors._worker import ERROR, Reporter, run_trial

        if self._objective is None:
            return ERROR, "The objective could not be loaded on this worker."
        hub = self._hub

        def send(budget: float, value: float, metrics: dict[str, Any]) -> bool:
            return bool(ray.get(hub.report.remote(key, number, budget, value, metrics)))

        kind, payload = run_trial(self._objective, params, Reporter(send), self._takes_reporter,
                                  in_worker_process=True)
        try:
            cloudpickle.dumps(payload)
        except Exception as e:  # noqa: BLE001
            return ERROR, (f"The objective's result could not be sent to the driver: "
                           f"{type(e).__name__}: {e}")
        return kind, payload


def _check_resources(resources: Any) -> dict[str, float]:
    if not isinstance(resources, Mapping) or not resources:
        raise InvalidParameterError(
            "The 'resources_per_trial' parameter of RayExecutor must be a non-empty mapping such "
            f"as {{'cpu': 1, 'gpu': 0}}. Got {resources!r} instead.")
    out: dict[str, float] = {}
    for k, v in resources.items():
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0
        if not isinstance(k, str) or not ok:
            raise InvalidParameterError(
                "The 'resources_per_trial' of RayExecutor must map resource names to numbers "
                f">= 0. Got {k!r}: {v!r} instead.")
        out[k] = float(v)
    if not any(out.values()):
        raise InvalidParameterError(
            "The 'resources_per_trial' of RayExecutor must ask for some resource (e.g. "
            f"{{'cpu': 1}}), else the number of slots is unbounded. Got {resources!r} instead.")
    return out


def slots_from_resources(total: Mapping[str, float], per_trial: Mapping[str, float]) -> int:
    """How many trials fit at once: ``min over r of floor(total[r] / per_trial[r])``.

    Args:
        total: the cluster's resources (``ray.cluster_resources()``: ``CPU``, ``GPU``, custom).
        per_trial: resources per trial with lower-case ``cpu`` / ``gpu`` or Ray's own names.

    """
    n = None
    for name, need in per_trial.items():
        if need <= 0:
            continue
        key = {"cpu": "CPU", "gpu": "GPU"}.get(name, name)
        fit = int(math.floor(total.get(key, 0.0) / need + 1e-9))
        n = fit if n is None else min(n, fit)
    return n or 0


class RayExecutor(Executor):
    """Run trials on a Ray cluster, one long-lived actor per concurrent trial.

    Connects to a running cluster (``address="HEAD:6379"`` or ``"auto"``), or uses the Ray
    instance this process already initialized, or starts a local one (and shuts down only what it
    started). Each slot is an actor holding ``resources_per_trial``; the objective is shipped once
    per actor (cloudpickle; modules that are not installed packages, such as a file loaded by
    path, are shipped by value). Reports are synchronous through a hub actor on the driver's node
    (about 5 ms per report and decision, see BENCHMARKS.md). A worker or node lost mid-trial gives
    ``Failed("worker lost: ...")``; Ray itself never retries, the Study does (``max_retries``).
    :meth:`kill` kills the trial's actor and starts a fresh one. Workers never open the database.

    Set ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` and ``RAY_AUTH_MODE=disabled`` (or the same auth
    mode as the cluster) for the head and the driver; the executor sets them for the driver
    when they are unset.

    Args:
        address: the cluster's ``host:port`` (or ``"auto"``); None: the running Ray of this
            process, else ``RAY_ADDRESS`` when set (as ``ray.init`` reads it), else a new local
            Ray instance.
        resources_per_trial: resources of one trial: ``cpu`` and ``gpu`` (fractions allowed) and
            any custom resource the nodes declare.
        n_slots: concurrent trials; None: as many as the cluster's resources fit
            (``min_r floor(total_r / per_trial_r)``), computed at :meth:`start`.
        ray_init_kwargs: extra arguments of ``ray.init`` (e.g. ``{"num_cpus": 8}`` for a local
            cluster with 8 logical CPUs).

    Raises:
        InvalidParameterError: bad resources or ``n_slots < 1``.
        MissingDependencyError: Ray is not installed (``pip install 'hpsearch[ray]'``).

    """

    def __init__(
        self,
        address: str | None = None,
        *,
        resources_per_trial: Mapping[str, float] | None = None,
        n_slots: int | None = None,
        ray_init_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        if address is not None and (not isinstance(address, str) or not address.strip()):
            raise InvalidParameterError(
                f"The 'address' parameter of RayExecutor must be 'host:port', 'auto' or None. "
                f"Got {address!r} instead.")
        per_trial = _check_resources(
            {"cpu": 1, "gpu": 0} if resources_per_trial is None else resources_per_trial)
        if n_slots is not None and (not isinstance(n_slots, int) or isinstance(n_slots, bool)
                                    or n_slots < 1):
            raise InvalidParameterError(
                f"The 'n_slots' parameter of RayExecutor must be an int >= 1. Got {n_slots!r} "
                "instead.")
        self._ray = _import_ray()
        self.address = address
        self.resources_per_trial = per_trial
        self._n_slots_arg = n_slots
        self.n_slots = n_slots or 0
        self._init_kwargs = dict(ray_init_kwargs or {})
        self._started_ray = False
        self._hub: Any = None
        self._poll_ref: Any = None
        self._idle: list[Any] = []
        self._actors: list[Any] = []
        self._worker_names: dict[Any, str] = {}
        self._info_refs: dict[Any, Any] = {}
        self._running: dict[Any, tuple[int, Any]] = {}  # run ref -> (number, actor)
        self._by_number: dict[int, Any] = {}  # number -> run ref
        self._keys: dict[int, str] = {}  # number -> unique key of this run of the trial
        self._pending: list[Event] = []
        self._blob_ref: Any = None

    # -- cluster ---------------------------------------------------------------------------
    def _connect(self) -> None:
        ray = self._ray
        if ray.is_initialized():
            return
        for k, v in RAY_ENV_DEFAULTS.items():
            os.environ.setdefault(k, v)
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": True,
                                  "configure_logging": False}
        kwargs.update(self._init_kwargs)
        try:
            ray.init(address=self.address, **kwargs)
        except Exception as e:  # noqa: BLE001
            where = self.address or "a local Ray instance"
            raise ExecutorError(
                f"Cannot connect RayExecutor to {where}: {type(e).__name__}: "
                f"{str(e).strip().splitlines()[0] if str(e).strip() else ''}") from e
        self._started_ray = True

    def _actor_options(self) -> dict[str, Any]:
        res = dict(self.resources_per_trial)
        opts: dict[str, Any] = {"num_cpus": res.pop("cpu", 0.0), "num_gpus": res.pop("gpu", 0.0),
                                "max_restarts": 0, "max_task_retries": 0}
        if res:
            opts["resources"] = res
        return opts

    def _spawn(self) -> Any:
        actor = self._ray.remote(_Worker).options(**self._actor_options()).remote(self._hub)
        self._actors.append(actor)
        self._worker_names[actor] = "ray actor"
        return actor

    def _replacement(self) -> Any:
        """Start a fresh actor for a lost or killed one; its load is ordered before any run."""
        actor = self._spawn()
        actor.load.remote(self._blob_ref)
        self._info_refs[actor] = actor.info.remote()  # its name, read when ready
        return actor

    def start(self, objective: Callable[..., Any]) -> None:  # noqa: D102
        if not callable(objective):
            raise ExecutorError(f"The objective must be callable. Got {type(objective).__name__}.")
        try:
            blob = dumps_objective(objective)
        except Exception as e:  # noqa: BLE001
            raise ExecutorError(
                f"The objective cannot be sent to Ray workers: {type(e).__name__}: {e}. "
                "Use InlineExecutor for objectives that cannot be pickled.") from e
        self._connect()
        ray = self._ray
        if self._hub is None:
            node = ray.get_runtime_context().get_node_id()
            affinity = ray.util.scheduling_strategies.NodeAffinitySchedulingStrategy
            # hard: with soft affinity Ray sometimes placed it on another node (measured)
            strategy = affinity(node, soft=False)
            self._hub = ray.remote(_Hub).options(
                num_cpus=0, max_restarts=0, max_task_retries=0, max_concurrency=10_000,
                scheduling_strategy=strategy).remote()
        if self._n_slots_arg is None:
            self.n_slots = slots_from_resources(ray.cluster_resources(), self.resources_per_trial)
            if self.n_slots < 1:
                raise ExecutorError(
                    f"The Ray cluster's resources {ray.cluster_resources()} do not fit one trial "
                    f"of {self.resources_per_trial}.")
        self._blob_ref = ray.put(blob)
        while len(self._actors) < self.n_slots:
            self._idle.append(self._spawn())
        errors = [e for e in ray.get([a.load.remote(self._blob_ref) for a in self._actors]) if e]
        if errors:
            raise ExecutorError(f"A Ray worker cannot load the objective: {errors[0]}")
        infos = ray.get([a.info.remote() for a in self._actors])
        for a, (pid, ip) in zip(self._actors, infos, strict=True):
            self._worker_names[a] = f"pid {pid} on {ip}"

    # -- trials ----------------------------------------------------------------------------
    @property
    def n_running(self) -> int:  # noqa: D102
        return len(self._by_number)

    def submit(self, number: int, params: Mapping[str, Any]) -> None:  # noqa: D102
        if self._blob_ref is None:
            raise ExecutorError("RayExecutor.submit() before start(objective).")
        if not self._idle:
            raise ExecutorError("RayExecutor.submit(): every slot is busy.")
        actor = self._idle.pop()
        self._read_name(actor)
        key = self._keys[number] = f"{number}-{uuid.uuid4().hex}"
        ref = actor.run.remote(key, number, dict(params))
        self._running[ref] = (number, actor)
        self._by_number[number] = ref
        self._pending.append(Started(number, self._worker_names.get(actor, "ray actor")))

    def _read_name(self, actor: Any, timeout: float = 0.0) -> None:
        info = self._info_refs.get(actor)
        if info is None:
            return
        ready, _ = self._ray.wait([info], timeout=timeout)
        if ready:
            del self._info_refs[actor]
            try:
                pid, ip = self._ray.get(info)
                self._worker_names[actor] = f"pid {pid} on {ip}"
            except self._ray.exceptions.RayError:
                pass

    def events(self, timeout: float | None) -> list[Event]:  # noqa: D102
        ray = self._ray
        out, self._pending = self._pending, []
        if self._hub is None:
            return out
        if self._poll_ref is None:
            self._poll_ref = self._hub.poll.remote(_POLL_SECONDS)
        refs = [self._poll_ref, *self._running]
        wait = 0.0 if out else timeout
        ready, _ = ray.wait(refs, num_returns=1, timeout=wait)
        if ready:  # take everything else that is ready too
            ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
        finished = [r for r in ready if r is not self._poll_ref]
        if self._poll_ref in ready:
            out.extend(self._take_reports())
        for ref in finished:
            ev = self._finish(ref)
            if ev is not None:
                out.append(ev)
        out.extend(self._pending)
        self._pending = []
        return out

    def _take_reports(self) -> list[Event]:
        from hpsearch.executors._base import Reported

        ray = self._ray
        try:
            items = ray.get(self._poll_ref)
        except ray.exceptions.RayError as e:
            raise ExecutorError(f"RayExecutor lost its hub actor: {type(e).__name__}") from e
        self._poll_ref = self._hub.poll.remote(_POLL_SECONDS)
        # a late report of a killed run never reaches a later run of the same number
        return [Reported(n, b, v, m) for (k, n, b, v, m) in items if self._keys.get(n) == k]

    def _finish(self, ref: Any) -> Event | None:
        ray = self._ray
        number, actor = self._running.pop(ref)
        if self._by_number.get(number) is not ref:
            return None  # killed: its Failed was emitted by kill()
        del self._by_number[number]
        self._keys.pop(number, None)
        try:
            kind, payload = ray.get(ref)
        except ray.exceptions.RayError as e:
            name = self._worker_names.get(actor, "ray actor")
            self._drop(actor)
            self._idle.append(self._replacement())
            return Failed(number, f"worker lost: {type(e).__name__} ({name})", str(e))
        self._idle.append(actor)
        if kind == "ok":
            return Finished(number, payload)
        if kind == "error":
            return Failed(number, "exception", payload)
        return Stopped(number)

    def _drop(self, actor: Any) -> None:
        if actor in self._actors:
            self._actors.remove(actor)
        self._worker_names.pop(actor, None)
        self._info_refs.pop(actor, None)
        try:
            self._ray.kill(actor, no_restart=True)
        except Exception:  # noqa: BLE001 - already dead
            pass

    def send_decision(self, number: int, stop: bool) -> None:  # noqa: D102
        key = self._keys.get(number)
        if self._hub is not None and key is not None:
            self._hub.decide.remote(key, stop)

    def kill(self, number: int, reason: str) -> None:  # noqa: D102
        ref = self._by_number.pop(number, None)
        if ref is None:
            return
        _, actor = self._running.pop(ref)
        self._drop(actor)
        self._hub.decide.remote(self._keys.pop(number), True)
        if self._blob_ref is not None:
            self._idle.append(self._replacement())
        self._pending.append(Failed(number, reason, None))

    def shutdown(self) -> None:  # noqa: D102
        ray = self._ray
        for actor in list(self._actors):
            self._drop(actor)
        if self._hub is not None:
            try:
                ray.kill(self._hub, no_restart=True)
            except Exception:  # noqa: BLE001
                pass
        self._actors, self._idle = [], []
        self._running.clear()
        self._by_number.clear()
        self._keys.clear()
        self._pending = []
        self._hub = self._poll_ref = self._blob_ref = None
        if self._started_ray and ray.is_initialized():
            ray.shutdown()
        self._started_ray = False

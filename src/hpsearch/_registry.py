"""Resolve searcher / scheduler / executor specs given as names or dicts (YAML, CLI, stored config).

A spec is an object (returned as is), a name (``"asha"``), or a one-key mapping
``{"asha": {"min_budget": 1}}``; for schedulers a list of specs, or a mapping with several keys,
composes them. Unknown names fail with a suggestion.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from hpsearch.exceptions import InvalidParameterError

__all__ = [
    "executor_class",
    "register_executor",
    "register_scheduler",
    "register_searcher",
    "resolve_executor",
    "resolve_scheduler",
    "resolve_searcher",
]

# name -> "module:Class" (imported lazily so optional dependencies stay optional)
SEARCHERS: dict[str, str] = {
    "random": "hpsearch.searchers.random:RandomSearcher",
    "grid": "hpsearch.searchers.grid:GridSearcher",
    "sobol": "hpsearch.searchers.sobol:SobolSearcher",
    "tpe": "hpsearch.searchers.tpe:TPESearcher",
    "auto": "hpsearch.searchers.auto:AutoSearcher",
    "gp": "hpsearch.searchers.gp:GPSearcher",
    "cmaes": "hpsearch.searchers.cmaes:CMAESSearcher",
}
SCHEDULERS: dict[str, str] = {
    "fifo": "hpsearch.schedulers.fifo:FIFOScheduler",
    "divergence": "hpsearch.schedulers.divergence:DivergenceScheduler",
    "median": "hpsearch.schedulers.median:MedianStoppingScheduler",
    "asha": "hpsearch.schedulers.asha:ASHAScheduler",
    "hyperband": "hpsearch.schedulers.hyperband:HyperbandScheduler",
}
EXECUTORS: dict[str, str] = {
    "local": "hpsearch.executors.local:LocalExecutor",
    "inline": "hpsearch.executors.inline:InlineExecutor",
    "ray": "hpsearch.executors.ray:RayExecutor",
    "dask": "hpsearch.executors.dask:DaskExecutor",
}


def register_searcher(name: str, target: str) -> None:
    """Register a searcher class by ``"module:Class"`` under ``name`` (for YAML and CLI)."""
    SEARCHERS[name] = target


def register_scheduler(name: str, target: str) -> None:
    """Register a scheduler class by ``"module:Class"`` under ``name`` (for YAML and CLI)."""
    SCHEDULERS[name] = target


def register_executor(name: str, target: str) -> None:
    """Register an executor class by ``"module:Class"`` under ``name`` (for YAML and CLI)."""
    EXECUTORS[name] = target


def _load(target: str) -> Any:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def _unknown(kind: str, name: object, names: Sequence[str]) -> InvalidParameterError:
    hint = difflib.get_close_matches(str(name), names, n=1)
    tip = f" Did you mean {hint[0]!r}?" if hint else ""
    return InvalidParameterError(
        f"Unknown {kind} {name!r}.{tip} Choose one of {sorted(names)}."
    )


def _build(kind: str, table: Mapping[str, str], name: str, args: Any,
           seed: int | None) -> Any:
    if name not in table:
        raise _unknown(kind, name, list(table))
    cls = _load(table[name])
    if args is None:
        args = {}
    if not isinstance(args, Mapping):
        raise InvalidParameterError(
            f"The arguments of {kind} {name!r} must be a mapping. Got {args!r}.")
    kwargs = {k: v for k, v in args.items()}
    if seed is not None and "seed" not in kwargs and _takes_seed(cls):
        kwargs["seed"] = seed
    try:
        return cls(**kwargs)
    except TypeError as e:
        raise InvalidParameterError(f"Bad arguments for {kind} {name!r}: {e}.") from None


def _takes_seed(cls: Callable[..., Any]) -> bool:
    import inspect

    try:
        return "seed" in inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return False


def _split(kind: str, spec: Any) -> list[tuple[str, Any]]:
    if isinstance(spec, str):
        return [(spec, None)]
    if isinstance(spec, Mapping):
        return [(str(k), v) for k, v in spec.items()]
    raise InvalidParameterError(
        f"A {kind} must be a name, a mapping {{name: {{args}}}} or an object. Got {spec!r}.")


def resolve_searcher(spec: Any, *, seed: int | None = None) -> Any:
    """A Searcher from an object, a name or ``{name: {args}}``; ``seed`` fills a missing seed.

    Raises:
        InvalidParameterError: unknown name (with a suggestion) or bad arguments.
    """
    from hpsearch.searchers._base import Searcher

    # "auto" is the default; "random" stays the explicit baseline
    return _resolve_one("searcher", SEARCHERS, Searcher, "auto" if spec is None else spec, seed)


def _resolve_one(kind: str, table: Mapping[str, str], base: type, spec: Any,
                 seed: int | None) -> Any:
    """An instance of ``base`` as is, or one built from a name or a one-key mapping."""
    if isinstance(spec, base):
        return spec
    parts = _split(kind, spec)
    if len(parts) != 1:
        raise InvalidParameterError(f"Give exactly one {kind}. Got {[p[0] for p in parts]}.")
    return _build(kind, table, parts[0][0], parts[0][1], seed)


def resolve_scheduler(spec: Any, *, seed: int | None = None) -> Any:
    """A Scheduler from an object, a name, ``{name: {args}}``, several keys, or a list (composed).

    Raises:
        InvalidParameterError: unknown name (with a suggestion) or bad arguments.
    """
    from hpsearch.schedulers._base import Scheduler
    from hpsearch.schedulers.composite import CompositeScheduler
    from hpsearch.schedulers.fifo import FIFOScheduler

    if spec is None:
        return FIFOScheduler()
    if isinstance(spec, Scheduler):
        return spec
    items: list[Any] = list(spec) if isinstance(spec, (list, tuple)) else [spec]
    built: list[Any] = []
    for item in items:
        if isinstance(item, Scheduler):
            built.append(item)
            continue
        for name, args in _split("scheduler", item):
            built.append(_build("scheduler", SCHEDULERS, name, args, seed))
    if not built:
        return FIFOScheduler()
    return built[0] if len(built) == 1 else CompositeScheduler(built)


def executor_class(name: str) -> Any:
    """Import and return the executor class registered under ``name``.

    Raises:
        InvalidParameterError: unknown name (with a suggestion).
    """
    if name not in EXECUTORS:
        raise _unknown("executor", name, list(EXECUTORS))
    return _load(EXECUTORS[name])


def resolve_executor(spec: Any) -> Any:
    """Build an Executor from an object, a name (``"local"``) or ``{name: {args}}`` (None: local).

    Raises:
        InvalidParameterError: unknown name (with a suggestion) or bad arguments.
        MissingDependencyError: the executor needs an extra that is not installed.
    """
    from hpsearch.executors._base import Executor

    return _resolve_one("executor", EXECUTORS, Executor, "local" if spec is None else spec, None)

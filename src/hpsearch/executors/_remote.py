"""Shipping an objective to workers on other machines (Ray, Dask).

A remote worker imports installed packages by name, but not a module loaded from a file path
(``hpsearch run --objective examples/cnn_digits/train.py:objective``) nor a script's own
modules. :func:`dumps_objective` therefore pickles, with cloudpickle, the objective's own
modules by value when they do not belong to an installed distribution or the standard library
(``cloudpickle.register_pickle_by_value``), including ``functools.lru_cache``-wrapped functions of
those modules, which plain pickle would look up by name.
"""

from __future__ import annotations

import functools
import importlib.metadata
import io
import sys
import types
from collections.abc import Callable, Iterator
from typing import Any

import cloudpickle

__all__ = ["dumps_objective", "is_installed_module", "loads_objective"]


@functools.lru_cache(maxsize=1)
def _distribution_tops() -> frozenset[str]:
    return frozenset(importlib.metadata.packages_distributions())


def is_installed_module(name: str) -> bool:
    """Whether module ``name`` belongs to the standard library or an installed distribution."""
    top = name.partition(".")[0]
    if top in sys.builtin_module_names or top in sys.stdlib_module_names:
        return True
    return top in _distribution_tops()


def _candidate_modules(objective: Any) -> Iterator[str]:
    seen: set[int] = set()
    stack = [objective]
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        for owner in (obj, type(obj)):
            name = getattr(owner, "__module__", None)
            if isinstance(name, str):
                yield name
        for attr in ("func", "__wrapped__", "__func__"):  # partial, decorators, bound methods
            inner = getattr(obj, attr, None)
            if inner is not None:
                stack.append(inner)


def _by_value_modules(objective: Any) -> list[types.ModuleType]:
    out = []
    for name in set(_candidate_modules(objective)):
        if name in ("__main__", "builtins") or is_installed_module(name):
            continue
        module = sys.modules.get(name)
        if module is not None:
            out.append(module)
    return out


def _rebuild_lru_cache(fn: Callable[..., Any], maxsize: int | None, typed: bool) -> Any:
    return functools.lru_cache(maxsize=maxsize, typed=typed)(fn)


class _Pickler(cloudpickle.Pickler):  # type: ignore[misc]
    """cloudpickle, plus lru_cache wrappers of by-value modules rebuilt around their function."""

    def __init__(self, file: io.BytesIO, by_value: set[str]) -> None:
        super().__init__(file)
        self._by_value = by_value

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, functools._lru_cache_wrapper) and (
                getattr(obj, "__module__", None) in self._by_value):
            params = obj.cache_parameters()
            return _rebuild_lru_cache, (obj.__wrapped__, params["maxsize"], params["typed"])
        return super().reducer_override(obj)


def dumps_objective(objective: Callable[..., Any]) -> bytes:
    """Pickle ``objective`` so that a worker without its source files can load it.

    Returns:
        The cloudpickle bytes; load them with :func:`loads_objective`.

    Raises:
        Exception: whatever cloudpickle raises for an unpicklable objective (the caller wraps it
            in an ExecutorError).

    """
    modules = _by_value_modules(objective)
    registered = []
    for m in modules:
        # a module the caller registered (hpsearch._objective) stays registered afterwards
        if m.__name__ not in cloudpickle.list_registry_pickle_by_value():
            cloudpickle.register_pickle_by_value(m)
            registered.append(m)
    try:
        buf = io.BytesIO()
        _Pickler(buf, {m.__name__ for m in modules}).dump(objective)
        return buf.getvalue()
    finally:
        for m in registered:
            cloudpickle.unregister_pickle_by_value(m)


def loads_objective(data: bytes) -> Callable[..., Any]:
    """Load an objective pickled by :func:`dumps_objective`."""
    obj: Callable[..., Any] = cloudpickle.loads(data)
    return obj

"""Load the objective a YAML study file names: ``"module:function"`` or ``"file.py:function"``.

A file is imported under its stem with its folder put first on ``sys.path``, so that worker
processes started with ``spawn`` (which inherit the driver's ``sys.path``) and cloudpickle (which
pickles functions of importable modules by reference) find it under the same name. When the stem
is already taken by another module, the file is imported under a unique name and registered with
``cloudpickle.register_pickle_by_value`` so that workers receive its code instead.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from hpsearch.exceptions import ConfigError

__all__ = ["load_objective"]

_FORMS = "'package.module:function' or 'path/to/file.py:function'"


def _error(msg: str) -> ConfigError:
    return ConfigError(f"objective: {msg}")


def load_objective(ref: str, base_dir: Path | str | None = None) -> Callable[..., Any]:
    """Import the objective function named by ``ref``.

    Args:
        ref: ``"package.module:function"`` (importable module; if it is not importable, a
            module of that name in ``base_dir`` is tried) or ``"path/to/file.py:function"``.
        base_dir: the folder relative file paths are resolved from (the YAML file's folder);
            None means the current directory.

    Returns:
        The callable ``objective(params[, reporter])``.

    Raises:
        ConfigError: a malformed reference, a missing file or module, an error while importing
            it (syntax error, failed import inside it), a missing attribute or a non-callable;
            the one-line message starts with ``objective:`` and says how to fix it.

    """
    if not isinstance(ref, str) or ref.count(":") < 1:
        raise _error(f"{ref!r} must be of the form {_FORMS}.")
    target, _, attr = ref.rpartition(":")
    target, attr = target.strip(), attr.strip()
    if not target or not attr.isidentifier():
        raise _error(f"{ref!r} must be of the form {_FORMS}.")
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    if target.endswith(".py") or "/" in target or "\\" in target:
        module = _import_file(base / target, target)
    else:
        module = _import_module(target, base)
    if not hasattr(module, attr):
        names = [n for n in dir(module) if not n.startswith("_")]
        hint = difflib.get_close_matches(attr, names, n=1)
        tip = f" Did you mean {hint[0]!r}?" if hint else ""
        raise _error(f"{target} has no attribute {attr!r}.{tip} Name a function defined in it.")
    fn = getattr(module, attr)
    if not callable(fn):
        raise _error(f"{ref!r} is a {type(fn).__name__}, not a function; name a function "
                     "objective(params[, reporter]).")
    return fn  # type: ignore[no-any-return]


def _describe(e: BaseException) -> str:
    if isinstance(e, SyntaxError):
        where = f" ({Path(e.filename).name}, line {e.lineno})" if e.filename else ""
        return f"SyntaxError: {e.msg}{where}"
    return " ".join(f"{type(e).__name__}: {e}".split())


def _import_module(name: str, base: Path) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        top = name.split(".")[0]
        if e.name not in (top, name) and not (e.name and name.startswith(e.name + ".")):
            raise _error(f"importing {name} failed: {_describe(e)}; install the missing "
                         "package or fix the import.") from None
        rel = name.replace(".", "/") + ".py"
        candidate = base / rel
        if candidate.is_file():
            return _import_file(candidate, rel)
        raise _error(f"no module named {name!r} (nor a file {candidate}); give an importable "
                     f"module or a file path, as {_FORMS}.") from None
    except Exception as e:  # noqa: BLE001 - user code at import time
        raise _error(f"importing {name} failed: {_describe(e)}; fix the module.") from None


def _import_file(path: Path, shown: str) -> ModuleType:
    path = path.resolve()
    if not path.is_file():
        raise _error(f"no such file {shown!r} (looked for {path}); paths are relative to the "
                     "study file's folder.")
    stem, folder = path.stem, str(path.parent)
    existing = sys.modules.get(stem)
    if existing is not None:
        if _module_file(existing) == path:
            return existing
        return _import_by_value(path, shown)
    if not stem.isidentifier():
        return _import_by_value(path, shown)
    if sys.path[:1] != [folder]:
        sys.path.insert(0, folder)
    importlib.invalidate_caches()
    try:
        module = importlib.import_module(stem)
    except Exception as e:  # noqa: BLE001 - user code at import time
        sys.modules.pop(stem, None)
        raise _error(f"importing {shown} failed: {_describe(e)}; fix the file.") from None
    if _module_file(module) != path:  # e.g. a built-in module of that name won
        return _import_by_value(path, shown)
    return module


def _module_file(module: ModuleType) -> Path | None:
    f = getattr(module, "__file__", None)
    return Path(f).resolve() if f else None


def _import_by_value(path: Path, shown: str) -> ModuleType:
    """Import ``path`` under a unique name; workers get its code by value through cloudpickle."""
    import cloudpickle

    digest = hashlib.sha1(str(path).encode()).hexdigest()[:10]
    name = f"_hpsearch_objective_{''.join(c if c.isalnum() else '_' for c in path.stem)}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    if str(path.parent) not in sys.path:  # so that it can import its siblings
        sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise _error(f"cannot import {shown!r}: not a Python source file.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as e:  # noqa: BLE001 - user code at import time
        sys.modules.pop(name, None)
        raise _error(f"importing {shown} failed: {_describe(e)}; fix the file.") from None
    cloudpickle.register_pickle_by_value(module)
    return module

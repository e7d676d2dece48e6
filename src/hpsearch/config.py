"""The YAML study file: its pydantic model, its validation, and building a runnable study from it.

A study file names everything a run needs::

    name: cnn-digits
    objective: train.py:objective      # or package.module:function
    metric: accuracy
    mode: max
    space:
      learning_rate: {loguniform: [1.0e-6, 10]}
      batch_size: {randint: [30, 100]}
    searcher: {random: {}}
    scheduler: {divergence: {}, asha: {min_budget: 1, max_budget: 27, reduction_factor: 3}}
    n_trials: 60
    executor: {local: {n_workers: 2}}
    storage: sqlite:///hpsearch.db     # a relative path is relative to the current directory
    seed: 0

Every mistake becomes one :class:`~hpsearch.exceptions.ConfigError` line naming the key path and
the fix (``space.learning_rate: Float needs low <= high ...``, ``scheduler: Unknown scheduler
'ashaa'. Did you mean 'asha'? ...``). The resolved file is stored with the study (key
``"study_file"`` of its config) so that ``hpsearch resume`` rebuilds the run from the storage alone.
"""

from __future__ import annotations

import difflib
import inspect
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from hpsearch._objective import load_objective
from hpsearch._registry import (
    EXECUTORS,
    executor_class,
    resolve_executor,
    resolve_scheduler,
    resolve_searcher,
)
from hpsearch._runner import check_not_running
from hpsearch.exceptions import ConfigError, HpsearchError, StorageError, StudyNotFoundError
from hpsearch.executors._base import Executor
from hpsearch.space import SearchSpace, distribution_from_dict
from hpsearch.storage import DEFAULT_STORAGE_URL, Storage, open_storage
from hpsearch.study import Study, create_study, load_study

__all__ = [
    "STUDY_FILE_KEY",
    "RunPlan",
    "StudyConfig",
    "load_study_file",
    "parse_study_config",
    "prepare_resume",
    "prepare_run",
]

logger = logging.getLogger(__name__)

#: key of ``Study.config`` holding ``{"path", "base_dir", "config"}`` of the study file.
STUDY_FILE_KEY = "study_file"



class _Loader(yaml.SafeLoader):  # type: ignore[misc]
    """PyYAML's safe loader with YAML 1.2 floats.

    ``1e-6`` and ``1.0e4`` are numbers, not strings (YAML 1.1, which PyYAML follows, needs a dot
    and a signed exponent: ``1.0e+4``).
    """


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
                |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
                |[-+]?\.(?:inf|Inf|INF)
                |\.(?:nan|NaN|NAN))$""", re.X),
    list("-+0123456789."),
)

_PositiveInt = Annotated[int, Field(ge=1)]
_PositiveFloat = Annotated[float, Field(gt=0)]


class StudyConfig(BaseModel):
    """A validated YAML study file (see the module docstring for an example).

    Attributes:
        name: the study's unique name in its storage.
        objective: ``"package.module:function"`` or ``"path/to/file.py:function"`` (relative
            to the study file's folder).
        metric: the key of the objective's returned dict that is optimized.
        mode: ``"min"`` or ``"max"``.
        space: ``{param: distribution}`` in the forms of :meth:`SearchSpace.from_dict`.
        searcher: a name or ``{name: {args}}``; None is ``auto`` (AutoSearcher).
        scheduler: a name, ``{name: {args}, ...}`` (several keys compose) or a list; None runs
            every trial to its end.
        n_trials: study-wide total of trials; None runs until ``timeout`` or Ctrl-C.
        n_workers: concurrent trials; overrides the executor's own ``n_workers``.
        executor: a name or ``{name: {args}}``; None is ``local``.
        storage: a storage URL.
        seed: seeds the searcher and the scheduler.
        timeout: wall-clock seconds for one ``run`` / ``resume``.
        trial_timeout: seconds after which a trial is killed.
        max_retries: extra attempts for a trial whose worker died.

    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    name: str
    objective: str
    metric: str = "value"
    mode: Literal["min", "max"] = "min"
    space: dict[str, Any]
    searcher: Any = None
    scheduler: Any = None
    n_trials: _PositiveInt | None = None
    n_workers: _PositiveInt | None = None
    executor: Any = None
    storage: str = DEFAULT_STORAGE_URL
    seed: int | None = None
    timeout: _PositiveFloat | None = None
    trial_timeout: _PositiveFloat | None = None
    max_retries: Annotated[int, Field(ge=0)] = 0

    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)
    _workers_arg: str = PrivateAttr(default="n_workers")  # or "n_slots" (Ray, Dask)
    _path: Path | None = PrivateAttr(default=None)

    @property
    def base_dir(self) -> Path:
        """The folder relative objective paths are resolved from (the study file's folder)."""
        return self._base_dir

    @property
    def path(self) -> Path | None:
        """The study file, when loaded from one."""
        return self._path

    def to_dict(self) -> dict[str, Any]:
        """Return the resolved study file as a JSON-able dict (defaults and overrides included)."""
        return self.model_dump(mode="json")

    def executor_spec(self) -> tuple[str, dict[str, Any]]:
        """Return the executor's ``(name, args)`` with ``n_workers`` (Ray, Dask: ``n_slots``)."""
        name, args = _name_args(self.executor, default="local")
        if self.n_workers is not None:
            args = {**args, self._workers_arg: self.n_workers}
        return name, args


# -- parsing and validation ----------------------------------------------------------------------
def load_study_file(path: str | Path, overrides: Mapping[str, Any] | None = None) -> StudyConfig:
    """Read and validate a YAML study file.

    Args:
        path: the file.
        overrides: top-level keys replacing the file's (command-line options); None values are
            ignored.

    Raises:
        ConfigError: the file is missing or unreadable, is not valid YAML, its top level is not a
            mapping, or any key is wrong (one line naming the key path).

    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{p}: cannot read the study file ({e.strerror or e}).") from None
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as e:
        raise ConfigError(f"{p}: {_yaml_error(e)}") from None
    if data is None:
        raise ConfigError(f"{p}: the study file is empty; it needs at least name, objective and "
                          "space.")
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"{p}: the top level must be a mapping of keys (name, objective, space, ...). "
            f"Got a {type(data).__name__}.")
    cfg = parse_study_config(data, base_dir=p.resolve().parent, overrides=overrides)
    cfg._path = p.resolve()
    return cfg


def _yaml_error(e: yaml.YAMLError) -> str:
    mark = getattr(e, "problem_mark", None)
    problem = getattr(e, "problem", None) or str(e)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return " ".join(f"invalid YAML at {where}{problem}.".split())


def parse_study_config(data: Mapping[str, Any], *, base_dir: str | Path | None = None,
                       overrides: Mapping[str, Any] | None = None) -> StudyConfig:
    """Validate a study file's dict.

    Args:
        data: the YAML file's top-level mapping.
        base_dir: the folder relative objective paths are resolved from; None is the current
            directory.
        overrides: top-level keys replacing ``data``'s; None values are ignored.

    Raises:
        ConfigError: one line naming the first wrong key path.

    """
    merged = {str(k): v for k, v in data.items()}
    for key, value in (overrides or {}).items():
        old = merged.get(key)
        if value is None or (key == "executor" and isinstance(old, Mapping)
                             and list(old) == [value]):
            continue  # --executor local keeps the file's {local: {args}}
        merged[key] = value
    try:
        cfg = StudyConfig.model_validate(merged)
    except ValidationError as e:
        raise ConfigError(_pydantic_error(e)) from None
    cfg._base_dir = Path(base_dir).resolve() if base_dir is not None else Path.cwd()
    _check(cfg)
    return cfg


def _short(x: Any) -> str:
    r = repr(x)
    return r if len(r) <= 60 else r[:57] + "..."


def _pydantic_error(e: ValidationError) -> str:
    err = e.errors()[0]
    loc = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in err["loc"])
    loc = loc.replace(".[", "[")
    kind, ctx, got = err["type"], err.get("ctx") or {}, _short(err.get("input"))
    if kind == "extra_forbidden":
        key = str(err["loc"][-1])
        fields = list(StudyConfig.model_fields)
        hint = difflib.get_close_matches(key, fields, n=1)
        tip = f" Did you mean {hint[0]!r}?" if hint else f" Valid keys: {', '.join(fields)}."
        return f"{loc}: unknown key.{tip}"
    messages = {
        "missing": "required key is missing; add it.",
        "int_type": f"must be an integer. Got {got}.",
        "float_type": f"must be a number. Got {got}.",
        "string_type": f"must be a string. Got {got}.",
        "dict_type": f"must be a mapping. Got {got}.",
        "greater_than_equal": f"must be >= {ctx.get('ge')}. Got {got}.",
        "greater_than": f"must be > {ctx.get('gt')}. Got {got}.",
        "literal_error": f"must be one of {ctx.get('expected')}. Got {got}.",
    }
    msg = messages.get(kind, f"{err['msg']}. Got {got}.")
    return f"{loc}: {msg}"


def _name_args(spec: Any, *, default: str) -> tuple[str, dict[str, Any]]:
    if spec is None:
        return default, {}
    if isinstance(spec, str):
        return spec, {}
    if isinstance(spec, Mapping) and len(spec) == 1:
        ((name, args),) = spec.items()
        if args is None:
            return str(name), {}
        return str(name), (dict(args) if isinstance(args, Mapping) else args)
    raise ValueError(spec)


def _check(cfg: StudyConfig) -> None:
    """Semantic checks, in key order; the first failure raises a one-line ConfigError."""
    for key, value in (("name", cfg.name), ("objective", cfg.objective), ("metric", cfg.metric),
                       ("storage", cfg.storage)):
        if not value.strip():
            raise ConfigError(f"{key}: must be a non-empty string.")
    _check_space(cfg.space)
    _wrap("searcher", lambda: resolve_searcher(cfg.searcher, seed=0))
    _wrap("scheduler", lambda: resolve_scheduler(cfg.scheduler, seed=0))
    _check_executor(cfg)


def _wrap(key: str, fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except ConfigError:
        raise
    except (HpsearchError, ImportError) as e:
        raise ConfigError(f"{key}: {_one_line(e)}") from None


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split())


def _check_space(space: Mapping[str, Any]) -> None:
    for name, spec in space.items():
        try:
            distribution_from_dict(name, spec)
        except HpsearchError as e:
            msg = _one_line(e).removeprefix(f"Parameter {name!r}: ")
            raise ConfigError(f"space.{name}: {msg}") from None
    _wrap("space", lambda: SearchSpace.from_dict(space))


def _check_executor(cfg: StudyConfig) -> None:
    try:
        name, args = _name_args(cfg.executor, default="local")
    except ValueError:
        raise ConfigError(
            f"executor: must be a name ({', '.join(sorted(EXECUTORS))}) or {{name: {{args}}}}. "
            f"Got {_short(cfg.executor)}.") from None
    if not isinstance(args, Mapping):
        raise ConfigError(f"executor.{name}: the arguments must be a mapping. Got {_short(args)}.")
    cls = _wrap("executor", lambda: executor_class(name))
    try:
        params = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        params = {}  # type: ignore[assignment]
    cfg._workers_arg = next((a for a in ("n_workers", "n_slots") if a in params), "")
    if cfg.n_workers is not None and not cfg._workers_arg:
        raise ConfigError(
            f"n_workers: the {name!r} executor runs a fixed number of trials at once; remove "
            "n_workers or use executor: local.")


# -- building a run ------------------------------------------------------------------------------
@dataclass
class RunPlan:
    """Everything ``hpsearch run`` / ``resume`` needs: call :meth:`optimize`.

    Attributes:
        study: the created or loaded study.
        objective: the imported objective function.
        executor: the executor (not started; shut it down after use).
        config: the validated study file.
        optimize_kwargs: ``n_trials``, ``timeout``, ``trial_timeout``, ``max_retries``.

    """

    study: Study
    objective: Callable[..., Any]
    executor: Executor
    config: StudyConfig
    optimize_kwargs: dict[str, Any] = field(default_factory=dict)

    def optimize(self, callbacks: Any = ()) -> None:
        """Run ``study.optimize`` with the plan's objective, executor and budgets."""
        self.study.optimize(self.objective, executor=self.executor, callbacks=callbacks,
                            **self.optimize_kwargs)


def _build_executor(cfg: StudyConfig) -> Executor:
    name, args = cfg.executor_spec()
    ex: Executor = _wrap("executor", lambda: resolve_executor({name: args}))
    return ex


def _optimize_kwargs(cfg: StudyConfig) -> dict[str, Any]:
    return {"n_trials": cfg.n_trials, "timeout": cfg.timeout,
            "trial_timeout": cfg.trial_timeout, "max_retries": cfg.max_retries}


def _study_file_entry(cfg: StudyConfig) -> dict[str, Any]:
    return {"path": str(cfg.path) if cfg.path else None, "base_dir": str(cfg.base_dir),
            "config": cfg.to_dict()}


def prepare_run(cfg: StudyConfig, *, overwrite: bool = False,
                storage: Storage | None = None) -> RunPlan:
    """Create the study of ``cfg`` (deleting an existing one when ``overwrite``) and its executor.

    The objective and the executor are checked before anything is written, so a mistake leaves
    the storage untouched. The resolved study file is stored in the study's config.

    Args:
        cfg: the validated study file.
        overwrite: delete a study of the same name first.
        storage: an open storage instead of ``cfg.storage``.

    Raises:
        ConfigError: the objective cannot be imported or the executor cannot be built.
        StudyLockedError: a live driver is running the study.
        StorageError: the study exists (without ``overwrite``), or the storage fails.

    """
    objective = load_objective(cfg.objective, cfg.base_dir)
    executor = _build_executor(cfg)
    st = storage if storage is not None else open_storage(cfg.storage)
    try:
        rec = st.get_study(cfg.name)
    except StudyNotFoundError:
        rec = None
    if rec is not None:
        check_not_running(st, rec.study_id, cfg.name)
        if not overwrite:
            n = load_study(cfg.name, storage=st).n_finished
            raise StorageError(
                f"Study {cfg.name!r} exists in {_display(st)} ({n} finished trials): "
                f"`hpsearch resume {cfg.name}` continues it, --overwrite starts afresh.")
        st.delete_study(cfg.name)
        logger.info("Deleted the existing study %r.", cfg.name)
    study = create_study(cfg.name, space=SearchSpace.from_dict(cfg.space), metric=cfg.metric,
                         mode=cfg.mode, storage=st, searcher=cfg.searcher,
                         scheduler=cfg.scheduler, seed=cfg.seed)
    _store_study_file(study, cfg)
    return RunPlan(study, objective, executor, cfg, _optimize_kwargs(cfg))


def _store_study_file(study: Study, cfg: StudyConfig) -> None:
    study.config[STUDY_FILE_KEY] = _study_file_entry(cfg)
    rec = study.storage.get_study(study.name)
    study.storage.update_study_config(rec.study_id, study.config)


def _display(st: Storage) -> str:
    return str(getattr(st, "display_url", st.url))


def prepare_resume(name: str, *, storage: str | Storage | None = None,
                   overrides: Mapping[str, Any] | None = None) -> RunPlan:
    """Load study ``name`` and rebuild its run from the study file stored with it.

    Args:
        name: the study.
        storage: where it is (a URL or an open storage); None is the default storage.
        overrides: study-file keys to change (``n_trials``, ``n_workers``, ``executor``,
            ``timeout``); they are stored for later resumes.

    Raises:
        StudyNotFoundError: no such study.
        StorageError: the storage is missing or fails.
        HpsearchError: the study was not created from a study file.
        ConfigError: the stored file or an override is invalid, or the objective cannot be
            imported any more.

    """
    st = open_storage(storage, create=False)
    rec = st.get_study(name)
    check_not_running(st, rec.study_id, name)
    entry = rec.config.get(STUDY_FILE_KEY)
    if not isinstance(entry, Mapping) or not isinstance(entry.get("config"), Mapping):
        raise HpsearchError(
            f"Study {name!r} was not created from a study file (hpsearch run); continue it from "
            "Python with load_study(...).optimize(...).")
    data = {**entry["config"], "storage": st.url, "name": rec.name}
    cfg = parse_study_config(data, base_dir=entry.get("base_dir"), overrides=overrides)
    if entry.get("path"):
        cfg._path = Path(entry["path"])
    objective = load_objective(cfg.objective, cfg.base_dir)
    executor = _build_executor(cfg)
    study = load_study(name, storage=st)
    if overrides and any(v is not None for v in overrides.values()):
        _store_study_file(study, cfg)
    return RunPlan(study, objective, executor, cfg, _optimize_kwargs(cfg))

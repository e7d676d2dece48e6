"""SQL storage through SQLAlchemy 2 Core: SQLite (WAL) by default, PostgreSQL by URL.

Values are stored as JSON text, never pickle. The schema version is recorded in the
``hpsearch_meta`` table; :data:`MIGRATIONS` upgrades older files in place when they are opened.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import math
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import ArgumentError, IntegrityError, NoSuchModuleError, SQLAlchemyError

from hpsearch.exceptions import MissingDependencyError, StorageError, StudyNotFoundError
from hpsearch.storage._base import Storage, StudyRecord, StudySummary
from hpsearch.trial import Report, Trial, TrialState

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "SQLStorage"]

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
#: ``{from_version: function(connection)}`` upgrading the schema by one version.
MIGRATIONS: dict[int, Callable[[Connection], None]] = {}

_F = TypeVar("_F", bound=Callable[..., Any])

metadata = sa.MetaData()
meta_table = sa.Table(
    "hpsearch_meta", metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)
studies = sa.Table(
    "studies", metadata,
    sa.Column("study_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(512), nullable=False, unique=True),
    sa.Column("metric", sa.String(256), nullable=False),
    sa.Column("mode", sa.String(8), nullable=False),
    sa.Column("space", sa.Text, nullable=False),
    sa.Column("config", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("driver_id", sa.String(256), nullable=True),
    sa.Column("heartbeat_at", sa.Float, nullable=True),
)
trials = sa.Table(
    "trials", metadata,
    sa.Column("trial_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("study_id", sa.Integer, sa.ForeignKey("studies.study_id", ondelete="CASCADE"),
              nullable=False),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("params", sa.Text, nullable=False),
    sa.Column("value", sa.Float, nullable=True),
    sa.Column("metrics", sa.Text, nullable=False, default="{}"),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("traceback", sa.Text, nullable=True),
    sa.Column("retry_of", sa.Integer, nullable=True),
    sa.Column("attempt", sa.Integer, nullable=False, default=0),
    sa.Column("created_at", sa.Float, nullable=True),
    sa.Column("started_at", sa.Float, nullable=True),
    sa.Column("finished_at", sa.Float, nullable=True),
    sa.UniqueConstraint("study_id", "number", name="uq_trials_study_number"),
)
reports = sa.Table(
    "reports", metadata,
    sa.Column("report_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("study_id", sa.Integer, nullable=False),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("budget", sa.Float, nullable=False),
    sa.Column("value", sa.Float, nullable=True),
    sa.Column("metrics", sa.Text, nullable=False),
    sa.Index("ix_reports_study_number", "study_id", "number"),
)


_b = sa.bindparam
_INSERT_TRIAL = trials.insert()
_INSERT_REPORT = reports.insert()
_START_TRIAL = (trials.update().where(trials.c.study_id == _b("sid"), trials.c.number == _b("num"))
                .values(state=_b("state"), started_at=_b("t")))
_FINISH_TRIAL = (trials.update().where(trials.c.study_id == _b("sid"), trials.c.number == _b("num"))
                 .values(state=_b("state"), value=_b("v"), metrics=_b("m"), finished_at=_b("t"),
                         reason=_b("r"), traceback=_b("tb")))


def _dumps(obj: Any) -> str:
    return json.dumps(obj, default=_json_default, separators=(",", ":"))


def _json_default(o: Any) -> Any:
    item = getattr(o, "item", None)  # numpy scalars
    if callable(item):
        return item()
    tolist = getattr(o, "tolist", None)
    if callable(tolist):
        return tolist()
    return repr(o)


def _finite_or_none(x: float | None) -> float | None:
    # SQLite turns NaN into NULL anyway; do the same on every back end.
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else x


def _describe(e: BaseException) -> str:
    orig = getattr(e, "orig", None) or e
    text = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    return text


def _wrap(fn: _F) -> _F:
    """Turn driver errors into one-line StorageErrors naming the database and the cause."""

    @functools.wraps(fn)
    def wrapper(self: SQLStorage, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(self, *args, **kwargs)
        except StorageError:
            raise
        except (SQLAlchemyError, OSError) as e:
            raise StorageError(f"Storage {self.display_url}: {_describe(e)}") from e

    return wrapper  # type: ignore[return-value]


class SQLStorage(Storage):
    """Storage in a SQL database through SQLAlchemy.

    SQLite files are opened in WAL mode with ``synchronous=NORMAL`` and a 5 s busy timeout, so a
    reader never blocks the driver and a short lock by another process is waited out.

    Args:
        url: SQLAlchemy URL, or a bare path ending in ``.db`` / ``.sqlite`` / ``.sqlite3``.
        create: create a missing SQLite file and the tables (else raise StorageError).

    Raises:
        StorageError: bad URL, unreachable database, not a database, newer schema version.
        MissingDependencyError: the database driver is not installed.
    """

    def __init__(self, url: str, *, create: bool = True) -> None:
        if "://" not in url and url.endswith((".db", ".sqlite", ".sqlite3")):
            url = f"sqlite:///{url}"
        self.url = url
        try:
            parsed = sa.engine.make_url(url)
        except ArgumentError as e:
            raise StorageError(
                f"Invalid storage URL {url!r}: use sqlite:///path.db or "
                "postgresql+psycopg://user@host:5432/db."
            ) from e
        self.display_url = parsed.render_as_string(hide_password=True)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        if self.is_sqlite:
            path = parsed.database or ""
            if path and path != ":memory:":
                self.display_url = path
                if not create and not os.path.exists(path):
                    raise StorageError(f"Storage {path}: no such file.")
                parent = os.path.dirname(os.path.abspath(path))
                if not os.path.isdir(parent):
                    raise StorageError(f"Storage {path}: the folder {parent} does not exist.")
        self._engine = self._make_engine(parsed)
        self._lock = threading.RLock()
        self._conn: Connection | None = None
        self._init_schema(create)

    @contextlib.contextmanager
    def _tx(self) -> Any:
        """A committed transaction on the storage's one long-lived connection (thread-safe)."""
        with self._lock:
            if self._conn is None or self._conn.closed:
                self._conn = self._engine.connect()
            try:
                with self._conn.begin():
                    yield self._conn
            except BaseException:
                if self._conn.invalidated:
                    self._conn.close()
                    self._conn = None
                raise

    def _make_engine(self, parsed: sa.engine.URL) -> Engine:
        try:
            if self.is_sqlite:
                engine = sa.create_engine(
                    parsed, connect_args={"timeout": 5.0, "check_same_thread": False},
                    poolclass=sa.pool.SingletonThreadPool
                    if parsed.database in (None, "", ":memory:") else sa.pool.QueuePool,
                )
                event.listen(engine, "connect", _sqlite_on_connect)
                event.listen(engine, "begin", _sqlite_on_begin)
                return engine
            return sa.create_engine(parsed, pool_pre_ping=True, pool_size=2, max_overflow=4)
        except NoSuchModuleError as e:
            if parsed.get_backend_name() not in ("postgresql", "sqlite"):
                raise StorageError(
                    f"Unknown database {parsed.get_backend_name()!r} in the storage URL "
                    f"{self.display_url!r}: use sqlite:///path.db or "
                    "postgresql+psycopg://user@host:5432/db.") from e
            raise MissingDependencyError(
                f"The driver for {parsed.drivername!r} is not installed: "
                "pip install 'hpsearch[postgres]' (psycopg 3)."
            ) from e
        except (ModuleNotFoundError, ImportError) as e:
            raise MissingDependencyError(
                f"The driver for {parsed.drivername!r} is not installed: "
                "pip install 'hpsearch[postgres]' (psycopg 3)."
            ) from e

    @_wrap
    def _init_schema(self, create: bool) -> None:
        with self._tx() as conn:
            insp = sa.inspect(conn)
            has_meta = insp.has_table("hpsearch_meta")
            if not has_meta:
                if insp.has_table("studies"):
                    raise StorageError(
                        f"Storage {self.display_url}: a 'studies' table exists that hpsearch "
                        "did not create; use another database."
                    )
                if not create:
                    raise StorageError(f"Storage {self.display_url}: no hpsearch tables in it.")
                metadata.create_all(conn)
                conn.execute(meta_table.insert().values(key="schema_version",
                                                        value=str(SCHEMA_VERSION)))
                return
            row = conn.execute(
                sa.select(meta_table.c.value).where(meta_table.c.key == "schema_version")
            ).scalar_one_or_none()
            version = int(row) if row is not None else 0
            if version > SCHEMA_VERSION:
                raise StorageError(
                    f"Storage {self.display_url}: schema version {version} was written by a newer "
                    f"hpsearch (this one reads up to {SCHEMA_VERSION}); upgrade hpsearch."
                )
            while version < SCHEMA_VERSION:
                logger.info("Migrating %s from schema %d", self.display_url, version)
                MIGRATIONS[version](conn)
                version += 1
                conn.execute(meta_table.update().where(meta_table.c.key == "schema_version")
                             .values(value=str(version)))

    # -- studies ---------------------------------------------------------------------------
    @_wrap
    def create_study(
        self, name: str, *, metric: str, mode: str, space: Mapping[str, Any],
        config: Mapping[str, Any], created_at: float,
    ) -> StudyRecord:
        """See :meth:`Storage.create_study`."""
        try:
            with self._tx() as conn:
                res = conn.execute(studies.insert().values(
                    name=name, metric=metric, mode=mode, space=_dumps(space),
                    config=_dumps(config), created_at=created_at))
                study_id = int(res.inserted_primary_key[0])
        except IntegrityError as e:
            raise StorageError(
                f"Storage {self.display_url}: a study named {name!r} exists already."
            ) from e
        return StudyRecord(study_id, name, metric, mode, dict(space), dict(config), created_at)

    @_wrap
    def get_study(self, name: str) -> StudyRecord:
        """See :meth:`Storage.get_study`."""
        with self._tx() as conn:
            row = conn.execute(sa.select(studies).where(studies.c.name == name)).first()
        if row is None:
            raise StudyNotFoundError(f"No study named {name!r} in {self.display_url}.")
        return StudyRecord(row.study_id, row.name, row.metric, row.mode, json.loads(row.space),
                           json.loads(row.config), row.created_at)

    @_wrap
    def update_study_config(self, study_id: int, config: Mapping[str, Any]) -> None:
        """See :meth:`Storage.update_study_config`."""
        with self._tx() as conn:
            conn.execute(studies.update().where(studies.c.study_id == study_id)
                         .values(config=_dumps(config)))

    @_wrap
    def list_studies(self) -> list[StudySummary]:
        """See :meth:`Storage.list_studies`."""
        with self._tx() as conn:
            rows = conn.execute(sa.select(studies).order_by(studies.c.study_id)).all()
            counts = conn.execute(
                sa.select(trials.c.study_id, trials.c.state, sa.func.count())
                .group_by(trials.c.study_id, trials.c.state)).all()
            best = conn.execute(
                sa.select(trials.c.study_id, sa.func.min(trials.c.value),
                          sa.func.max(trials.c.value))
                .where(trials.c.state == TrialState.COMPLETED.value)
                .group_by(trials.c.study_id)).all()
        by_study: dict[int, dict[str, int]] = {}
        for sid, state, n in counts:
            by_study.setdefault(sid, {})[state] = n
        best_by = {sid: (lo, hi) for sid, lo, hi in best}
        out = []
        for r in rows:
            c = by_study.get(r.study_id, {})
            lo, hi = best_by.get(r.study_id, (None, None))
            out.append(StudySummary(r.name, r.metric, r.mode, r.created_at, sum(c.values()), c,
                                    lo if r.mode == "min" else hi))
        return out

    @_wrap
    def delete_study(self, name: str) -> None:
        """See :meth:`Storage.delete_study`."""
        rec = self.get_study(name)
        with self._tx() as conn:
            conn.execute(reports.delete().where(reports.c.study_id == rec.study_id))
            conn.execute(trials.delete().where(trials.c.study_id == rec.study_id))
            conn.execute(studies.delete().where(studies.c.study_id == rec.study_id))

    # -- lock ------------------------------------------------------------------------------
    @_wrap
    def acquire_lock(self, study_id: int, owner: str, *, now: float, stale_after: float) -> bool:
        """See :meth:`Storage.acquire_lock`."""
        c = studies.c
        with self._tx() as conn:
            res = conn.execute(
                studies.update().where(
                    c.study_id == study_id,
                    sa.or_(c.driver_id.is_(None), c.driver_id == owner,
                           c.heartbeat_at.is_(None), c.heartbeat_at < now - stale_after),
                ).values(driver_id=owner, heartbeat_at=now))
            return bool(res.rowcount == 1)

    @_wrap
    def heartbeat(self, study_id: int, owner: str, *, now: float) -> bool:
        """See :meth:`Storage.heartbeat`."""
        c = studies.c
        with self._tx() as conn:
            res = conn.execute(studies.update().where(c.study_id == study_id, c.driver_id == owner)
                               .values(heartbeat_at=now))
            return bool(res.rowcount == 1)

    @_wrap
    def release_lock(self, study_id: int, owner: str) -> None:
        """See :meth:`Storage.release_lock`."""
        c = studies.c
        with self._tx() as conn:
            conn.execute(studies.update().where(c.study_id == study_id, c.driver_id == owner)
                         .values(driver_id=None, heartbeat_at=None))

    @_wrap
    def lock_info(self, study_id: int) -> tuple[str | None, float | None]:
        """See :meth:`Storage.lock_info`."""
        with self._tx() as conn:
            row = conn.execute(sa.select(studies.c.driver_id, studies.c.heartbeat_at)
                               .where(studies.c.study_id == study_id)).first()
        return (row[0], row[1]) if row else (None, None)

    # -- trials ----------------------------------------------------------------------------
    @_wrap
    def create_trial(
        self, study_id: int, number: int, *, state: TrialState, params: Mapping[str, Any],
        created_at: float, started_at: float | None = None, retry_of: int | None = None,
        attempt: int = 0,
    ) -> None:
        """See :meth:`Storage.create_trial`."""
        with self._tx() as conn:
            conn.execute(_INSERT_TRIAL, {
                "study_id": study_id, "number": number, "state": state.value,
                "params": _dumps(params), "metrics": "{}", "created_at": created_at,
                "started_at": started_at, "retry_of": retry_of, "attempt": attempt})

    @_wrap
    def start_trial(self, study_id: int, number: int, *, started_at: float) -> None:
        """See :meth:`Storage.start_trial`."""
        with self._tx() as conn:
            conn.execute(_START_TRIAL, {"sid": study_id, "num": number,
                                        "state": TrialState.RUNNING.value, "t": started_at})

    @_wrap
    def add_report(
        self, study_id: int, number: int, *, budget: float, value: float,
        metrics: Mapping[str, Any],
    ) -> None:
        """See :meth:`Storage.add_report`."""
        with self._tx() as conn:
            conn.execute(_INSERT_REPORT, {
                "study_id": study_id, "number": number, "budget": float(budget),
                "value": _finite_or_none(value), "metrics": _dumps(metrics)})

    @_wrap
    def finish_trial(
        self, study_id: int, number: int, *, state: TrialState, value: float | None,
        metrics: Mapping[str, Any], finished_at: float, reason: str | None = None,
        traceback: str | None = None,
    ) -> None:
        """See :meth:`Storage.finish_trial`."""
        with self._tx() as conn:
            conn.execute(_FINISH_TRIAL, {
                "sid": study_id, "num": number, "state": state.value,
                "v": _finite_or_none(value), "m": _dumps(metrics), "t": finished_at,
                "r": reason, "tb": traceback})

    @_wrap
    def get_trials(
        self, study_id: int, *, decode: Any = None, states: Sequence[TrialState] | None = None,
    ) -> list[Trial]:
        """See :meth:`Storage.get_trials`."""
        q = sa.select(trials).where(trials.c.study_id == study_id).order_by(trials.c.number)
        if states is not None:
            q = q.where(trials.c.state.in_([s.value for s in states]))
        rq = (sa.select(reports.c.number, reports.c.budget, reports.c.value, reports.c.metrics)
              .where(reports.c.study_id == study_id).order_by(reports.c.report_id))
        with self._tx() as conn:
            rows = conn.execute(q).all()
            report_rows = conn.execute(rq).all()
        by_number: dict[int, list[Report]] = {}
        nan = float("nan")
        for number, budget, value, metrics in report_rows:
            by_number.setdefault(number, []).append(
                Report(budget, nan if value is None else value,
                       json.loads(metrics) if metrics != "{}" else {}))
        out = []
        for r in rows:
            params = json.loads(r.params)
            if decode is not None:
                params = decode(params)
            out.append(Trial(
                number=r.number, state=TrialState(r.state), params=params, value=r.value,
                metrics=json.loads(r.metrics) if r.metrics and r.metrics != "{}" else {},
                reports=tuple(by_number.get(r.number, ())), reason=r.reason,
                traceback=r.traceback, retry_of=r.retry_of, attempt=r.attempt or 0,
                created_at=r.created_at, started_at=r.started_at, finished_at=r.finished_at))
        return out

    def close(self) -> None:
        """See :meth:`Storage.close`."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
        self._engine.dispose()

    def __repr__(self) -> str:
        return f"SQLStorage({self.display_url!r})"


def _sqlite_on_connect(dbapi_conn: Any, _record: Any) -> None:
    # Let SQLAlchemy emit BEGIN itself (pysqlite's implicit transactions are off), then set WAL.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    try:
        cur.execute("PRAGMA busy_timeout = 5000")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.execute("PRAGMA foreign_keys = ON")
    finally:
        cur.close()


def _sqlite_on_begin(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN")


"""The storage conformance suite over SQLite and PostgreSQL (a fresh schema per test, dropped)."""

import os
import sys
import uuid

import pytest

from hpsearch.testing.storage import CHECKS

PG_SERVER = os.environ.get("HPSEARCH_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _pg_admin():
    """A SQLAlchemy engine on the PostgreSQL test database, or a skip reason."""
    try:
        import sqlalchemy as sa

        engine = sa.create_engine(PG_SERVER, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        return engine, None
    except ImportError as e:
        return None, f"psycopg is not installed ({e}): pip install 'hpsearch[postgres]'"
    except Exception as e:  # noqa: BLE001
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        return None, f"PostgreSQL at {PG_SERVER} is not reachable: {first}"


@pytest.fixture(scope="module")
def pg_admin():
    engine, reason = _pg_admin()
    if engine is None:
        pytest.skip(reason)
    yield engine
    engine.dispose()


@pytest.fixture
def pg_url(pg_admin):
    """The URL of a fresh, empty schema in the PostgreSQL test database, dropped afterwards."""
    schema = f"hpsearch_test_{uuid.uuid4().hex[:12]}"
    with pg_admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{PG_SERVER}?options=-csearch_path%3D{schema}"
    finally:
        with pg_admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def storage_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'conformance.db'}"
    return request.getfixturevalue("pg_url")


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__.removeprefix("check_"))
def test_storage_conforms(check, storage_url):
    check(storage_url)


@pytest.mark.integration
def test_postgresql_tables_go_to_the_schema_of_the_url(pg_admin, pg_url):
    from hpsearch import open_storage

    st = open_storage(pg_url)
    st.create_study("x", metric="m", mode="min", space={}, config={}, created_at=1.0)
    st.close()
    schema = pg_url.rpartition("%3D")[2]
    with pg_admin.connect() as conn:
        tables = {r[0] for r in conn.exec_driver_sql(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
            (schema,))}
    assert {"studies", "trials", "reports", "hpsearch_meta"} <= tables


@pytest.mark.integration
def test_postgresql_migrations_run_and_a_newer_schema_is_refused(pg_url, monkeypatch):
    import sqlalchemy as sa

    from hpsearch import StorageError, open_storage
    from hpsearch.storage import _sql

    open_storage(pg_url).close()
    calls = []

    def migrate(conn):  # a real DDL change inside the migration's transaction
        conn.exec_driver_sql("ALTER TABLE trials ADD COLUMN note TEXT")
        calls.append("up")

    monkeypatch.setattr(_sql, "SCHEMA_VERSION", _sql.SCHEMA_VERSION + 1)
    monkeypatch.setitem(_sql.MIGRATIONS, _sql.SCHEMA_VERSION - 1, migrate)
    open_storage(pg_url).close()
    open_storage(pg_url).close()  # migrated once only
    assert calls == ["up"]
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        version = conn.exec_driver_sql(
            "SELECT value FROM hpsearch_meta WHERE key = 'schema_version'").scalar_one()
        assert int(version) == _sql.SCHEMA_VERSION
        assert "note" in {c["name"] for c in sa.inspect(conn).get_columns("trials")}
        conn.exec_driver_sql("UPDATE hpsearch_meta SET value = '999' WHERE key = 'schema_version'")
    engine.dispose()
    with pytest.raises(StorageError, match="newer hpsearch"):
        open_storage(pg_url)


def test_missing_psycopg_names_the_extra(monkeypatch):
    from hpsearch import MissingDependencyError, open_storage

    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'hpsearch\[postgres\]'"):
        open_storage("postgresql+psycopg://postgres@127.0.0.1:5432/test")

"""Storage back ends, selected by URL: ``sqlite:///path.db`` (default) or ``postgresql+psycopg://...``.

Use :func:`open_storage`; only ``_sql.py`` imports SQLAlchemy.
"""

from __future__ import annotations

from hpsearch.storage._base import Storage, StudyRecord, StudySummary

__all__ = ["DEFAULT_STORAGE_URL", "Storage", "StudyRecord", "StudySummary", "open_storage"]

DEFAULT_STORAGE_URL = "sqlite:///hpsearch.db"


def open_storage(url: str | Storage | None = None, *, create: bool = True) -> Storage:
    """Open (and create or migrate when needed) the storage at ``url``.

    Args:
        url: a SQLAlchemy URL (``sqlite:///hpsearch.db``, ``postgresql+psycopg://user@host/db``),
            a bare path ending in ``.db`` / ``.sqlite`` (taken as SQLite), an open Storage
            (returned as is), or None for :data:`DEFAULT_STORAGE_URL`.
        create: create a missing SQLite file and the tables; False for read-only commands, which
            then fail clearly on a missing file.

    Raises:
        StorageError: the URL is malformed, the database cannot be opened, the file is not a
            database, or it was written by a newer hpsearch.
        MissingDependencyError: the URL needs a driver that is not installed
            (``hpsearch[postgres]``).
    """
    if isinstance(url, Storage):
        return url
    from hpsearch.storage._sql import SQLStorage

    return SQLStorage(url or DEFAULT_STORAGE_URL, create=create)

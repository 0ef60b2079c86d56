"""Engines and sessions for the embedded (SQLite) and production (PostgreSQL) databases.

SQLite is opened in WAL mode with a busy timeout, foreign keys on, and every transaction started
with ``BEGIN IMMEDIATE``: concurrent writers (threads of one server, or several processes) then
queue for the write lock instead of failing with "database is locked" when a read transaction
tries to upgrade. PostgreSQL needs nothing special: uniqueness races surface as IntegrityError and
the callers re-read.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

__all__ = ["dispose_engine", "get_engine", "is_sqlite", "make_session_factory", "session_scope"]

_ENGINES: dict[str, Engine] = {}
_LOCK = threading.Lock()
_SQLITE_BUSY_MS = 60_000


def is_sqlite(url: str) -> bool:
    """Whether a database URL names SQLite."""
    return make_url(url).get_backend_name() == "sqlite"


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {_SQLITE_BUSY_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def get_engine(url: str) -> Engine:
    """One engine per database URL for the whole process (engines own connection pools)."""
    with _LOCK:
        engine = _ENGINES.get(url)
        if engine is None:
            if is_sqlite(url):
                database = make_url(url).database
                if database and database != ":memory:":
                    Path(database).parent.mkdir(parents=True, exist_ok=True)
                engine = create_engine(
                    url, connect_args={"check_same_thread": False, "timeout": 60}
                )
                _configure_sqlite(engine)
            else:
                engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
            _ENGINES[url] = engine
        return engine


def dispose_engine(url: str) -> None:
    """Close and forget the engine of ``url`` (tests, and the end of a server's life)."""
    with _LOCK:
        engine = _ENGINES.pop(url, None)
    if engine is not None:
        engine.dispose()


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded attributes after commit (routes read them to answer)."""
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session committed on success and rolled back on any exception."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()

"""Engines and sessions for the embedded (SQLite) and production (PostgreSQL) databases.

Two kinds of session share one engine per database URL:

- Write sessions (the default). On SQLite every transaction starts with ``BEGIN IMMEDIATE``:
  concurrent writers (threads of one server, or several processes) queue for the write lock
  instead of failing with "database is locked" when a deferred read transaction tries to upgrade
  (SQLite answers that with SQLITE_BUSY at once; the busy timeout does not help).
- Read-only sessions (``make_session_factory(engine, readonly=True)``), for work that never
  writes: GET routes and authentication. On SQLite they start with a plain deferred ``BEGIN`` and
  ``PRAGMA query_only``, so in WAL mode they read a consistent snapshot without waiting for the
  write lock; on PostgreSQL they run as ``READ ONLY`` transactions. A write in such a session is
  refused (:class:`ReadOnlySessionError` at flush; the database refuses raw SQL).

SQLite is opened in WAL mode with a busy timeout and foreign keys on. PostgreSQL needs nothing
else: uniqueness races surface as IntegrityError and the callers re-read.
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

__all__ = [
    "ReadOnlySessionError",
    "dispose_engine",
    "get_engine",
    "is_sqlite",
    "make_session_factory",
    "session_scope",
]

_ENGINES: dict[str, Engine] = {}
_LOCK = threading.Lock()
_SQLITE_BUSY_MS = 60_000
#: Execution option (and key of ``Session.info`` / ``Connection.info``) marking read-only work.
_READONLY = "liverburden_readonly"


class ReadOnlySessionError(RuntimeError):
    """A read-only session was asked to write (a programming error, never a client's)."""


def is_sqlite(url: str) -> bool:
    """Whether a database URL names SQLite."""
    return make_url(url).get_backend_name() == "sqlite"


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {_SQLITE_BUSY_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()
        record.info[_READONLY] = False  # query_only is off on a new connection

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        readonly = bool(connection.get_execution_options().get(_READONLY, False))
        if connection.info.get(_READONLY) is not readonly:  # pooled connections are shared
            connection.exec_driver_sql(f"PRAGMA query_only = {int(readonly)}")
            connection.info[_READONLY] = readonly
        # Deferred BEGIN takes no lock until the first read (a WAL snapshot, never the write lock).
        connection.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")


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


def _refuse_flush(session: Session, _context: Any, _instances: Any) -> None:
    if session.new or session.dirty or session.deleted:
        raise ReadOnlySessionError(
            "a read-only session was asked to write; use a write session "
            "(make_session_factory(engine)) for work that changes rows"
        )


def make_session_factory(engine: Engine, *, readonly: bool = False) -> sessionmaker[Session]:
    """Sessions that keep loaded attributes after commit (routes read them to answer).

    ``readonly=True`` gives sessions for work that never writes: on SQLite they do not take the
    write lock, so they never queue behind writers; any write in them is refused.
    """
    if not readonly:
        return sessionmaker(bind=engine, expire_on_commit=False, info={_READONLY: False})
    options: dict[str, Any] = {_READONLY: True}
    if engine.dialect.name == "postgresql":
        options["postgresql_readonly"] = True
    factory = sessionmaker(
        bind=engine.execution_options(**options), expire_on_commit=False, info={_READONLY: True}
    )
    event.listen(factory, "before_flush", _refuse_flush)
    return factory


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """Return a session committed on success and rolled back on any exception."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()

"""Apply the Alembic migrations in code (the service, the CLI and the workers do so at start)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

if TYPE_CHECKING:
    from alembic.config import Config

try:
    import fcntl
except ImportError:  # not POSIX: no migration lock (callers retry instead)
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "HEAD_REVISION",
    "alembic_config",
    "current_revision",
    "migration_lock",
    "upgrade_database",
]

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
#: The newest migration's revision (tests/app check it against Alembic's script directory). A
#: database already there needs no Alembic at all: commands start ~0.2-0.4 s sooner.
HEAD_REVISION = "0009"


def alembic_config(url: str) -> Config:
    """Return a programmatic Alembic configuration for ``url`` (no ini file needed)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["url"] = url
    return cfg


@contextmanager
def migration_lock(url: str) -> Iterator[None]:
    """Hold the migration lock of a SQLite database (a file lock beside it); no-op otherwise.

    Alembic runs SQLite migrations without a database lock (PostgreSQL's take an advisory lock in
    ``app/db/migrations/env.py``), and a migration that rebuilds a table must not meet another
    process doing the same: the server, workers and commands of one host take turns on this lock.
    """
    parsed = make_url(url)
    database = parsed.database if parsed.get_backend_name() == "sqlite" else None
    if not database or database == ":memory:" or fcntl is None:
        yield
        return
    Path(database).parent.mkdir(parents=True, exist_ok=True)
    with open(f"{database}.migrate-lock", "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def current_revision(url: str) -> str | None:
    """Return the schema revision recorded in the database (``None``: none, or unreadable)."""
    parsed = make_url(url)
    on_disk = parsed.get_backend_name() == "sqlite" and parsed.database not in (
        None,
        "",
        ":memory:",
    )
    if on_disk and not Path(str(parsed.database)).is_file():
        return None  # do not create the file here: the migration does
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return None
            rows = conn.execute(text("SELECT version_num FROM alembic_version")).fetchall()
    except SQLAlchemyError:
        return None
    finally:
        engine.dispose()
    return str(rows[0][0]) if len(rows) == 1 else None


def upgrade_database(url: str) -> None:
    """Bring the database at ``url`` to the newest schema revision (idempotent).

    A database already at :data:`HEAD_REVISION` is left alone without loading Alembic.
    """
    if current_revision(url) == HEAD_REVISION:
        logger.debug("database schema is at the newest revision")
        return
    from alembic import command

    with migration_lock(url):
        command.upgrade(alembic_config(url), "head")
    logger.info("database schema is at the newest revision")

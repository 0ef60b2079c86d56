"""Apply the Alembic migrations in code (the service, the CLI and the workers do so at start)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url

try:
    import fcntl
except ImportError:  # not POSIX: no migration lock (callers retry instead)
    fcntl = None  # type: ignore[assignment]

__all__ = ["alembic_config", "migration_lock", "upgrade_database"]

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parents[1] / "migrations"


def alembic_config(url: str) -> Config:
    """A programmatic Alembic configuration for ``url`` (no ini file needed)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["url"] = url
    return cfg


@contextmanager
def migration_lock(url: str) -> Iterator[None]:
    """Hold the migration lock of a SQLite database (a file lock beside it); no-op otherwise.

    Alembic runs SQLite migrations without a database lock (PostgreSQL's take an advisory lock in
    ``app/migrations/env.py``), and a migration that rebuilds a table must not meet another
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


def upgrade_database(url: str) -> None:
    """Bring the database at ``url`` to the newest schema revision (idempotent)."""
    with migration_lock(url):
        command.upgrade(alembic_config(url), "head")
    logger.info("database schema is at the newest revision")

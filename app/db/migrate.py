"""Apply the Alembic migrations in code (the service and the CLI call this at start)."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config

__all__ = ["alembic_config", "upgrade_database"]

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parents[1] / "migrations"


def alembic_config(url: str) -> Config:
    """A programmatic Alembic configuration for ``url`` (no ini file needed)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["url"] = url
    return cfg


def upgrade_database(url: str) -> None:
    """Bring the database at ``url`` to the newest schema revision (idempotent)."""
    command.upgrade(alembic_config(url), "head")
    logger.info("database schema is at the newest revision")

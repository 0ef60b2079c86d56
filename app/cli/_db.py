"""The database as the CLI sees it: the configured one, migrated to the newest schema."""

from __future__ import annotations

import getpass

from sqlalchemy.orm import Session, sessionmaker

from app.db import get_engine, make_session_factory, upgrade_database
from app.settings import get_settings

__all__ = ["cli_actor", "open_database"]


def open_database() -> sessionmaker[Session]:
    """Sessions of the configured database (``LIVERBURDEN_*``), migrated first."""
    settings = get_settings()
    settings.resolved_home.mkdir(parents=True, exist_ok=True)
    url = settings.resolved_database_url
    upgrade_database(url)
    return make_session_factory(get_engine(url))


def cli_actor() -> str:
    """How a command-line operator appears in the audit trail."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"cli:{user}"

"""The service database: models, engines and sessions, migrations."""

from __future__ import annotations

from app.db.migrate import upgrade_database
from app.db.session import dispose_engine, get_engine, make_session_factory, session_scope

__all__ = [
    "dispose_engine",
    "get_engine",
    "make_session_factory",
    "session_scope",
    "upgrade_database",
]

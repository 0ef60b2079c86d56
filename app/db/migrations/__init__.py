"""Alembic migrations of the service database (applied at start by :mod:`app.db.migrate`)."""

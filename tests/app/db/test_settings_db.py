"""Settings from the environment, and the migrations matching the models."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from app.db import upgrade_database
from app.db.models import Base
from app.settings import Settings, get_settings


def test_defaults_are_embedded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Without configuration: SQLite under ./.liverburden, blobs beside it, no broker."""
    for var in ("LIVERBURDEN_HOME", "LIVERBURDEN_DATABASE_URL", "LIVERBURDEN_BROKER_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    settings = Settings()
    assert settings.resolved_home == tmp_path / ".liverburden"
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / '.liverburden'}/liverburden.db"
    assert settings.blob_dir == tmp_path / ".liverburden" / "blobs"
    assert settings.broker_url is None


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """LIVERBURDEN_* variables set home, database, broker and limits."""
    monkeypatch.setenv("LIVERBURDEN_HOME", str(tmp_path / "h"))
    monkeypatch.setenv("LIVERBURDEN_DATABASE_URL", "postgresql+psycopg://u@db/x")
    monkeypatch.setenv("LIVERBURDEN_BROKER_URL", "redis://localhost:6379/0")
    monkeypatch.setenv("LIVERBURDEN_MAX_UPLOAD_BYTES", "1234")
    monkeypatch.setenv("LIVERBURDEN_WORKERS", "3")
    s = Settings()
    assert (s.resolved_home, s.resolved_database_url, s.broker_url) == (
        tmp_path / "h",
        "postgresql+psycopg://u@db/x",
        "redis://localhost:6379/0",
    )
    assert (s.max_upload_bytes, s.workers) == (1234, 3)


def test_get_settings_is_cached_not_global(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """get_settings reads the environment once until its cache is cleared."""
    get_settings.cache_clear()
    monkeypatch.setenv("LIVERBURDEN_HOME", str(tmp_path / "one"))
    first = get_settings()
    monkeypatch.setenv("LIVERBURDEN_HOME", str(tmp_path / "two"))
    assert get_settings() is first
    get_settings.cache_clear()
    assert get_settings().resolved_home == tmp_path / "two"
    get_settings.cache_clear()


def test_migrations_create_exactly_the_models(tmp_path: Path) -> None:
    """After upgrade the schema has every model table and nothing differs from the models."""
    url = f"sqlite:///{tmp_path / 'm.db'}"
    upgrade_database(url)
    upgrade_database(url)  # idempotent
    engine = create_engine(url)
    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
        )
        tables = set(inspect(conn).get_table_names())
    engine.dispose()
    assert diff == []
    assert set(Base.metadata.tables) <= tables

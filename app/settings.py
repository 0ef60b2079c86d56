"""Service configuration, read from ``LIVERBURDEN_*`` environment variables.

Read it through :func:`get_settings` (cached; tests call ``get_settings.cache_clear()``), never
through an import-time global, so that a process can be pointed at another home or database by its
environment alone.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from dicomio.archive import ArchiveLimits

__all__ = [
    "DEFAULT_STUDY_ID",
    "STUDY_ID_PATTERN",
    "Settings",
    "get_settings",
    "renamed_setting",
]

_MIB = 1 << 20
_ZIP = ArchiveLimits()  # the zip checker's defaults are the service's

#: STUDYID of SDTM datasets when neither the request nor ``LIVERBURDEN_STUDY_ID`` names a trial.
DEFAULT_STUDY_ID = "LIVERBURDEN"
#: What a STUDYID may hold (setting and ``?study_id=``): 1 to 40 letters, digits, '_' and '-'.
STUDY_ID_PATTERN = r"^[A-Za-z0-9_-]{1,40}$"


def renamed_setting(prefix: str, name: str, old_name: str) -> AliasChoices:
    """Return where a renamed setting is read.

    Its field name (keyword arguments), its environment variable, and the variable of its old
    name, still honoured so that a deployment's configuration keeps working after the rename
    (durations gained their unit, ``*_s``).
    """
    return AliasChoices(name, f"{prefix}{name}".upper(), f"{prefix}{old_name}".upper())


class Settings(BaseSettings):
    """Where state lives and how much an upload may hold.

    The embedded default keeps everything under ``home``: a SQLite database file and the
    content-addressed blob folder. ``database_url`` (PostgreSQL) and ``broker_url`` (Redis, for
    Celery workers) switch to the production engines. ``study_id`` (``LIVERBURDEN_STUDY_ID``) is
    the trial's STUDYID in SDTM outputs when the request gives no ``?study_id=``; the query
    parameter still overrides it.
    """

    model_config = SettingsConfigDict(env_prefix="LIVERBURDEN_", extra="ignore")

    home: Path = Field(default=Path(".liverburden"), description="State folder (database, blobs).")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default sqlite:///$LIVERBURDEN_HOME/liverburden.db.",
    )
    broker_url: str | None = Field(default=None, description="Celery broker (redis://...).")
    workers: int = Field(default=2, ge=0, le=64, description="In-process measurement workers.")
    max_upload_bytes: int = Field(default=2048 * _MIB, gt=0, description="Request body limit.")
    max_upload_files: int = Field(default=10_000, gt=0, description="Files in one upload form.")
    max_instance_bytes: int = Field(
        default=1024 * _MIB, gt=0, description="Largest single instance (a STOW-RS part)."
    )
    max_zip_members: int = Field(
        default=_ZIP.max_members, gt=0, description="Files allowed in one zip."
    )
    max_zip_ratio: float = Field(
        default=_ZIP.max_ratio,
        gt=1.0,
        description="Largest uncompressed/compressed size ratio per member.",
    )
    max_zip_uncompressed_bytes: int = Field(
        default=_ZIP.max_total_bytes,
        gt=0,
        description="Largest total uncompressed size of one zip.",
    )
    log_level: str = Field(default="INFO", description="Root log level of the service.")
    job_stale_s: float = Field(
        default=600.0,
        gt=0,
        validation_alias=renamed_setting("LIVERBURDEN_", "job_stale_s", "job_stale_seconds"),
        description="Seconds a running job may go without a heartbeat before it is requeued.",
    )
    study_id: str = Field(
        default=DEFAULT_STUDY_ID,
        pattern=STUDY_ID_PATTERN,
        description="STUDYID of SDTM outputs when the request has no ?study_id= (which overrides).",
    )
    trial_arms: str = Field(
        default="",
        max_length=1000,
        description="The trial's arms, comma-separated (e.g. BE,TACE,DEB): a subject's arm must "
        "be one of them; empty: any arm text is accepted.",
    )

    @property
    def arm_names(self) -> tuple[str, ...]:
        """The trial's arms (``trial_arms`` split at commas), empty when any arm is accepted."""
        return tuple(a.strip() for a in self.trial_arms.split(",") if a.strip())

    @property
    def resolved_home(self) -> Path:
        """The home folder as an absolute path."""
        return self.home.expanduser().resolve()

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file under the home folder."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.resolved_home / 'liverburden.db'}"

    @property
    def archive_limits(self) -> ArchiveLimits:
        """The zip limits of uploads (REST) as the one zip checker takes them."""
        return ArchiveLimits(
            max_total_bytes=self.max_zip_uncompressed_bytes,
            max_members=self.max_zip_members,
            max_ratio=self.max_zip_ratio,
        )

    @property
    def blob_dir(self) -> Path:
        """Root of the content-addressed blob store."""
        return self.resolved_home / "blobs"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process's settings, read once from the environment."""
    return Settings()

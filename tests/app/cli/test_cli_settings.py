"""A bad ``LIVERBURDEN_*`` setting ends a command with one line and exit 2, not a traceback."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from app.jobs.celery.app import CelerySettings
from app.settings import Settings
from tests.app._cli import liverburden


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("LIVERBURDEN_JOB_STALE_S", "s3cr3t-value", "valid number"),
        ("LIVERBURDEN_STUDY_ID", "s3cr3t value!", "pattern"),
    ],
    ids=["number", "pattern"],
)
@pytest.mark.parametrize("command", [["keys", "list"], ["audit", "verify"]], ids=["keys", "audit"])
def test_invalid_setting_exits_2_with_one_line_naming_it(
    tmp_path: Path, variable: str, value: str, expected: str, command: list[str]
) -> None:
    proc = liverburden(tmp_path, *command, env={variable: value})
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: invalid setting "), proc.stderr
    assert variable in lines[0] and expected in lines[0]
    assert "Traceback" not in proc.stderr
    assert "s3cr3t" not in proc.stderr  # values are not repeated (they may be secrets)


@pytest.mark.parametrize(
    ("variable", "read"),
    [
        ("LIVERBURDEN_JOB_STALE_S", lambda: get_settings_fresh().job_stale_s),
        ("LIVERBURDEN_JOB_STALE_SECONDS", lambda: get_settings_fresh().job_stale_s),
        ("LIVERBURDEN_CELERY_VISIBILITY_TIMEOUT_S", lambda: CelerySettings().visibility_timeout_s),
        ("LIVERBURDEN_CELERY_VISIBILITY_TIMEOUT", lambda: CelerySettings().visibility_timeout_s),
        ("LIVERBURDEN_CELERY_RETRY_BACKOFF_MAX", lambda: CelerySettings().retry_backoff_max_s),
        ("LIVERBURDEN_CELERY_SWEEP_INTERVAL", lambda: CelerySettings().sweep_interval_s),
        ("LIVERBURDEN_CELERY_RESEND_AFTER_S", lambda: CelerySettings().resend_after_s),
        ("LIVERBURDEN_CELERY_RESEND_AFTER", lambda: CelerySettings().resend_after_s),
    ],
)
def test_durations_read_their_unit_name_and_their_old_name(
    monkeypatch: pytest.MonkeyPatch, variable: str, read: Callable[[], float]
) -> None:
    """Durations are named ``*_S``; a deployment that still sets the old name keeps its value."""
    monkeypatch.setenv(variable, "42.5")
    assert read() == 42.5
    monkeypatch.delenv(variable)
    assert read() != 42.5


def get_settings_fresh() -> Settings:
    return Settings()

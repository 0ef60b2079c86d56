"""The trial's STUDYID setting (LIVERBURDEN_STUDY_ID): its default, the environment, bad values,
and its use by the SDTM routes when the request has no ``?study_id=``."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from app.db.models import AuditEvent
from app.settings import DEFAULT_STUDY_ID, Settings
from tests.app.conftest import Service, running_service


def test_study_id_setting_defaults_to_liverburden(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without LIVERBURDEN_STUDY_ID the setting is the default STUDYID, LIVERBURDEN."""
    monkeypatch.delenv("LIVERBURDEN_STUDY_ID", raising=False)
    assert Settings().study_id == DEFAULT_STUDY_ID == "LIVERBURDEN"


def test_study_id_setting_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """LIVERBURDEN_STUDY_ID sets the trial's STUDYID."""
    monkeypatch.setenv("LIVERBURDEN_STUDY_ID", "NCT02724540")
    assert Settings().study_id == "NCT02724540"


@pytest.mark.parametrize(
    "value", ["bad id", "", "X" * 41, "NET/01"], ids=["space", "empty", "too-long", "slash"]
)
def test_bad_study_id_setting_is_refused_naming_it(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    """A STUDYID other than 1-40 letters, digits, '_' or '-' is refused, naming the setting."""
    monkeypatch.setenv("LIVERBURDEN_STUDY_ID", value)
    with pytest.raises(ValidationError, match="study_id"):
        Settings()


def _trial_study_ids(service: Service) -> list[str]:
    """The study ids of the audited whole-trial outputs, in order."""
    with service.server.session_factory() as s:
        events = s.execute(
            select(AuditEvent)
            .where(AuditEvent.action == "output.generated", AuditEvent.entity_type == "trial")
            .order_by(AuditEvent.seq)
        ).scalars()
        return [e.entity_id for e in events]


def test_trial_sdtm_uses_the_default_study_id_unless_the_query_names_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """With the setting unset the trial SDTM is made for LIVERBURDEN; ?study_id= overrides it."""
    monkeypatch.delenv("LIVERBURDEN_STUDY_ID", raising=False)
    with running_service(Settings(home=tmp_path / "home", workers=1)) as service:
        c = service.client()
        for params in ({}, {"study_id": "NET-01"}):
            r = c.get("/v1/sdtm/rs", params=params)
            assert r.status_code == 200, r.text
        assert _trial_study_ids(service) == ["LIVERBURDEN", "NET-01"]

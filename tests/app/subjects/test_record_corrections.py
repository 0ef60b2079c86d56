"""Corrections of the trial record with a reason (contracts/trial-record.md, Consistency and
corrections): PATCH of a timepoint's date or label, and voiding of a timepoint, a measurement and a
subject. Each changes the assessment, eligibility, report and SDTM accordingly, keeps the voided
rows in the database and the audit trail, and leaves the audit chain verifiable. SQLite and
PostgreSQL, over HTTP, on a subject measured end to end (tests/app/_outputs_setup.py).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.db.models import Measurement, Subject, Timepoint
from tests.app._outputs_setup import MeasuredSubject, measured_subject
from tests.app.conftest import Service, wait_for_job

REASON = "correction after source document verification"


@pytest.fixture
def record(backend_service: Service, tmp_path: Path) -> MeasuredSubject:
    return measured_subject(backend_service, tmp_path)


def _delete(c: httpx.Client, path: str, reason: str | None = REASON) -> httpx.Response:
    return c.request("DELETE", path, json={} if reason is None else {"reason": reason})


def _sdtm(c: httpx.Client, subject_id: str, domain: str) -> list[dict[str, str]]:
    r = c.get(f"/v1/subjects/{subject_id}/sdtm/{domain}")
    assert r.status_code == 200, r.text
    return list(csv.DictReader(io.StringIO(r.text)))


def _assessment(c: httpx.Client, subject_id: str) -> dict[str, Any]:
    r = c.get(f"/v1/subjects/{subject_id}/assessment")
    assert r.status_code == 200, r.text
    return dict(r.json())


def _verified(svc: Service) -> dict[str, Any]:
    verify = svc.client("admin").get("/v1/audit/verify").json()
    assert verify["ok"], verify
    return dict(verify)


def _events(svc: Service, action: str) -> list[dict[str, Any]]:
    r = svc.client("admin").get("/v1/audit/events", params={"action": action, "limit": 1000})
    assert r.status_code == 200, r.text
    return list(r.json())


def test_patch_timepoint_date_moves_the_visit_everywhere(
    backend_service: Service, record: MeasuredSubject
) -> None:
    """A corrected date shows in the timepoint list, the assessment, SDTM and the audit trail."""
    c = backend_service.client()
    sid, fu = record.subject_id, record.follow_up
    path = f"/v1/subjects/{sid}/timepoints/{fu.timepoint_id}"
    r = c.patch(path, json={"date": "2021-04-12", "reason": REASON})
    assert r.status_code == 200, r.text
    assert r.json()["date"] == "2021-04-12"
    dates = [t["date"] for t in c.get(f"/v1/subjects/{sid}/timepoints").json()]
    assert dates == [record.baseline.date, "2021-04-12"]
    assessed = [t["date"] for t in _assessment(c, sid)["timepoints"]]
    assert "2021-04-12" in assessed and fu.date not in assessed
    assert {row["RSDTC"] for row in _sdtm(c, sid, "rs") if row["RSDTC"]} == {"2021-04-12"}
    (event,) = _events(backend_service, "timepoint.corrected")
    assert event["details"]["before"]["date"] == fu.date
    assert event["details"]["after"]["date"] == "2021-04-12"
    assert event["details"]["reason"] == REASON
    _verified(backend_service)


def test_patch_needs_a_reason_and_a_change(
    backend_service: Service, record: MeasuredSubject
) -> None:
    """No reason, or nothing to change: 422 and the timepoint is as it was."""
    c = backend_service.client()
    path = f"/v1/subjects/{record.subject_id}/timepoints/{record.follow_up.timepoint_id}"
    assert c.patch(path, json={"date": "2021-04-12"}).status_code == 422
    assert c.patch(path, json={"reason": REASON}).status_code == 422
    r = c.patch(path, json={"label": "BASELINE", "reason": REASON})
    assert r.status_code == 409, r.text
    listed = c.get(f"/v1/subjects/{record.subject_id}/timepoints").json()
    assert [(t["label"], t["date"]) for t in listed] == [
        ("BASELINE", record.baseline.date),
        ("WEEK12", record.follow_up.date),
    ]


def test_void_timepoint_leaves_every_reading_and_keeps_the_row(
    backend_service: Service, record: MeasuredSubject
) -> None:
    """A voided follow-up leaves the timepoints, assessment, SDTM and report; its row and
    measurement stay in the database; its label can be used again."""
    c = backend_service.client()
    sid, fu = record.subject_id, record.follow_up
    assert _delete(c, f"/v1/subjects/{sid}/timepoints/{fu.timepoint_id}", None).status_code == 422
    r = _delete(c, f"/v1/subjects/{sid}/timepoints/{fu.timepoint_id}")
    assert r.status_code == 200, r.text
    assert r.json()["entity"] == "timepoint" and r.json()["voided_by"]
    assert [t["label"] for t in c.get(f"/v1/subjects/{sid}/timepoints").json()] == ["BASELINE"]
    assert [t["date"] for t in _assessment(c, sid)["timepoints"]] == [record.baseline.date]
    assert {row["VISIT"] for row in _sdtm(c, sid, "tr")} == {"BASELINE"}
    report = c.get(f"/v1/subjects/{sid}/report", params={"format": "html", "key_images": False})
    assert report.status_code == 200 and "WEEK12" not in report.text
    assert c.get(f"/v1/measurements/{fu.measurement_id}").status_code == 404
    with backend_service.server.session_factory() as s:
        row = s.get(Timepoint, fu.timepoint_id)
        assert row is not None and row.void_reason == REASON and row.voided_at is not None
        assert s.get(Measurement, fu.measurement_id) is not None
    again = c.post(f"/v1/subjects/{sid}/timepoints", json={"label": "WEEK12", "date": "2021-04-05"})
    assert again.status_code == 201, again.text
    assert _events(backend_service, "timepoint.voided")[0]["details"]["reason"] == REASON
    _verified(backend_service)


def test_void_measurement_falls_back_and_leaves_outputs(
    backend_service: Service, record: MeasuredSubject
) -> None:
    """A voided baseline measurement: its reads and SR answer 404, eligibility has no
    measurement to stand on, the audit trail names it."""
    c = backend_service.client()
    mid = record.baseline.measurement_id
    assert c.get(f"/v1/subjects/{record.subject_id}/eligibility").json()["measurement_id"] == mid
    seg = _segmentation(c, record)
    r = _delete(c, f"/v1/measurements/{mid}")
    assert r.status_code == 200, r.text
    assert c.get(f"/v1/measurements/{mid}").status_code == 404
    assert c.get(f"/v1/measurements/{mid}/sr").status_code == 404
    assert c.get(f"/v1/subjects/{record.subject_id}/eligibility").status_code == 404
    assert _delete(c, f"/v1/measurements/{mid}").status_code == 404  # once only
    (event,) = _events(backend_service, "measurement.voided")
    assert event["entity_id"] == mid and event["details"]["reason"] == REASON
    _verified(backend_service)
    again = _measure_again(c, record, seg)  # the identical request measures again, no force needed
    assert again != mid
    assert c.get(f"/v1/subjects/{record.subject_id}/eligibility").json()["measurement_id"] == again


def test_void_subject_leaves_listings_and_trial_outputs(
    backend_service: Service, record: MeasuredSubject
) -> None:
    """A voided subject is gone from the subject list, its reads and the trial-wide SDTM; its row
    stays; its id is not given again."""
    c = backend_service.client()
    sid = record.subject_id
    assert sid in {row["USUBJID"].split("-", 1)[-1] for row in _trial_rows(c)}
    r = _delete(c, f"/v1/subjects/{sid}")
    assert r.status_code == 200, r.text
    assert sid not in [s["subject_id"] for s in c.get("/v1/subjects").json()]
    assert c.get(f"/v1/subjects/{sid}").status_code == 404
    assert c.get(f"/v1/subjects/{sid}/assessment").status_code == 404
    assert sid not in {row["USUBJID"].split("-", 1)[-1] for row in _trial_rows(c)}
    assert c.post("/v1/subjects", json={"subject_id": sid}).status_code == 409
    with backend_service.server.session_factory() as s:
        row = s.execute(select(Subject).where(Subject.subject_id == sid)).scalar_one()
        assert row.voided and row.void_reason == REASON
    _verified(backend_service)


def _trial_rows(c: httpx.Client) -> list[dict[str, str]]:
    r = c.get("/v1/sdtm/tr")
    assert r.status_code == 200, r.text
    return list(csv.DictReader(io.StringIO(r.text)))


def test_edc_key_cannot_correct_or_void(backend_service: Service, record: MeasuredSubject) -> None:
    """Corrections are the radiologist's: an EDC key gets 403 and nothing changes."""
    edc = backend_service.client("edc")
    sid, fu = record.subject_id, record.follow_up
    path = f"/v1/subjects/{sid}/timepoints/{fu.timepoint_id}"
    assert edc.patch(path, json={"date": "2021-04-12", "reason": REASON}).status_code == 403
    assert _delete(edc, path).status_code == 403
    assert _delete(edc, f"/v1/subjects/{sid}").status_code == 403
    assert _delete(edc, f"/v1/measurements/{fu.measurement_id}").status_code == 403
    listed = backend_service.client().get(f"/v1/subjects/{sid}/timepoints").json()
    assert [t["date"] for t in listed] == [record.baseline.date, fu.date]


def _segmentation(c: httpx.Client, record: MeasuredSubject) -> str:
    first = c.get(f"/v1/measurements/{record.baseline.measurement_id}").json()
    return str(first["segmentation_ref"].split(":", 1)[-1])


def _measure_again(
    c: httpx.Client, record: MeasuredSubject, seg: str | None = None, **extra: Any
) -> str:
    """A second measurement of the baseline (its stored series and segmentation, other labels)."""
    seg = seg or _segmentation(c, record)
    job = c.post(
        "/v1/measurements",
        json={
            "timepoint_id": record.baseline.timepoint_id,
            "series_instance_uid": record.baseline.series_instance_uid,
            "segmentation_upload_id": seg,
            **extra,
        },
    )
    assert job.status_code == 202, job.text
    done = wait_for_job(c, job.headers["Location"])
    assert done["status"] == "succeeded", done
    return str(c.get(done["result_url"]).json()["measurement_id"])


def test_measurement_without_liver_never_replaces_the_burden(
    backend_service: Service, record: MeasuredSubject
) -> None:
    """A later baseline measurement with ``liver_label: none`` leaves eligibility and burden on
    the measurement with a liver; PUT .../record picks another one, audited."""
    c = backend_service.client()
    sid, base = record.subject_id, record.baseline
    before = c.get(f"/v1/subjects/{sid}/eligibility").json()
    no_liver = _measure_again(c, record, liver_label="none", force=True)
    after = c.get(f"/v1/subjects/{sid}/eligibility").json()
    assert after["measurement_id"] == base.measurement_id != no_liver
    assert after["burden_fraction"] == before["burden_fraction"] is not None
    path = f"/v1/subjects/{sid}/timepoints/{base.timepoint_id}/record"
    r = c.put(path, json={"measurement_id": no_liver, "reason": "reader's choice"})
    assert r.status_code == 200, r.text
    chosen = c.get(f"/v1/subjects/{sid}/eligibility").json()
    assert chosen["measurement_id"] == no_liver and chosen["burden_fraction"] is None
    r = c.put(path, json={"measurement_id": record.follow_up.measurement_id, "reason": "wrong"})
    assert r.status_code == 422, r.text  # a measurement of another timepoint
    (event,) = _events(backend_service, "timepoint.record_chosen")
    assert (event["details"]["before"], event["details"]["after"]) == (
        base.measurement_id,
        no_liver,
    )
    _verified(backend_service)

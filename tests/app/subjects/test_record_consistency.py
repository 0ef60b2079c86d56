"""The trial record refuses a user's mistake at the door (contracts/trial-record.md, Consistency).

Each refusal is a 4xx problem that says what is wrong and what was expected, never echoing a
patient identifier, and stores nothing: a timepoint on a study that is not stored, on a study
another timepoint uses, on another patient's study, or dated otherwise than the study's StudyDate
without a reason; a measurement of a series outside its timepoint's study. On SQLite and
PostgreSQL, over HTTP.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pydicom
import pytest
from sqlalchemy import func, select

from app.db.models import Job
from tests.app._outputs_setup import _phantom
from tests.app.conftest import Service, dicom_parts

#: The phantoms' StudyDate (phantoms.dicom.STUDY_DATE).
PHANTOM_STUDY_DATE = "2024-01-15"


def _upload(
    c: httpx.Client, folder: Path, seed: int, patient_id: str | None = None
) -> dict[str, Any]:
    """A phantom study (optionally of another PatientID); its study UID, series UID and labels."""
    files, labels = _phantom(folder, seed, 1.0)
    if patient_id is not None:
        for path in files:
            ds = pydicom.dcmread(path)
            ds.PatientID = patient_id
            ds.save_as(path, enforce_file_format=True)
    up = c.post("/v1/uploads", files=dicom_parts(files))
    assert up.status_code == 201, up.text
    study = up.json()["studies"][0]
    return {
        "study": study["study_instance_uid"],
        "series": study["series"][0]["series_instance_uid"],
        "labels": labels,
        "response": up,
    }


def _timepoints(c: httpx.Client, subject_id: str) -> list[dict[str, Any]]:
    r = c.get(f"/v1/subjects/{subject_id}/timepoints")
    assert r.status_code == 200, r.text
    return list(r.json())


def _refused(r: httpx.Response, status: int, *needles: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    problem: dict[str, Any] = r.json()
    for needle in needles:
        assert needle in problem["detail"], problem
    return problem


@pytest.fixture
def client(backend_service: Service) -> httpx.Client:
    c = backend_service.client()
    assert c.post("/v1/subjects", json={"subject_id": "S-1"}).status_code == 201
    return c


def test_timepoint_on_a_study_that_is_not_stored_is_refused(client: httpx.Client) -> None:
    """An unknown study UID is a 422 naming it and the way to store it; no timepoint is made."""
    r = client.post(
        "/v1/subjects/S-1/timepoints",
        json={
            "label": "BL",
            "study_instance_uid": "1.2.826.0.1.3680043.8.498.99",
            "baseline": True,
        },
    )
    _refused(r, 422, "1.2.826.0.1.3680043.8.498.99 is not stored", "upload it first")
    assert _timepoints(client, "S-1") == []


def test_timepoint_without_a_date_takes_the_study_date(
    client: httpx.Client, tmp_path: Path
) -> None:
    """``date`` left out: the visit is dated by the study's StudyDate."""
    s = _upload(client, tmp_path, 501)
    r = client.post(
        "/v1/subjects/S-1/timepoints",
        json={"label": "BL", "study_instance_uid": s["study"], "baseline": True},
    )
    assert r.status_code == 201, r.text
    assert r.json()["date"] == PHANTOM_STUDY_DATE


def test_misdated_timepoint_is_refused_unless_a_reason_is_given(
    backend_service: Service, client: httpx.Client, tmp_path: Path
) -> None:
    """Another date than StudyDate: 422 naming both dates; with date_reason 201 and audited."""
    s = _upload(client, tmp_path, 502)
    body = {"label": "FU1", "date": "2024-04-13", "study_instance_uid": s["study"]}
    r = client.post("/v1/subjects/S-1/timepoints", json=body)
    _refused(r, 422, "2024-04-13 differs from the StudyDate 2024-01-15", "date_reason")
    assert _timepoints(client, "S-1") == []
    reason = "scan date corrected from the site's source document"
    r = client.post("/v1/subjects/S-1/timepoints", json={**body, "date_reason": reason})
    assert r.status_code == 201, r.text
    assert r.json()["date"] == "2024-04-13"
    admin = backend_service.client("admin")
    created = admin.get("/v1/audit/events", params={"action": "timepoint.created"}).json()
    assert created and created[-1]["details"]["date_reason"] == reason
    assert created[-1]["details"]["study_date"] == PHANTOM_STUDY_DATE


def test_study_of_another_timepoint_is_refused(client: httpx.Client, tmp_path: Path) -> None:
    """A study already linked (to this or another subject) is a 409 naming the timepoint."""
    s = _upload(client, tmp_path, 503)
    r = client.post(
        "/v1/subjects/S-1/timepoints",
        json={"label": "BL", "study_instance_uid": s["study"], "baseline": True},
    )
    assert r.status_code == 201, r.text
    r = client.post(
        "/v1/subjects/S-1/timepoints", json={"label": "FU1", "study_instance_uid": s["study"]}
    )
    _refused(r, 409, "already the study of timepoint 'BL' of subject S-1")
    assert client.post("/v1/subjects", json={"subject_id": "S-2"}).status_code == 201
    r = client.post(
        "/v1/subjects/S-2/timepoints", json={"label": "BL", "study_instance_uid": s["study"]}
    )
    _refused(r, 409, "already the study of timepoint")
    assert [t["label"] for t in _timepoints(client, "S-1")] == ["BL"]
    assert _timepoints(client, "S-2") == []


def test_another_patients_study_is_refused_without_naming_the_patient(
    client: httpx.Client, tmp_path: Path
) -> None:
    """A study whose PatientID differs from the subject's other studies: 422, the ID not echoed."""
    mine = _upload(client, tmp_path / "a", 504, patient_id="PAT-ALPHA-1")
    theirs = _upload(client, tmp_path / "b", 505, patient_id="PAT-BRAVO-2")
    r = client.post(
        "/v1/subjects/S-1/timepoints",
        json={"label": "BL", "study_instance_uid": mine["study"], "baseline": True},
    )
    assert r.status_code == 201, r.text
    r = client.post(
        "/v1/subjects/S-1/timepoints",
        json={"label": "FU1", "study_instance_uid": theirs["study"], "date_reason": "phantom date"},
    )
    problem = _refused(r, 422, "belongs to another patient", "expected the same patient's studies")
    assert "PAT-" not in r.text and "ALPHA" not in str(problem) and "BRAVO" not in str(problem)
    assert [t["label"] for t in _timepoints(client, "S-1")] == ["BL"]


def test_measurement_of_a_series_outside_the_timepoint_study_is_refused(
    backend_service: Service, client: httpx.Client, tmp_path: Path
) -> None:
    """Measuring the baseline's series for the follow-up is a 422; no job is queued."""
    base = _upload(client, tmp_path / "a", 506)
    follow = _upload(client, tmp_path / "b", 507)
    client.post(
        "/v1/subjects/S-1/timepoints",
        json={"label": "BL", "study_instance_uid": base["study"], "baseline": True},
    )
    fu = client.post(
        "/v1/subjects/S-1/timepoints",
        json={
            "label": "FU1",
            "study_instance_uid": follow["study"],
            "date": "2024-04-15",
            "date_reason": "phantom date",
        },
    )
    assert fu.status_code == 201, fu.text
    seg = client.post(
        "/v1/segmentations",
        data={"series_instance_uid": base["series"]},
        files={"file": ("labels.nii.gz", base["labels"].read_bytes())},
    )
    assert seg.status_code == 201, seg.text
    r = client.post(
        "/v1/measurements",
        json={
            "timepoint_id": fu.json()["timepoint_id"],
            "series_instance_uid": base["series"],
            "segmentation_upload_id": seg.json()["segmentation_upload_id"],
        },
    )
    _refused(r, 422, f"series {base['series']} is not in study {follow['study']}", "'FU1'")
    with backend_service.server.session_factory() as s:
        assert s.execute(select(func.count()).select_from(Job)).scalar_one() == 0


def test_study_listing_tells_what_a_timepoint_would_link(
    client: httpx.Client, tmp_path: Path
) -> None:
    """GET /v1/studies and the upload's own response show StudyDate, series descriptions,
    phases and a PatientID digest, and never the PatientID itself."""
    import hashlib

    s = _upload(client, tmp_path, 508, patient_id="PAT-LISTED-7")
    listed = {x["study_instance_uid"]: x for x in client.get("/v1/studies").json()}
    study = listed[s["study"]]
    assert study["study_date"] == PHANTOM_STUDY_DATE
    assert study["patient_id_digest"] == hashlib.sha256(b"PAT-LISTED-7").hexdigest()
    (series,) = study["series"]
    assert series["series_instance_uid"] == s["series"]
    assert series["modality"] == "CT" and series["phase"] == "portal_venous"
    assert series["series_description"] and isinstance(series["series_number"], int)
    assert "PAT-LISTED" not in client.get("/v1/studies").text
    (uploaded,) = s["response"].json()["studies"]
    assert "PAT-LISTED" not in s["response"].text
    for key in ("study_date", "study_description", "patient_id_digest"):
        assert uploaded[key] == study[key], key
    (up_series,) = uploaded["series"]
    for key in ("series_number", "series_description", "phase", "modality"):
        assert up_series[key] == series[key], key
    assert up_series["instances"] == series["instances"]


def test_lesion_table_the_engine_would_refuse_is_refused_at_put(client: httpx.Client) -> None:
    """Three liver targets (RECIST 1.1: at most 2 per organ): 422 at PUT naming the rule; the
    table stays as it was, so later assessments and SDTM reads still work."""
    good = [
        {"lesion_id": "T1", "organ": "liver", "lymph_node": False, "role": "target"},
        {"lesion_id": "T2", "organ": "liver", "lymph_node": False, "role": "target"},
    ]
    r = client.put("/v1/subjects/S-1/lesions", json={"reason": "baseline read", "lesions": good})
    assert r.status_code == 200, r.text
    third = {"lesion_id": "T3", "organ": "liver", "lymph_node": False, "role": "target"}
    r = client.put("/v1/subjects/S-1/lesions", json={"reason": "add", "lesions": [*good, third]})
    _refused(r, 422, "RECIST 1.1", "liver")
    table = client.get("/v1/subjects/S-1/lesions").json()
    assert [x["lesion_id"] for x in table["lesions"]] == ["T1", "T2"]


def test_reading_with_an_unknown_status_is_refused_at_put(client: httpx.Client) -> None:
    """A target status ``gone`` is a 422 at PUT listing the valid statuses; nothing stored."""
    lesions = [{"lesion_id": "T1", "organ": "liver", "lymph_node": False, "role": "target"}]
    assert (
        client.put(
            "/v1/subjects/S-1/lesions", json={"reason": "baseline read", "lesions": lesions}
        ).status_code
        == 200
    )
    tp = client.post("/v1/subjects/S-1/timepoints", json={"label": "BL", "date": "2024-01-15"})
    assert tp.status_code == 201, tp.text
    path = f"/v1/subjects/S-1/timepoints/{tp.json()['timepoint_id']}/lesions"
    r = client.put(
        path, json={"reason": "read", "measurements": [{"lesion_id": "T1", "status": "gone"}]}
    )
    _refused(r, 422, "'gone'", "target")
    table = client.get("/v1/subjects/S-1/lesions").json()
    assert table["lesions"][0]["measurements"] == []


def test_trial_outputs_say_who_is_left_out_and_why(
    backend_service: Service, client: httpx.Client
) -> None:
    """A subject the trial-wide SDTM leaves out is listed with the reason, for EDC keys too."""
    r = client.get("/v1/sdtm/rs")
    assert r.status_code == 200, r.text
    assert r.headers["X-Liverburden-Skipped-Count"] == "1"
    left_out = backend_service.client("edc").get("/v1/sdtm-left-out")
    assert left_out.status_code == 200, left_out.text
    (entry,) = left_out.json()
    assert entry["subject_id"] == "S-1" and "baseline" in entry["reason"]


def test_seg_of_another_series_is_refused_before_any_job(
    backend_service: Service, client: httpx.Client, tmp_path: Path
) -> None:
    """The sample's DICOM SEG references the sample CT: measuring another series with it is a 422
    naming both series; no job is queued."""
    from tests.conftest import SAMPLE_DICOM

    seg_ds = pydicom.dcmread(SAMPLE_DICOM / "seg.dcm", stop_before_pixels=True)
    r = client.post(
        "/v1/uploads",
        files=dicom_parts([SAMPLE_DICOM / "seg.dcm", *sorted((SAMPLE_DICOM / "ct").glob("*.dcm"))]),
    )
    assert r.status_code == 201, r.text
    other = _upload(client, tmp_path, 509)
    tp = client.post(
        "/v1/subjects/S-1/timepoints",
        json={"label": "BL", "study_instance_uid": other["study"], "baseline": True},
    )
    assert tp.status_code == 201, tp.text
    r = client.post(
        "/v1/measurements",
        json={
            "timepoint_id": tp.json()["timepoint_id"],
            "series_instance_uid": other["series"],
            "segmentation_sop_instance_uid": seg_ds.SOPInstanceUID,
        },
    )
    sample_series = seg_ds.ReferencedSeriesSequence[0].SeriesInstanceUID
    _refused(r, 422, f"references series {sample_series}", f"not {other['series']}")
    with backend_service.server.session_factory() as s:
        assert s.execute(select(func.count()).select_from(Job)).scalar_one() == 0

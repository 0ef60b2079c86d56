"""End to end through HTTP with the real pipeline: upload the sample study and its segmentation,
create subject and timepoint, run a job, poll it, read eligibility with an EDC key -- on the
embedded SQLite default and on PostgreSQL."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from app.settings import Settings
from app.version import ALGORITHM_VERSION
from tests.app.conftest import Service, dicom_parts, running_service, wait_for_job
from tests.conftest import SAMPLE_DICOM


@pytest.fixture(scope="module")
def sample() -> dict[str, Any]:
    """The bundled sample study's truth (sample_dicom/truth.json)."""
    truth_file = SAMPLE_DICOM / "truth.json"
    if not truth_file.is_file():
        pytest.fail("sample_dicom/truth.json is missing; run python -m phantoms sample_dicom")
    return dict(json.loads(truth_file.read_text(encoding="utf-8")))


def _upload_sample(svc: Service) -> tuple[str, str]:
    files = sorted((SAMPLE_DICOM / "ct").glob("*.dcm"))
    r = svc.client().post("/v1/uploads", files=dicom_parts(files))
    assert r.status_code == 201, r.text
    study = r.json()["studies"][0]
    return study["study_instance_uid"], study["series"][0]["series_instance_uid"]


def _close(a: float | None, b: float, rel: float = 1e-6) -> bool:
    return a is not None and abs(a - b) <= rel * max(1.0, abs(b))


def test_sample_study_end_to_end(backend_service: Service, sample: dict[str, Any]) -> None:
    """Label-map and SEG jobs both reproduce the sample's truth; the EDC reads eligibility."""
    svc = backend_service
    c = svc.client()
    study_uid, series_uid = _upload_sample(svc)
    assert series_uid == sample["series"]["series_instance_uid"]
    seg_upload = c.post(
        "/v1/segmentations",
        data={"series_instance_uid": series_uid},
        files={"file": ("labels.nii.gz", (SAMPLE_DICOM / "labels.nii.gz").read_bytes())},
    )
    assert seg_upload.status_code == 201, seg_upload.text
    seg_dcm = c.post("/v1/uploads", files=dicom_parts([SAMPLE_DICOM / "seg.dcm"]))
    assert seg_dcm.status_code == 201, seg_dcm.text
    seg_sop = dicomio_sop_uid(SAMPLE_DICOM / "seg.dcm")
    assert c.post("/v1/subjects", json={"subject_id": "S-001", "arm": "TAE"}).status_code == 201
    tp = c.post(
        "/v1/subjects/S-001/timepoints",
        json={
            "label": "baseline",
            "date": "2020-01-01",
            "study_instance_uid": study_uid,
            "date_reason": "synthetic phantoms share one StudyDate",
            "baseline": True,
        },
    ).json()["timepoint_id"]

    requests = [
        {
            "timepoint_id": tp,
            "series_instance_uid": series_uid,
            "segmentation_upload_id": seg_upload.json()["segmentation_upload_id"],
        },
        {
            "timepoint_id": tp,
            "series_instance_uid": series_uid,
            "segmentation_sop_instance_uid": seg_sop,
        },
    ]
    results = []
    for body in requests:
        r = c.post("/v1/measurements", json=body)
        assert r.status_code == 202, r.text
        job = wait_for_job(c, r.headers["Location"], timeout_s=300)
        assert job["status"] == "succeeded", job
        results.append(c.get(job["result_url"]).json())
    for m in results:
        assert _close(m["liver_volume_ml"], sample["liver_volume_ml"])
        assert _close(m["tumor_volume_ml"], sample["tumor_volume_ml"])
        assert _close(m["burden_fraction"], sample["burden_fraction"])
        assert m["lesion_count"] == len(sample["lesions"])
        assert m["series"]["phase"] == "portal_venous"
        assert len(m["input_sha256"]) == 64 and m["algorithm_version"] == ALGORITHM_VERSION

    edc = svc.client("edc")
    elig = edc.get("/v1/subjects/S-001/eligibility")
    assert elig.status_code == 200, elig.text
    e = elig.json()
    assert e["measurement_id"] == results[-1]["measurement_id"]
    assert (e["burden_le_70pct"], e["burden_gt_25pct"], e["measurable_liver_lesion"]) == (
        True,
        False,
        True,
    )
    assert e["liver_progression_by_recist"] is None
    assert edc.get(f"/v1/measurements/{e['measurement_id']}").status_code == 403
    assert svc.client("admin").get("/v1/audit/verify").json()["ok"]


def dicomio_sop_uid(path: Path) -> str:
    """SOP Instance UID of a DICOM file (header only)."""
    import pydicom

    return str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID)


@pytest.mark.postgres
def test_concurrent_writers_on_postgres(postgres_url: str, tmp_path: Path) -> None:
    """Concurrent identical uploads on PostgreSQL store one copy and keep one audit chain."""
    settings = Settings(home=tmp_path / "home", workers=0, database_url=postgres_url)
    files = sorted((SAMPLE_DICOM / "ct").glob("*.dcm"))[:12]
    statuses: list[int] = []
    with running_service(settings) as svc:
        barrier = threading.Barrier(5)

        def send() -> None:
            client = svc.client()
            barrier.wait()
            statuses.append(client.post("/v1/uploads", files=dicom_parts(files)).status_code)

        threads = [threading.Thread(target=send) for _ in range(5)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        listed = svc.client().get("/v1/studies").json()
        verify = svc.client("admin").get("/v1/audit/verify").json()
    assert statuses == [201] * 5
    assert listed[0]["series"][0]["instances"] == len(files)
    assert verify["ok"] and verify["events"] == 3 + len(files)  # 3 key events in the fixture


@pytest.mark.postgres
def test_postgres_schema_matches_the_models(postgres_url: str) -> None:
    """The migrations build on PostgreSQL exactly the schema the models describe."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import create_engine

    from app.db import upgrade_database
    from app.db.models import Base

    upgrade_database(postgres_url)
    engine = create_engine(postgres_url)
    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
        )
    engine.dispose()
    assert diff == []

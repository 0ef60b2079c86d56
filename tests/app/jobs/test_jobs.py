"""Measurement jobs: atomic claims, idempotent runs, deduplication, versions, failures, restarts.

The pipeline is replaced by a recording fake here (the real one runs in test_end_to_end.py), so
these tests check the job machinery alone.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import httpx
import numpy as np
import pytest
from sqlalchemy import select, update

from app.db.models import Job
from app.db.session import session_scope
from app.jobs.engine import JobContext, run_job
from app.measure import pipeline
from app.measure.masks import MeasuredMasks
from app.measure.result import MeasurementResult
from dicomio.errors import LabelError
from tests.app.conftest import SeriesFiles, Service, dicom_parts, running_service, wait_for_job


class FakePipeline:
    """Stands in for measure_series: counts calls, can block, fail or report progress."""

    def __init__(self) -> None:
        self.calls = 0
        self.release = threading.Event()
        self.release.set()
        self.error: Exception | None = None
        self.lock = threading.Lock()

    def __call__(self, request: Any, progress: Any = None) -> pipeline.Measured:
        with self.lock:
            self.calls += 1
        assert request.series.is_dir() and request.labels.is_file()
        if progress:
            progress(0.5, "half way")
        assert self.release.wait(30)
        if self.error is not None:
            raise self.error
        n = len(list(request.series.iterdir()))
        result = MeasurementResult.from_json(
            {
                "series": {"slices": n, "spacing_mm": [1.0, 1.0, 1.0]},
                "liver_volume_ml": 2.0,
                "tumor_volume_ml": 1.0,
                "burden_fraction": 0.5,
                "lesions": [],
                "inputs": {"input_sha256": "c" * 64},
                "algorithm_version": "0.1.0",
            }
        )
        empty = np.zeros((1, 1, 1), dtype=np.int32)
        return pipeline.Measured(
            result, MeasuredMasks((n, 1, 1), (0, 0, 0), empty, empty > 0, None)
        )


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakePipeline:
    """The fake pipeline, installed."""
    f = FakePipeline()
    monkeypatch.setattr(pipeline, "measure_series", f)
    return f


@pytest.fixture
def service(backend_service: Service) -> Service:
    """Every job test runs on SQLite and on PostgreSQL."""
    return backend_service


@pytest.fixture
def request_body(service: Service, ct_series: SeriesFiles) -> dict[str, Any]:
    """An uploaded series, its label map, a subject and baseline: a measurement request."""
    c = service.client()
    up = c.post("/v1/uploads", files=dicom_parts(ct_series.files)).json()
    series_uid = up["studies"][0]["series"][0]["series_instance_uid"]
    seg = c.post(
        "/v1/segmentations",
        data={"series_instance_uid": series_uid},
        files={"file": ("labels.nii.gz", ct_series.labels.read_bytes())},
    )
    assert seg.status_code == 201, seg.text
    c.post("/v1/subjects", json={"subject_id": "S-1"})
    tp = c.post(
        "/v1/subjects/S-1/timepoints",
        json={"label": "base", "date": "2020-01-01", "baseline": True},
    ).json()
    return {
        "timepoint_id": tp["timepoint_id"],
        "series_instance_uid": series_uid,
        "segmentation_upload_id": seg.json()["segmentation_upload_id"],
    }


def _submit(client: httpx.Client, body: dict[str, Any]) -> httpx.Response:
    r = client.post("/v1/measurements", json=body)
    assert r.status_code == 202, r.text
    assert r.headers["location"] == f"/v1/jobs/{r.json()['job_id']}"
    return r


def test_job_runs_to_a_versioned_measurement(
    service: Service, fake: FakePipeline, request_body: dict[str, Any], ct_series: SeriesFiles
) -> None:
    """202 + Location, then the job succeeds and its result carries identity and provenance."""
    c = service.client()
    r = _submit(c, request_body)
    job = wait_for_job(c, r.headers["location"])
    assert job["status"] == "succeeded", job
    assert job["progress"] == 1.0
    m = c.get(job["result_url"]).json()
    assert m["series"]["slices"] == len(ct_series.files)  # every stored instance materialised
    assert (m["timepoint_id"], m["input_sha256"], m["version"]) == (
        request_body["timepoint_id"],
        "c" * 64,
        1,
    )
    assert m["created_by"].startswith("radiologist:")
    assert {"measurement_id", "created_at"} <= m.keys()


def test_identical_request_is_deduplicated_and_force_makes_a_version(
    service: Service, fake: FakePipeline, request_body: dict[str, Any]
) -> None:
    """The same request returns the same job; other labels or ``force`` make new versions."""
    c = service.client()
    first = _submit(c, request_body).json()["job_id"]
    wait_for_job(c, f"/v1/jobs/{first}")
    assert _submit(c, request_body).json()["job_id"] == first
    other_labels = _submit(c, {**request_body, "liver_label": "1"}).json()["job_id"]
    assert other_labels != first
    forced = _submit(c, {**request_body, "force": True}).json()["job_id"]
    assert forced != first
    versions = {
        c.get(wait_for_job(c, f"/v1/jobs/{j}")["result_url"]).json()["version"]
        for j in (other_labels, forced)
    }
    assert versions == {2, 3}  # versions count per (timepoint, series, segmentation)
    assert fake.calls == 3


def test_bad_input_fails_the_job_with_its_problem(
    service: Service, fake: FakePipeline, request_body: dict[str, Any]
) -> None:
    """A domain error fails the job with its message and problem type."""
    fake.error = LabelError("label 7 not found; expected one of 1, 2")
    c = service.client()
    job = wait_for_job(c, _submit(c, request_body).headers["location"])
    assert job["status"] == "failed"
    assert job["error"] == "label 7 not found; expected one of 1, 2"
    assert job["error_type"].endswith(":label")
    assert job["result_url"] is None
    events = service.client("admin").get(
        "/v1/audit/events", params={"action": "measurement.failed"}
    )
    assert [e["entity_id"] for e in events.json()] == [job["job_id"]]


def test_unexpected_error_hides_details(
    service: Service, fake: FakePipeline, request_body: dict[str, Any]
) -> None:
    """An internal error fails the job with a generic message only."""
    fake.error = RuntimeError("/secret/path/Doe^John")
    c = service.client()
    job = wait_for_job(c, _submit(c, request_body).headers["location"])
    assert job["status"] == "failed"
    assert "Doe" not in job["error"] and job["error_type"].endswith("internal-error")


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"timepoint_id": "nope"}, 404),
        ({"series_instance_uid": "1.2.3.4"}, 404),
        ({"segmentation_upload_id": None}, 422),
        ({"segmentation_sop_instance_uid": "1.2.3"}, 422),
    ],
    ids=["timepoint", "series", "no-segmentation", "two-segmentations"],
)
def test_bad_requests(
    service: Service, request_body: dict[str, Any], change: dict[str, Any], status: int
) -> None:
    """Unknown timepoints or series are 404; zero or two segmentations are 422."""
    r = service.client().post("/v1/measurements", json={**request_body, **change})
    assert r.status_code == status, r.text


def test_claim_is_atomic_and_run_job_idempotent(
    service: Service, fake: FakePipeline, request_body: dict[str, Any]
) -> None:
    """Four workers handed one job run it once; running a finished job again does nothing."""
    settings = service.settings
    fake.release.clear()
    c = service.client()
    job_id = _submit(c, request_body).json()["job_id"]
    ctxs = [JobContext.from_settings(settings) for _ in range(4)]
    ctxs = [
        JobContext(x.session_factory, x.blobstore, x.scratch_dir, f"w{i}")
        for i, x in enumerate(ctxs)
    ]
    results: list[str] = []
    threads = [
        threading.Thread(target=lambda x=x: results.append(run_job(job_id, x))) for x in ctxs
    ]
    for t in threads:
        t.start()
    time.sleep(0.3)
    fake.release.set()
    for t in threads:
        t.join()
    final = wait_for_job(c, f"/v1/jobs/{job_id}")
    assert final["status"] == "succeeded"
    assert fake.calls == 1
    assert final["attempts"] == 1
    assert run_job(job_id, ctxs[0]) == "succeeded"
    assert fake.calls == 1


def test_restart_requeues_jobs_of_a_dead_worker(
    tmp_path: Any, fake: FakePipeline, ct_series: SeriesFiles
) -> None:
    """A job left running by a killed server is requeued and finished after a restart."""
    from app.settings import Settings

    settings = Settings(home=tmp_path / "h", workers=0)
    with running_service(settings) as svc:
        c = svc.client()
        up = c.post("/v1/uploads", files=dicom_parts(ct_series.files)).json()
        uid = up["studies"][0]["series"][0]["series_instance_uid"]
        seg = c.post(
            "/v1/segmentations",
            data={"series_instance_uid": uid},
            files={"file": ("l.nii.gz", ct_series.labels.read_bytes())},
        ).json()
        c.post("/v1/subjects", json={"subject_id": "S-9"})
        tp = c.post(
            "/v1/subjects/S-9/timepoints",
            json={"label": "b", "date": "2020-01-01", "baseline": True},
        ).json()
        job_id = _submit(
            c,
            {
                "timepoint_id": tp["timepoint_id"],
                "series_instance_uid": uid,
                "segmentation_upload_id": seg["segmentation_upload_id"],
            },
        ).json()["job_id"]
        with session_scope(svc.server.session_factory) as s:  # as if a dead process held it
            s.execute(
                update(Job)
                .where(Job.id == job_id)
                .values(status="running", claimed_by=f"{socket.gethostname()}:999999", attempts=1)
            )
    settings_again = Settings(home=tmp_path / "h", workers=1)
    with running_service(settings_again) as svc:
        job = wait_for_job(svc.client(), f"/v1/jobs/{job_id}")
        assert job["status"] == "succeeded"
        assert job["attempts"] == 2
        with svc.server.session_factory() as s:
            assert s.execute(select(Job.status)).scalars().all() == ["succeeded"]

"""Output routes' problems: unknown ids (404), bad parameters and unassessable subjects (422), and
a series that changed after its measurement (409), all as problem+json."""

from __future__ import annotations

from pathlib import Path

import httpx
import pydicom
import pytest
from pydicom.uid import generate_uid

from tests.app.conftest import SeriesFiles, Service, dicom_parts, wait_for_job

PROBLEM = "application/problem+json"


def _problem(r: httpx.Response, status: int, slug: str) -> dict[str, object]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    body: dict[str, object] = r.json()
    assert str(body["type"]).endswith(slug)
    assert {"type", "title", "status", "detail"} <= set(body)
    return body


@pytest.mark.parametrize(
    ("role", "path"),
    [
        ("radiologist", "/v1/measurements/nope/sr"),
        ("radiologist", "/v1/measurements/nope/seg"),
        ("radiologist", "/v1/subjects/S-404/sdtm/tu"),
        ("edc", "/v1/subjects/S-404/sdtm/rs?format=xpt"),
        ("radiologist", "/v1/subjects/S-404/fhir"),
        ("radiologist", "/v1/subjects/S-404/report"),
        ("radiologist", "/v1/subjects/S-404/report?format=pdf"),
    ],
    ids=["sr", "seg", "sdtm-tu", "sdtm-rs-edc", "fhir", "report", "report-pdf"],
)
def test_unknown_ids_are_404_problems(service: Service, role: str, path: str) -> None:
    """An unknown measurement or subject is a 404 problem naming what was missing."""
    body = _problem(service.client(role).get(path), 404, "not-found")
    assert "nope" in str(body["detail"]) or "S-404" in str(body["detail"])


@pytest.mark.parametrize(
    "path",
    [
        "/v1/subjects/S-1/sdtm/dm",
        "/v1/subjects/S-1/sdtm/TU",
        "/v1/subjects/S-1/sdtm/tu?format=json",
        "/v1/subjects/S-1/sdtm/tu?study_id=bad%20id",
        "/v1/sdtm/ae",
        "/v1/subjects/S-1/report?format=docx",
    ],
    ids=["domain", "domain-case", "format", "study-id", "trial-domain", "report-format"],
)
def test_bad_parameters_are_422_problems(service: Service, path: str) -> None:
    """Domains other than tu|tr|rs and unknown formats are 422 problems."""
    _problem(service.client().get(path), 422, "invalid-request")


def test_subject_without_baseline_or_lesions_is_a_422_problem(service: Service) -> None:
    """SDTM and the report need an assessable lesion table; the problem says what is missing."""
    c = service.client()
    assert c.post("/v1/subjects", json={"subject_id": "S-1"}).status_code == 201
    body = _problem(c.get("/v1/subjects/S-1/sdtm/rs"), 422, "invalid-request")
    assert "baseline" in str(body["detail"])
    r = c.post(
        "/v1/subjects/S-1/timepoints", json={"label": "bl", "date": "2021-01-01", "baseline": True}
    )
    assert r.status_code == 201, r.text
    for path in ("/v1/subjects/S-1/sdtm/tu", "/v1/subjects/S-1/report"):
        body = _problem(c.get(path), 422, "invalid-request")
        assert "lesion table" in str(body["detail"])


def test_fhir_of_an_unmeasured_subject_is_an_empty_bundle(service: Service) -> None:
    """A subject without measurements gets a valid Bundle with no entries."""
    c = service.client()
    assert c.post("/v1/subjects", json={"subject_id": "S-2"}).status_code == 201
    r = c.get("/v1/subjects/S-2/fhir")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/fhir+json")
    bundle = r.json()
    assert (bundle["resourceType"], bundle["type"]) == ("Bundle", "collection")
    assert "entry" not in bundle


def _extra_slice(files: tuple[Path, ...], out: Path) -> Path:
    """A new instance of the same series, one slice beyond the last."""
    ds = pydicom.dcmread(files[-1])
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.InstanceNumber = len(files) + 1
    position = [float(v) for v in ds.ImagePositionPatient]
    ds.ImagePositionPatient = [position[0], position[1], position[2] + 2.5]
    path = out / "extra.dcm"
    ds.save_as(path)
    return path


def test_series_changed_after_the_measurement_is_a_409_problem(
    service: Service, ct_series: SeriesFiles, tmp_path: Path
) -> None:
    """Instances added to the series after measuring make SR/SEG a 409: they would not match."""
    c = service.client()
    up = c.post("/v1/uploads", files=dicom_parts(ct_series.files)).json()["studies"][0]
    series_uid = up["series"][0]["series_instance_uid"]
    assert c.post("/v1/subjects", json={"subject_id": "S-3"}).status_code == 201
    tp = c.post(
        "/v1/subjects/S-3/timepoints", json={"label": "bl", "date": "2021-01-01", "baseline": True}
    ).json()["timepoint_id"]
    seg = c.post(
        "/v1/segmentations",
        data={"series_instance_uid": series_uid},
        files={"file": ("labels.nii.gz", ct_series.labels.read_bytes())},
    ).json()["segmentation_upload_id"]
    job = c.post(
        "/v1/measurements",
        json={
            "timepoint_id": tp,
            "series_instance_uid": series_uid,
            "segmentation_upload_id": seg,
        },
    )
    done = wait_for_job(c, job.headers["Location"])
    assert done["status"] == "succeeded", done
    mid = done["result_url"].rsplit("/", 1)[-1]
    assert c.get(f"/v1/measurements/{mid}/sr").status_code == 200
    extra = c.post("/v1/uploads", files=dicom_parts([_extra_slice(ct_series.files, tmp_path)]))
    assert extra.status_code == 201, extra.text
    for kind in ("sr", "seg"):
        body = _problem(c.get(f"/v1/measurements/{mid}/{kind}"), 409, "conflict")
        assert "changed since measurement" in str(body["detail"])

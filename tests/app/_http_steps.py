"""The steps most service tests start with, over HTTP: store a series, make a baseline, upload
its labels. Each step asserts the service's answer, so a broken step fails where it happens."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.app.conftest import dicom_parts, wait_for_job

#: Generated phantoms all carry one StudyDate; a timepoint dated otherwise must say why.
PHANTOM_DATE_REASON = "synthetic phantoms share one StudyDate"


@dataclass(frozen=True)
class StoredSeries:
    """The study and series an upload stored."""

    study_uid: str
    series_uid: str


def upload_series(client: httpx.Client, files: tuple[Path, ...] | list[Path]) -> StoredSeries:
    """Upload one series' DICOM files (201); its study and series UIDs."""
    up = client.post("/v1/uploads", files=dicom_parts(files))
    assert up.status_code == 201, up.text
    study = up.json()["studies"][0]
    return StoredSeries(study["study_instance_uid"], study["series"][0]["series_instance_uid"])


def new_subject_with_baseline(
    client: httpx.Client, subject_id: str, study_uid: str, date: str, label: str = "baseline"
) -> str:
    """Create ``subject_id`` and its baseline timepoint on ``study_uid`` (phantom date); its id."""
    made = client.post("/v1/subjects", json={"subject_id": subject_id})
    assert made.status_code == 201, made.text
    tp = client.post(
        f"/v1/subjects/{subject_id}/timepoints",
        json={
            "label": label,
            "date": date,
            "study_instance_uid": study_uid,
            "date_reason": PHANTOM_DATE_REASON,
            "baseline": True,
        },
    )
    assert tp.status_code == 201, tp.text
    return str(tp.json()["timepoint_id"])


def upload_labels(client: httpx.Client, series_uid: str, labels: Path) -> str:
    """Upload a NIfTI label map for ``series_uid`` (201); its segmentation upload id."""
    seg = client.post(
        "/v1/segmentations",
        data={"series_instance_uid": series_uid},
        files={"file": ("labels.nii.gz", labels.read_bytes())},
    )
    assert seg.status_code == 201, seg.text
    return str(seg.json()["segmentation_upload_id"])


def measure(
    client: httpx.Client, timepoint_id: str, series_uid: str, segmentation_upload_id: str
) -> dict[str, Any]:
    """Request a measurement (202) and wait for its job to succeed; the finished job."""
    job = client.post(
        "/v1/measurements",
        json={
            "timepoint_id": timepoint_id,
            "series_instance_uid": series_uid,
            "segmentation_upload_id": segmentation_upload_id,
        },
    )
    assert job.status_code == 202, job.text
    done = wait_for_job(client, job.headers["location"])
    assert done["status"] == "succeeded", done
    return done


def measured_baseline(
    client: httpx.Client, subject_id: str, files: tuple[Path, ...], labels: Path, date: str
) -> str:
    """A subject whose baseline is measured from ``files`` and ``labels``: the measurement id."""
    stored = upload_series(client, files)
    tp = new_subject_with_baseline(client, subject_id, stored.study_uid, date)
    seg = upload_labels(client, stored.series_uid, labels)
    return str(measure(client, tp, stored.series_uid, seg)["result_url"]).rsplit("/", 1)[-1]

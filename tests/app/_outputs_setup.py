"""A measured subject for the output routes: two CT phantom studies (baseline and week 12, two
liver lesions shrinking by a third), each uploaded, measured by a job, and read into the lesion
table (T1, T2 linked to the measured lesions), all through HTTP."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.app.conftest import Service, dicom_parts, wait_for_job

SUBJECT = "S-OUT-1"
ARM = "PRRT"


@dataclass(frozen=True)
class MeasuredTimepoint:
    """One timepoint of the subject: its ids and its measurement JSON (GET /v1/measurements)."""

    label: str
    date: str
    timepoint_id: str
    series_instance_uid: str
    measurement: dict[str, Any]

    @property
    def measurement_id(self) -> str:
        return str(self.measurement["measurement_id"])


@dataclass(frozen=True)
class MeasuredSubject:
    """The subject and its two measured timepoints, and a second subject without lesions."""

    subject_id: str
    baseline: MeasuredTimepoint
    follow_up: MeasuredTimepoint
    unassessed_subject_id: str


def _phantom(out: Path, seed: int, scale: float) -> tuple[list[Path], Path]:
    """A 12-slice 64x64 CT with a liver and two separate lesions scaled by ``scale``."""
    from phantoms import (
        LesionSpec,
        PhantomSpec,
        make_phantom,
        write_dicom_series,
        write_label_nifti,
    )

    spec = PhantomSpec(
        shape_zyx=(12, 64, 64),
        spacing_zyx_mm=(2.5, 2.0, 2.0),
        liver_center_lps_mm=(-5.0, 0.0, 0.0),
        liver_semi_axes_mm=(55.0, 48.0, 14.0),
        lesions=(
            LesionSpec((-28.0, -6.0, 0.0), (14.0 * scale, 11.0 * scale, 6.0)),
            LesionSpec((14.0, 18.0, 0.0), (9.0 * scale, 8.0 * scale, 5.0)),
        ),
        body_semi_axes_xy_mm=(62.0, 62.0),
        seed=seed,
    )
    phantom = make_phantom(spec)
    files = write_dicom_series(phantom, out / "ct")
    labels = write_label_nifti(phantom, out / "labels.nii.gz")
    return files, labels


def upload_and_measure(
    c: httpx.Client,
    files: list[Path],
    labels: Path,
    subject_id: str,
    label: str,
    date: str | None,
    baseline: bool,
    lesion_count: int | None = 2,
) -> MeasuredTimepoint:
    """Upload a series, link a timepoint of ``subject_id`` to its study, upload its label map,
    run the measurement job; the timepoint with its measurement JSON (``lesion_count`` lesions,
    when given)."""
    up = c.post("/v1/uploads", files=dicom_parts(files))
    assert up.status_code == 201, up.text
    study = up.json()["studies"][0]
    series_uid = study["series"][0]["series_instance_uid"]
    body = {"label": label, "study_instance_uid": study["study_instance_uid"], "baseline": baseline}
    if date is not None:
        body.update(date=date, date_reason="synthetic phantoms share one StudyDate")
    tp = c.post(f"/v1/subjects/{subject_id}/timepoints", json=body)
    assert tp.status_code == 201, tp.text
    seg = c.post(
        "/v1/segmentations",
        data={"series_instance_uid": series_uid},
        files={"file": ("labels.nii.gz", labels.read_bytes())},
    )
    assert seg.status_code == 201, seg.text
    job = c.post(
        "/v1/measurements",
        json={
            "timepoint_id": tp.json()["timepoint_id"],
            "series_instance_uid": series_uid,
            "segmentation_upload_id": seg.json()["segmentation_upload_id"],
        },
    )
    assert job.status_code == 202, job.text
    done = wait_for_job(c, job.headers["Location"])
    assert done["status"] == "succeeded", done
    result = c.get(done["result_url"]).json()
    assert lesion_count is None or result["lesion_count"] == lesion_count, result
    return MeasuredTimepoint(
        label, tp.json()["date"], tp.json()["timepoint_id"], series_uid, result
    )


def _measure(
    svc: Service, folder: Path, seed: int, scale: float, label: str, date: str, baseline: bool
) -> MeasuredTimepoint:
    files, labels = _phantom(folder, seed, scale)
    return upload_and_measure(svc.client(), files, labels, SUBJECT, label, date, baseline)


def _read_lesions(svc: Service, tp: MeasuredTimepoint) -> None:
    """T1/T2 of the lesion table take the long axes of the measured L1/L2 (mask readings)."""
    r = svc.client().put(
        f"/v1/subjects/{SUBJECT}/timepoints/{tp.timepoint_id}/lesions",
        json={
            "reason": "mask-derived read",
            "measurements": [
                {
                    "lesion_id": table_id,
                    "measurement_id": tp.measurement_id,
                    "measurement_lesion_id": measured_id,
                }
                for table_id, measured_id in (("T1", "L1"), ("T2", "L2"))
            ],
        },
    )
    assert r.status_code == 200, r.text


def measured_subject(svc: Service, folder: Path) -> MeasuredSubject:
    """Create and measure the subject (see the module docstring)."""
    c = svc.client()
    assert c.post("/v1/subjects", json={"subject_id": SUBJECT, "arm": ARM}).status_code == 201
    base = _measure(svc, folder / "base", 21, 1.0, "BASELINE", "2021-01-04", True)
    follow = _measure(svc, folder / "fu", 22, 0.6, "WEEK12", "2021-04-05", False)
    lesions = [
        {"lesion_id": "T1", "organ": "liver", "lymph_node": False, "role": "target"},
        {"lesion_id": "T2", "organ": "liver", "lymph_node": False, "role": "target"},
    ]
    r = c.put(f"/v1/subjects/{SUBJECT}/lesions", json={"reason": "baseline", "lesions": lesions})
    assert r.status_code == 200, r.text
    _read_lesions(svc, base)
    _read_lesions(svc, follow)
    other = "S-OUT-2"
    assert c.post("/v1/subjects", json={"subject_id": other}).status_code == 201
    return MeasuredSubject(SUBJECT, base, follow, other)

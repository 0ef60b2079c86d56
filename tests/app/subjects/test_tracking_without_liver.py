"""Measurements without a liver add their lesions to the record, never a burden (issue 15).

contracts/trial-record.md: a timepoint's burden comes from its measurement of record (the latest
with a liver); measurements without a liver add their lesions to the timepoint's lesion record.
Each visit is one phantom CT series read twice: a liver segmentation (liver, liver lesions A and
C) and a second one without a liver holding an adrenal mass (``other_tumor_labels``) and lesion A
again. Baseline in the order liver then adrenal, the follow-up (patient moved, mass grown) in the
other order: the record and the links must not depend on which measurement came first, the
adrenal mass is a target (room under RECIST 1.1's two per organ, five in all), lesion A measured
twice is one lesion, and the burden stays the liver measurement's. SQLite and PostgreSQL.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from phantoms import (
    SMALL_ABDOMEN,
    BodyPose,
    LesionSpec,
    make_phantom,
    write_dicom_series,
    write_label_nifti,
)
from tests.app.conftest import Service, dicom_parts, wait_for_job

SUBJECT = "EXTRA-TRACK-1"
SPEC = SMALL_ABDOMEN
A = LesionSpec((-38.0, -8.0, 0.0), (15.0, 12.0, 8.0))  # 30 mm liver lesion
C = LesionSpec((-20.0, 28.0, -6.0), (4.0, 4.0, 4.0))  # 8 mm: not measurable
MASS_AT = (72.0, 10.0, 0.0)  # 17 mm from the liver's edge


def _visit(
    c: httpx.Client, folder: Path, seed: int, mass_semi: tuple[float, float, float], pose: Any
) -> tuple[str, str, Path, Path]:
    """One series; the liver label map and the one without a liver (mass 3, lesions again 2)."""
    base = dataclasses.replace(SPEC, lesions=(A, C), pose=pose, seed=seed)
    with_mass = dataclasses.replace(base, lesions=(A, C, LesionSpec(MASS_AT, mass_semi)))
    liver_only, whole = make_phantom(base), make_phantom(with_mass)
    mass = (np.asarray(whole.labels) == 2) & (np.asarray(liver_only.labels) != 2)
    assert mass.sum() > 300 and not (mass & (np.asarray(liver_only.labels) == 1)).any()
    files = write_dicom_series(whole, folder / "ct")
    liver_labels = write_label_nifti(liver_only, folder / "liver.nii.gz")
    other = np.where(np.asarray(liver_only.labels) == 2, 2, 0).astype(np.uint8)
    other[mass] = 3
    other_labels = write_label_nifti(whole, folder / "other.nii.gz", array=other)
    up = c.post("/v1/uploads", files=dicom_parts(files))
    assert up.status_code == 201, up.text
    study = up.json()["studies"][0]
    return (
        study["study_instance_uid"],
        study["series"][0]["series_instance_uid"],
        liver_labels,
        other_labels,
    )


def _measure(c: httpx.Client, tp: str, series: str, labels: Path, without_liver: bool) -> str:
    seg = c.post(
        "/v1/segmentations",
        data={"series_instance_uid": series},
        files={"file": (labels.name, labels.read_bytes())},
    )
    assert seg.status_code == 201, seg.text
    body: dict[str, Any] = {
        "timepoint_id": tp,
        "series_instance_uid": series,
        "segmentation_upload_id": seg.json()["segmentation_upload_id"],
    }
    if without_liver:
        body.update(liver_label="none", other_tumor_labels=[{"label": "3", "organ": "adrenal"}])
    job = c.post("/v1/measurements", json=body)
    assert job.status_code == 202, job.text
    done = wait_for_job(c, job.headers["Location"])
    assert done["status"] == "succeeded", done
    return str(done["result_url"]).rsplit("/", 1)[-1]


def _timepoint(c: httpx.Client, label: str, study: str, date: str, baseline: bool) -> str:
    r = c.post(
        f"/v1/subjects/{SUBJECT}/timepoints",
        json={
            "label": label,
            "study_instance_uid": study,
            "date": date,
            "date_reason": "synthetic phantoms share one StudyDate",
            "baseline": baseline,
        },
    )
    assert r.status_code == 201, r.text
    return str(r.json()["timepoint_id"])


def test_lesions_of_a_measurement_without_liver_join_the_record_in_any_order(
    backend_service: Service, tmp_path: Path
) -> None:
    c = backend_service.client()
    assert c.post("/v1/subjects", json={"subject_id": SUBJECT}).status_code == 201

    study, series, liver, other = _visit(c, tmp_path / "base", 1, (12.0, 10.0, 8.0), None)
    base = _timepoint(c, "baseline", study, "2026-01-05", True)
    liver_base = _measure(c, base, series, liver, without_liver=False)
    burden_before = c.get(f"/v1/subjects/{SUBJECT}/eligibility").json()
    other_base = _measure(c, base, series, other, without_liver=True)

    lesions = {
        x["lesion_id"]: x for x in c.get(f"/v1/subjects/{SUBJECT}/lesions").json()["lesions"]
    }
    assert sorted(lesions) == ["NT1", "T1", "T2"]  # lesion A measured twice is one lesion
    assert [lesions[k]["organ"] for k in ("T1", "T2", "NT1")] == ["liver", "adrenal", "liver"]
    assert lesions["T2"]["role"] == "target"
    (t2_base,) = lesions["T2"]["measurements"]
    assert t2_base["measurement_id"] == other_base
    assert t2_base["diameter_mm"] == pytest.approx(24.0, abs=2.5)
    (t1_base,) = lesions["T1"]["measurements"]
    assert t1_base["measurement_id"] == liver_base
    assert t1_base["diameter_mm"] == pytest.approx(30.0, abs=2.5)
    after = c.get(f"/v1/subjects/{SUBJECT}/eligibility").json()
    assert after["measurement_id"] == burden_before["measurement_id"] == liver_base
    assert after["burden_fraction"] == burden_before["burden_fraction"] is not None

    pose = BodyPose((2.0, -3.0, 4.0), (10.0, -8.0, 6.0))
    study, series, liver, other = _visit(c, tmp_path / "fu", 2, (15.0, 12.0, 10.0), pose)
    fu = _timepoint(c, "week8", study, "2026-03-02", False)
    other_fu = _measure(c, fu, series, other, without_liver=True)  # the other order
    liver_fu = _measure(c, fu, series, liver, without_liver=False)

    table = c.get(f"/v1/subjects/{SUBJECT}/lesions").json()
    assert table["new_lesions"] == {}, table["new_lesions"]  # nothing counted twice as new
    lesions = {x["lesion_id"]: x for x in table["lesions"]}
    assert sorted(lesions) == ["NT1", "T1", "T2"]
    at_fu = {k: {m["timepoint_id"]: m for m in v["measurements"]}[fu] for k, v in lesions.items()}
    assert at_fu["T2"]["measurement_id"] == other_fu
    assert at_fu["T2"]["diameter_mm"] == pytest.approx(30.0, abs=2.5)  # grown, not absent
    assert at_fu["T2"]["evidence"]["kind"] == "matched"
    assert at_fu["T1"]["measurement_id"] == liver_fu
    assert at_fu["T1"]["diameter_mm"] == pytest.approx(30.0, abs=2.5)
    assert at_fu["NT1"].get("status") != "absent"

    assessment = c.get(f"/v1/subjects/{SUBJECT}/assessment").json()
    fu_row = assessment["timepoints"][1]
    assert fu_row["sum_mm"] == pytest.approx(
        at_fu["T1"]["diameter_mm"] + at_fu["T2"]["diameter_mm"]
    )
    assert fu_row["overall_response"] == "SD", fu_row  # +11 %: no progression, no new lesion

    admin = backend_service.client("admin")
    events = admin.get("/v1/audit/events", params={"action": "lesions.tracked"}).json()
    baseline_events = [e for e in events if e["entity_id"] == base]
    assert len(baseline_events[-1]["details"]["measured_twice"]) == 2  # lesions A and C again

    # Confirming with a re-link: T2 (adrenal) is in the measurement without a liver, not in the
    # measurement of record; a liver lesion for it, or a measurement of another visit, is refused.
    confirm = f"/v1/subjects/{SUBJECT}/timepoints/{fu}/lesions/confirm"
    t2_lk, t1_lk = at_fu["T2"]["measurement_lesion_id"], at_fu["T1"]["measurement_lesion_id"]

    def relink(measurement_lesion_id: str, measurement_id: str | None = None) -> httpx.Response:
        change = {"lesion_id": "T2", "measurement_lesion_id": measurement_lesion_id}
        if measurement_id is not None:
            change["measurement_id"] = measurement_id
        return c.post(confirm, json={"reason": "T2 read again", "changes": [change]})

    wrong_organ = relink(t1_lk)  # a lesion of the measurement of record: the liver's
    assert wrong_organ.status_code == 422, wrong_organ.text
    assert "adrenal" in wrong_organ.json()["detail"] and "liver" in wrong_organ.json()["detail"]
    other_visit = relink(t2_lk, other_base)
    assert other_visit.status_code == 422, other_visit.text
    assert "not a measurement of timepoint 'week8'" in other_visit.json()["detail"]
    assert other_fu in other_visit.json()["detail"]  # what would do
    no_such = relink("L99", other_fu)
    assert no_such.status_code == 422 and "no lesion 'L99'" in no_such.json()["detail"]
    now = c.get(f"/v1/subjects/{SUBJECT}/lesions").json()["lesions"]
    at_fu_now = {x["lesion_id"]: {m["timepoint_id"]: m for m in x["measurements"]}[fu] for x in now}
    assert at_fu_now == at_fu  # the refusals changed nothing

    done = relink(t2_lk, other_fu)
    assert done.status_code == 200, done.text
    t2 = next(x for x in done.json()["lesions"] if x["lesion_id"] == "T2")
    reading = {m["timepoint_id"]: m for m in t2["measurements"]}[fu]
    assert (reading["measurement_id"], reading["measurement_lesion_id"]) == (other_fu, t2_lk)
    assert reading["diameter_mm"] == at_fu["T2"]["diameter_mm"] and reading["state"] == "confirmed"
    assert reading["evidence"]["override"] is True
    confirmed = admin.get("/v1/audit/events", params={"action": "lesions.confirmed"}).json()
    (event,) = [e for e in confirmed if e["entity_id"] == fu]
    assert event["details"]["changes"] == [
        {"lesion_id": "T2", "measurement_lesion_id": t2_lk, "measurement_id": other_fu}
    ]

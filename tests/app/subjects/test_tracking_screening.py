"""Screening scans are linked to the baseline's record: pre-enrolment progression without a hand
table (contracts/trial-record.md, Eligibility; issue 17).

Two subjects, each a screening scan and a baseline (phantom CT, the patient moved between them):

- GROW: liver lesions A and B at 70 % of their baseline size at screening (sum 37.8 -> 54 mm,
  +43 %: progression), the screening measured *before* the baseline (linked when the baseline's
  record is proposed);
- STABLE: the same lesions at 98 % at screening (no progression), the screening measured *after*
  the baseline (linked by its own job).

Both read ``liver_progression_by_recist`` from the tracked readings, with no hand-entered table,
on SQLite and PostgreSQL.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import httpx
import pytest

from phantoms import (
    SMALL_ABDOMEN,
    BodyPose,
    LesionSpec,
    make_phantom,
    write_dicom_series,
    write_label_nifti,
)
from tests.app._outputs_setup import upload_and_measure
from tests.app.conftest import Service

A = ((-38.0, -8.0, 0.0), (15.0, 12.0, 8.0))
B = ((18.0, 14.0, 4.0), (12.0, 10.0, 7.0))
MOVED = BodyPose((2.0, -3.0, 5.0), (12.0, -9.0, 6.0))


def _visit(
    c: httpx.Client, folder: Path, subject: str, label: str, date: str, scale: float, seed: int
) -> str:
    lesions = tuple(
        LesionSpec(centre, tuple(v * scale for v in semi))  # type: ignore[arg-type]
        for centre, semi in (A, B)
    )
    pose = MOVED if label == "screening" else None
    phantom = make_phantom(
        dataclasses.replace(SMALL_ABDOMEN, lesions=lesions, pose=pose, seed=seed)
    )
    files = write_dicom_series(phantom, folder / "ct")
    labels = write_label_nifti(phantom, folder / "labels.nii.gz")
    baseline = label == "baseline"
    return upload_and_measure(c, files, labels, subject, label, date, baseline, None).timepoint_id


def _readings_at(c: httpx.Client, subject: str, tp: str) -> dict[str, dict]:  # type: ignore[type-arg]
    table = c.get(f"/v1/subjects/{subject}/lesions").json()
    return {
        les["lesion_id"]: m
        for les in table["lesions"]
        for m in les["measurements"]
        if m["timepoint_id"] == tp
    }


@pytest.mark.parametrize(
    ("subject", "scale", "screening_first", "progression"),
    [("GROW", 0.7, True, True), ("STABLE", 0.98, False, False)],
    ids=["growing-screening-measured-first", "stable-screening-measured-last"],
)
def test_pre_enrolment_progression_comes_from_tracked_screening_scans(
    backend_service: Service,
    tmp_path: Path,
    subject: str,
    scale: float,
    screening_first: bool,
    progression: bool,
) -> None:
    c = backend_service.client()
    assert c.post("/v1/subjects", json={"subject_id": subject}).status_code == 201
    visits = [("screening", "2025-11-03", scale, 1), ("baseline", "2026-01-05", 1.0, 2)]
    if not screening_first:
        visits.reverse()
    ids = {
        label: _visit(c, tmp_path / label, subject, label, date, s, seed)
        for label, date, s, seed in visits
    }
    at_screening = _readings_at(c, subject, ids["screening"])
    assert sorted(at_screening) == ["T1", "T2"], at_screening
    at_baseline = _readings_at(c, subject, ids["baseline"])
    for lesion_id in ("T1", "T2"):
        reading = at_screening[lesion_id]
        assert reading["state"] == "proposed" and reading["evidence"]["kind"] == "matched"
        assert reading["diameter_mm"] == pytest.approx(
            scale * at_baseline[lesion_id]["diameter_mm"], abs=2.5
        )
    edc = backend_service.client("edc")
    got = edc.get(f"/v1/subjects/{subject}/eligibility").json()
    assert got["liver_progression_by_recist"] is progression, got
    (criterion,) = [
        x for x in got["criteria"] if x["criterion"].startswith("symptoms_or_liver_progression")
    ]
    assert (
        f"liver progression by RECIST 1.1: {'yes' if progression else 'no'}" in criterion["detail"]
    )

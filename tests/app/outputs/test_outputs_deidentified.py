"""Every output route on de-identified studies: 2xx (or a 4xx naming the attribute), never a 5xx.

De-identified CT series (made here from the project's phantom) lack Type 2 attributes, carry them
empty, or carry odd values (UTF-8 names under ISO_IR 192, the longest strings the VRs allow). Each
is uploaded, measured by a job and read into the lesion table over HTTP; then SR, SEG, SDTM (CSV
and XPT, per subject and trial-wide), FHIR and the report (HTML and PDF) are fetched on one
keep-alive client, on SQLite and PostgreSQL. A missing Type 1 attribute is refused at upload.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import highdicom as hd
import pydicom
import pytest
from pydicom import Dataset

from tests.app._outputs_setup import _phantom, upload_and_measure
from tests.app.conftest import Service, dicom_parts
from tests.conftest import TYPE2_PATIENT_STUDY

TYPE2 = TYPE2_PATIENT_STUDY


def _remove(*keywords: str) -> Callable[[Dataset], None]:
    def mutate(ds: Dataset) -> None:
        for keyword in keywords:
            if keyword in ds:
                delattr(ds, keyword)

    return mutate


def _empty(ds: Dataset) -> None:
    for keyword in TYPE2:
        setattr(ds, keyword, None)


def _odd(ds: Dataset) -> None:
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.PatientName = "Øster^Zoë"
    ds.PatientID = "P" * 64
    ds.ReferringPhysicianName = "Dr^Ångström"
    ds.SeriesDescription = "Leber portalvenös " + "é" * 40


Mutation = Callable[[Dataset], None]

VARIANTS: dict[str, Mutation] = {
    "birthdate-removed": _remove("PatientBirthDate"),
    "type2-removed": _remove(*TYPE2, "SeriesDescription", "StudyDescription"),
    "type2-empty": _empty,
    "odd-values": _odd,
}


def _deidentified(files: list[Path], mutate: Callable[[Dataset], None]) -> list[Path]:
    for path in files:
        ds = pydicom.dcmread(path)
        mutate(ds)
        ds.save_as(path, enforce_file_format=True)
    return files


def _measured(svc: Service, folder: Path, seed: int, subject_id: str, mutate: Mutation) -> str:
    """Upload, subject, baseline, segmentation, job, lesion table; the measurement id."""
    c = svc.client()
    files, labels = _phantom(folder, seed, 1.0)
    assert c.post("/v1/subjects", json={"subject_id": subject_id, "arm": "A"}).status_code == 201
    tp = upload_and_measure(
        c, _deidentified(files, mutate), labels, subject_id, "BASELINE", "2021-01-04", True
    )
    measurement_id = tp.measurement_id
    lesions = [
        {"lesion_id": "T1", "organ": "liver", "lymph_node": False, "role": "target"},
        {"lesion_id": "T2", "organ": "liver", "lymph_node": False, "role": "target"},
    ]
    r = c.put(f"/v1/subjects/{subject_id}/lesions", json={"reason": "baseline", "lesions": lesions})
    assert r.status_code == 200, r.text
    r = c.put(
        f"/v1/subjects/{subject_id}/timepoints/{tp.timepoint_id}/lesions",
        json={
            "reason": "mask read",
            "measurements": [
                {"lesion_id": t, "measurement_id": measurement_id, "measurement_lesion_id": m}
                for t, m in (("T1", "L1"), ("T2", "L2"))
            ],
        },
    )
    assert r.status_code == 200, r.text
    return measurement_id


@pytest.mark.slow
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_output_route_answers_on_deidentified_data(
    backend_service: Service, tmp_path: Path, variant: str
) -> None:
    """SR, SEG, SDTM, FHIR and the report: all 2xx on one keep-alive client, no 5xx, no reset."""
    subject_id = f"S-DEID-{variant}"
    seed = 300 + sorted(VARIANTS).index(variant)
    mid = _measured(backend_service, tmp_path, seed, subject_id, VARIANTS[variant])
    c = backend_service.client()
    edc = backend_service.client("edc")
    routes = [
        (c, f"/v1/measurements/{mid}/sr"),
        (c, f"/v1/measurements/{mid}/seg"),
        *[
            (c, f"/v1/subjects/{subject_id}/sdtm/{d}?format={f}")
            for d in ("tu", "tr", "rs")
            for f in ("csv", "xpt")
        ],
        *[(c, f"/v1/sdtm/{d}?format=csv") for d in ("tu", "tr")],
        (edc, "/v1/sdtm/rs?format=xpt"),
        (c, f"/v1/subjects/{subject_id}/fhir"),
        (c, f"/v1/subjects/{subject_id}/report?format=html"),
        (c, f"/v1/subjects/{subject_id}/report?format=pdf"),
    ]
    answers = {path: client.get(path) for client, path in routes}
    failed = {
        path: (r.status_code, r.text[:300]) for path, r in answers.items() if r.status_code >= 300
    }
    assert not failed, failed
    sr = pydicom.dcmread(io.BytesIO(answers[f"/v1/measurements/{mid}/sr"].content))
    seg = pydicom.dcmread(io.BytesIO(answers[f"/v1/measurements/{mid}/seg"].content))
    for derived in (sr, seg):
        for keyword in TYPE2:
            assert keyword in derived, f"{keyword} missing from the {derived.Modality}"
    if variant == "odd-values":
        assert str(sr.PatientName) == "Øster^Zoë" and str(seg.PatientName) == "Øster^Zoë"
    assert hd.sr.srread(io.BytesIO(answers[f"/v1/measurements/{mid}/sr"].content)).content
    from fhir.resources.R4B.bundle import Bundle

    Bundle.model_validate(answers[f"/v1/subjects/{subject_id}/fhir"].json())


def test_missing_type1_attribute_is_refused_at_upload(service: Service, tmp_path: Path) -> None:
    """A series whose instances lack StudyInstanceUID is a 4xx problem naming it; nothing stored."""
    files, _ = _phantom(tmp_path, 399, 1.0)
    c = service.client()
    r = c.post("/v1/uploads", files=dicom_parts(_deidentified(files, _remove("StudyInstanceUID"))))
    assert 400 <= r.status_code < 500, r.text
    assert "StudyInstanceUID" in r.json()["detail"]
    assert c.get("/v1/studies").json() == []

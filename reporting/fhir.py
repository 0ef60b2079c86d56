"""FHIR R4 Bundle (type ``collection``) of mCODE Tumor Size observations for one subject.

One ``Observation`` per measured lesion per timepoint, conforming to the mCODE Tumor Size profile:
``code`` LOINC 21889-1 "Size Tumor", ``component`` LOINC 33728-7 (longest dimension: the RECIST
long axis) and 33729-5 (other dimension: the perpendicular short axis), values in ``mm`` (UCUM),
``effectiveDateTime`` the timepoint date, ``bodySite`` Liver (SCT 10200004) when the measurement
has a liver, ``focus`` the lesion (by its tracking identifier: the DICOM Tracking UID when known,
so the same lesion is the same focus at every timepoint), ``derivedFrom`` the DICOM study of
the measured series. The subject is referenced by the trial subject id only (an identifier,
never a name or a medical record number).

Resource ids are UUID version 5 of (subject, lesion, date), so rebuilding the bundle gives the
same ids.

References
----------
.. [1] HL7 FHIR R4 (4.0.1), Observation and Bundle resources.
.. [2] HL7 mCODE (minimal Common Oncology Data Elements) STU, profile Tumor Size
   (http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-tumor-size).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from reporting.errors import ReportingInputError
from reporting.model import LesionMeasurement, TimepointMeasurement

__all__ = ["MCODE_TUMOR_SIZE", "SUBJECT_SYSTEM", "build_fhir_bundle"]

MCODE_TUMOR_SIZE = "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-tumor-size"
#: Identifier system of trial subject ids (override per trial with ``subject_system``).
SUBJECT_SYSTEM = "urn:liverburden:trial-subject"
_LESION_SYSTEM = "urn:liverburden:lesion"
_DICOM_UID_SYSTEM = "urn:dicom:uid"
_LOINC = "http://loinc.org"
_SCT = "http://snomed.info/sct"
_UCUM = "http://unitsofmeasure.org"
_NAMESPACE = uuid.UUID("6a0e4f0c-52d5-4d1c-9a57-9f4c3d1e7b21")


def _quantity(value_mm: float) -> dict[str, Any]:
    return {"value": round(float(value_mm), 3), "unit": "mm", "system": _UCUM, "code": "mm"}


def _component(code: str, display: str, value_mm: float) -> dict[str, Any]:
    return {
        "code": {"coding": [{"system": _LOINC, "code": code, "display": display}]},
        "valueQuantity": _quantity(value_mm),
    }


def _is_uid(value: str) -> bool:
    parts = value.split(".")
    return len(value) <= 64 and len(parts) > 1 and all(p.isdigit() for p in parts)


def _lesion_identifier(tm: TimepointMeasurement, lesion: LesionMeasurement) -> dict[str, str]:
    stable = tm.lesion_uids.get(lesion.lesion_id)
    if stable and _is_uid(stable):
        return {"system": _DICOM_UID_SYSTEM, "value": f"urn:oid:{stable}"}
    if stable:
        return {"system": _LESION_SYSTEM, "value": stable}
    return {"system": _LESION_SYSTEM, "value": f"{tm.date.isoformat()}/{lesion.lesion_id}"}


def _observation(
    subject_id: str, subject_system: str, tm: TimepointMeasurement, lesion: LesionMeasurement
) -> dict[str, Any]:
    identifier = _lesion_identifier(tm, lesion)
    obs_id = str(uuid.uuid5(_NAMESPACE, f"{subject_id}|{identifier['value']}|{tm.date}"))
    m = tm.measurement
    obs: dict[str, Any] = {
        "resourceType": "Observation",
        "id": obs_id,
        "meta": {"profile": [MCODE_TUMOR_SIZE]},
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "imaging",
                        "display": "Imaging",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": _LOINC, "code": "21889-1", "display": "Size Tumor"}]},
        "subject": {
            "type": "Patient",
            "identifier": {"system": subject_system, "value": subject_id},
        },
        "focus": [{"identifier": identifier, "display": f"Lesion {lesion.lesion_id}"}],
        "effectiveDateTime": tm.date.isoformat(),
        "component": [
            _component("33728-7", "Size.maximum dimension in Tumor", lesion.long_axis_mm),
            _component("33729-5", "Size additional dimension in Tumor", lesion.short_axis_mm),
        ],
    }
    if m.liver_volume_ml is not None:
        obs["bodySite"] = {
            "coding": [{"system": _SCT, "code": "10200004", "display": "Liver structure"}]
        }
    if m.study_instance_uid:
        obs["derivedFrom"] = [
            {
                "type": "ImagingStudy",
                "identifier": {
                    "system": _DICOM_UID_SYSTEM,
                    "value": f"urn:oid:{m.study_instance_uid}",
                },
                "display": f"{m.modality or 'imaging'} series "
                f"{m.series_instance_uid or '(no UID)'}, liverburden {m.algorithm_version}",
            }
        ]
    return obs


def build_fhir_bundle(
    subject_id: str,
    timepoints: Sequence[TimepointMeasurement],
    *,
    subject_system: str = SUBJECT_SYSTEM,
) -> dict[str, Any]:
    """A FHIR R4 ``Bundle`` (``collection``) of mCODE Tumor Size observations.

    Parameters
    ----------
    subject_id
        Trial subject id, used as ``Observation.subject.identifier.value``.
    timepoints
        The subject's measurements, one per timepoint; each lesion of each becomes one
        observation. Give ``lesion_uids`` so that a lesion keeps its focus across timepoints.
    subject_system
        Identifier system of the trial's subject ids.

    Returns
    -------
    dict
        The Bundle as a JSON-ready dict (``json.dumps`` it; media type
        ``application/fhir+json``).
    """
    if not isinstance(subject_id, str) or not subject_id.strip():
        raise ReportingInputError("subject_id: expected a non-empty trial subject id")
    entries = []
    for tm in sorted(timepoints, key=lambda t: t.date):
        for lesion in tm.measurement.lesions:
            obs = _observation(subject_id, subject_system, tm, lesion)
            entries.append({"fullUrl": f"urn:uuid:{obs['id']}", "resource": obs})
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "id": str(uuid.uuid5(_NAMESPACE, f"bundle|{subject_id}")),
        "type": "collection",
    }
    if entries:  # FHIR JSON never holds an empty array
        bundle["entry"] = entries
    return bundle

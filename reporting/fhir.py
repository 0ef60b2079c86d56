"""FHIR R4 Bundle (type ``collection``) of one subject's tumour sizes, burden and responses.

One ``Observation`` per measured lesion per timepoint, conforming to the mCODE Tumor Size profile:
``code`` LOINC 21889-1 "Size Tumor", ``component`` LOINC 33728-7 (longest dimension: the RECIST
long axis) and 33729-5 (other dimension: the perpendicular short axis), values in ``mm`` (UCUM),
``effectiveDateTime`` the timepoint date, ``bodySite`` Liver (SCT 10200004) when the measurement
has a liver, ``focus`` the lesion (by its tracking identifier: the DICOM Tracking UID when known,
so the same lesion is the same focus at every timepoint), ``derivedFrom`` the DICOM study of
the measured series. The subject is referenced by the trial subject id only (an identifier,
never a name or a medical record number).

One burden ``Observation`` per measured timepoint with a liver: ``code`` the sponsor code
``liver-tumor-burden`` (system ``urn:liverburden:observation``; no LOINC term exists for it),
``valueQuantity`` the hepatic tumour volume over the liver volume in ``%``, components the two
volumes in ``mL`` (same sponsor system), ``bodySite`` Liver.

With an assessment, two ``Observation`` per follow-up conforming to the mCODE Cancer Disease
Status profile: ``code`` LOINC 97509-4 "Cancer disease progression", the evidence-type extension
Imaging (SCT 363679005), ``method`` the rules (RECIST 1.1, all lesions; RECIST 1.1 restricted to
the liver, the trial's hepatic endpoint, with ``bodySite`` Liver), and ``valueCodeableConcept``
the response twice: the mCODE Condition Status Trend code (CR -> full remission 550991000124107,
PR -> improved 268910001, SD and non-CR/non-PD -> stable 359746009, PD -> worsened 271299001,
NE -> undetermined 709137006) and the RECIST category itself (system
``urn:liverburden:recist-response``).

Resource ids are UUID version 5 of (subject, what, date), so rebuilding the bundle gives the
same ids.

References
----------
.. [1] HL7 FHIR R4 (4.0.1), Observation and Bundle resources.
.. [2] HL7 mCODE (minimal Common Oncology Data Elements) STU 2.1, profiles Tumor Size
   (http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-tumor-size) and Cancer Disease Status
   (http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-cancer-disease-status), value set
   Condition Status Trend.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from reporting.errors import ReportingInputError
from reporting.model import (
    AssessmentSummary,
    LesionMeasurement,
    TimepointMeasurement,
    TimepointResponse,
)

__all__ = [
    "BURDEN_CODE",
    "MCODE_DISEASE_STATUS",
    "MCODE_TUMOR_SIZE",
    "RECIST_RESPONSE_SYSTEM",
    "SUBJECT_SYSTEM",
    "build_fhir_bundle",
]

MCODE_TUMOR_SIZE = "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-tumor-size"
MCODE_DISEASE_STATUS = (
    "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-cancer-disease-status"
)
_EVIDENCE_TYPE = (
    "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-cancer-disease-status-evidence-type"
)
#: Sponsor code system of the observations no standard terminology names.
OBSERVATION_SYSTEM = "urn:liverburden:observation"
BURDEN_CODE = "liver-tumor-burden"
#: The RECIST 1.1 response categories as coded here (beside the mCODE trend code).
RECIST_RESPONSE_SYSTEM = "urn:liverburden:recist-response"
#: RECIST 1.1 category -> mCODE Condition Status Trend (SNOMED CT code, display).
_TREND = {
    "CR": ("550991000124107", "Malignant neoplasm in full remission (disorder)"),
    "PR": ("268910001", "Patient's condition improved (finding)"),
    "SD": ("359746009", "Patient's condition stable (finding)"),
    "NON_CR_NON_PD": ("359746009", "Patient's condition stable (finding)"),
    "PD": ("271299001", "Patient's condition worsened (finding)"),
    "NE": ("709137006", "Patient condition undetermined (finding)"),
}
_RECIST_DISPLAY = {
    "CR": "Complete response",
    "PR": "Partial response",
    "SD": "Stable disease",
    "NON_CR_NON_PD": "Non-CR/non-PD",
    "PD": "Progressive disease",
    "NE": "Not evaluable",
}
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


_LIVER = {"coding": [{"system": _SCT, "code": "10200004", "display": "Liver structure"}]}
_IMAGING = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
            "code": "imaging",
            "display": "Imaging",
        }
    ]
}


def _base(
    subject_id: str, subject_system: str, key: str, profile: str | None, code: dict[str, Any]
) -> dict[str, Any]:
    obs: dict[str, Any] = {
        "resourceType": "Observation",
        "id": str(uuid.uuid5(_NAMESPACE, f"{subject_id}|{key}")),
    }
    if profile:
        obs["meta"] = {"profile": [profile]}
    obs.update(
        status="final",
        category=[_IMAGING],
        code=code,
        subject={"type": "Patient", "identifier": {"system": subject_system, "value": subject_id}},
    )
    return obs


def _derived_from(obs: dict[str, Any], tm: TimepointMeasurement) -> None:
    m = tm.measurement
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


def _observation(
    subject_id: str, subject_system: str, tm: TimepointMeasurement, lesion: LesionMeasurement
) -> dict[str, Any]:
    identifier = _lesion_identifier(tm, lesion)
    code = {"coding": [{"system": _LOINC, "code": "21889-1", "display": "Size Tumor"}]}
    obs = _base(
        subject_id, subject_system, f"{identifier['value']}|{tm.date}", MCODE_TUMOR_SIZE, code
    )
    name = tm.name_of(lesion.lesion_id)
    display = (
        f"Lesion {name}" if name == lesion.lesion_id else f"Lesion {name} ({lesion.lesion_id})"
    )
    obs["focus"] = [{"identifier": identifier, "display": display}]
    obs["effectiveDateTime"] = tm.date.isoformat()
    obs["component"] = [
        _component("33728-7", "Size.maximum dimension in Tumor", lesion.long_axis_mm),
        _component("33729-5", "Size additional dimension in Tumor", lesion.short_axis_mm),
    ]
    if tm.measurement.liver_volume_ml is not None:
        obs["bodySite"] = _LIVER
    _derived_from(obs, tm)
    return obs


def _sponsor(code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": OBSERVATION_SYSTEM, "code": code, "display": display}]}


def _burden(
    subject_id: str, subject_system: str, tm: TimepointMeasurement
) -> dict[str, Any] | None:
    m = tm.measurement
    if m.burden_fraction is None or m.liver_volume_ml is None:
        return None
    code = _sponsor(BURDEN_CODE, "Liver tumour burden (tumour volume / liver volume)")
    obs = _base(subject_id, subject_system, f"burden|{tm.date}", None, code)
    obs["effectiveDateTime"] = tm.date.isoformat()
    obs["valueQuantity"] = {
        "value": round(100.0 * m.burden_fraction, 4),
        "unit": "%",
        "system": _UCUM,
        "code": "%",
    }
    obs["bodySite"] = _LIVER
    obs["component"] = [
        {
            "code": _sponsor("tumor-volume", "Hepatic tumour volume"),
            "valueQuantity": _volume(m.tumor_volume_ml),
        },
        {
            "code": _sponsor("liver-volume", "Liver volume"),
            "valueQuantity": _volume(m.liver_volume_ml),
        },
    ]
    _derived_from(obs, tm)
    return obs


def _volume(value_ml: float) -> dict[str, Any]:
    return {"value": round(float(value_ml), 3), "unit": "mL", "system": _UCUM, "code": "mL"}


def _response(
    subject_id: str, subject_system: str, tp: TimepointResponse, hepatic: bool
) -> dict[str, Any] | None:
    category = tp.hepatic_response if hepatic else tp.overall_response
    if category is None or category not in _TREND:
        return None
    code = {
        "coding": [{"system": _LOINC, "code": "97509-4", "display": "Cancer disease progression"}]
    }
    scope = "hepatic" if hepatic else "overall"
    obs = _base(
        subject_id, subject_system, f"response|{scope}|{tp.date}", MCODE_DISEASE_STATUS, code
    )
    obs["extension"] = [
        {
            "url": _EVIDENCE_TYPE,
            "valueCodeableConcept": {
                "coding": [{"system": _SCT, "code": "363679005", "display": "Imaging (procedure)"}]
            },
        }
    ]
    obs["effectiveDateTime"] = tp.date.isoformat()
    trend, trend_display = _TREND[category]
    obs["valueCodeableConcept"] = {
        "coding": [
            {"system": _SCT, "code": trend, "display": trend_display},
            {
                "system": RECIST_RESPONSE_SYSTEM,
                "code": category,
                "display": _RECIST_DISPLAY[category],
            },
        ],
        "text": f"RECIST 1.1 {scope} response: {_RECIST_DISPLAY[category]}",
    }
    obs["method"] = {
        "text": "RECIST 1.1, liver lesions only (hepatic response)" if hepatic else "RECIST 1.1"
    }
    if hepatic:
        obs["bodySite"] = _LIVER
    return obs


def build_fhir_bundle(
    subject_id: str,
    timepoints: Sequence[TimepointMeasurement],
    *,
    assessment: AssessmentSummary | None = None,
    subject_system: str = SUBJECT_SYSTEM,
) -> dict[str, Any]:
    """Return a FHIR R4 ``Bundle`` (``collection``) of tumour sizes, burden and responses.

    Parameters
    ----------
    subject_id
        Trial subject id, used as ``Observation.subject.identifier.value``.
    timepoints
        The subject's measurements, one per timepoint; each lesion of each becomes one
        observation, and its burden one more. Give ``lesion_uids`` so that a lesion keeps its
        focus across timepoints.
    assessment
        The subject's RECIST 1.1 assessment: each follow-up's overall and hepatic responses
        become mCODE Cancer Disease Status observations.
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
    observations: list[dict[str, Any] | None] = []
    for tm in sorted(timepoints, key=lambda t: t.date):
        observations += [
            _observation(subject_id, subject_system, tm, x) for x in tm.measurement.lesions
        ]
        observations.append(_burden(subject_id, subject_system, tm))
    for tp in assessment.timepoints if assessment is not None else ():
        if not tp.baseline:
            observations.append(_response(subject_id, subject_system, tp, hepatic=False))
            observations.append(_response(subject_id, subject_system, tp, hepatic=True))
    entries = [{"fullUrl": f"urn:uuid:{obs['id']}", "resource": obs} for obs in observations if obs]
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "id": str(uuid.uuid5(_NAMESPACE, f"bundle|{subject_id}")),
        "type": "collection",
    }
    if entries:  # FHIR JSON never holds an empty array
        bundle["entry"] = entries
    return bundle

"""FHIR R4 Bundle: mCODE Tumor Size, burden and mCODE Cancer Disease Status observations;
structure, codes, units, no identifiers, and validated by the FHIR R4B models of fhir.resources
(a library nobody here wrote)."""

from __future__ import annotations

import copy
import json
import re

import pytest

from reporting import (
    MCODE_TUMOR_SIZE,
    AssessmentSummary,
    ReportingInputError,
    SubjectData,
    TimepointMeasurement,
    build_fhir_bundle,
)
from tests.reporting._ct import PATIENT_ID, PATIENT_NAME, TinyCT

_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")  # FHIR R4 id datatype


def _bundle(subject: SubjectData, assessment: AssessmentSummary | None = None) -> dict:  # type: ignore[type-arg]
    return build_fhir_bundle(subject.subject_id, subject.timepoints, assessment=assessment)


def _sizes(bundle: dict) -> list[dict]:  # type: ignore[type-arg]
    return [
        e["resource"]
        for e in bundle["entry"]
        if MCODE_TUMOR_SIZE in e["resource"].get("meta", {}).get("profile", [])
    ]


def test_bundle_is_a_collection_of_observations(subject: SubjectData) -> None:
    """One Observation per lesion per timepoint and one burden per timepoint, each with a
    urn:uuid fullUrl and a valid id."""
    bundle = _bundle(subject)
    assert bundle["resourceType"] == "Bundle"
    assert bundle["type"] == "collection"
    entries = bundle["entry"]
    assert len(entries) == 3 * 2 + 3
    assert len(_sizes(bundle)) == 3 * 2
    for entry in entries:
        obs = entry["resource"]
        assert obs["resourceType"] == "Observation"
        assert _ID.match(obs["id"])
        assert entry["fullUrl"] == f"urn:uuid:{obs['id']}"
    assert len({e["fullUrl"] for e in entries}) == len(entries)
    json.dumps(bundle)  # JSON-serialisable


def test_observation_follows_the_mcode_tumor_size_profile(
    subject: SubjectData, tiny_ct: TinyCT
) -> None:
    """Profile, status, LOINC 21889-1, components 33728-7/33729-5 in mm (UCUM), liver site."""
    obs = _bundle(subject)["entry"][0]["resource"]
    lesion = tiny_ct.measurement["lesions"][0]
    assert obs["meta"]["profile"] == [MCODE_TUMOR_SIZE]
    assert obs["status"] == "final"
    assert obs["code"]["coding"] == [
        {"system": "http://loinc.org", "code": "21889-1", "display": "Size Tumor"}
    ]
    components = {c["code"]["coding"][0]["code"]: c["valueQuantity"] for c in obs["component"]}
    assert set(components) == {"33728-7", "33729-5"}
    for quantity in components.values():
        assert (quantity["system"], quantity["code"], quantity["unit"]) == (
            "http://unitsofmeasure.org",
            "mm",
            "mm",
        )
    assert components["33728-7"]["value"] == pytest.approx(lesion["long_axis_mm"], abs=5e-4)
    assert components["33729-5"]["value"] == pytest.approx(lesion["short_axis_mm"], abs=5e-4)
    assert obs["bodySite"]["coding"][0] == {
        "system": "http://snomed.info/sct",
        "code": "10200004",
        "display": "Liver structure",
    }
    assert obs["effectiveDateTime"] == "2020-01-01"
    assert obs["subject"]["identifier"]["value"] == "S-001"
    assert obs["derivedFrom"][0]["identifier"]["value"] == (
        "urn:oid:" + tiny_ct.datasets[0].StudyInstanceUID
    )


def test_lesion_focus_is_stable_across_timepoints(subject: SubjectData) -> None:
    """A lesion with a UID has the same focus identifier at every timepoint."""
    foci = [
        obs["focus"][0]["identifier"]
        for obs in _sizes(_bundle(subject))
        if obs["focus"][0]["display"] == "Lesion L1"
    ]
    assert len(foci) == 3
    assert all(f == {"system": "urn:dicom:uid", "value": "urn:oid:1.2.3.4"} for f in foci)


def test_ids_are_deterministic(subject: SubjectData) -> None:
    """Building the bundle twice gives the same resource ids (UUID v5)."""
    assert _bundle(subject) == _bundle(subject)


def test_no_patient_identifiers_leak(subject: SubjectData) -> None:
    """The bundle never carries the DICOM patient's name or ID, only the trial subject id."""
    text = json.dumps(_bundle(subject))
    assert PATIENT_NAME not in text
    assert PATIENT_NAME.split("^")[0] not in text
    assert PATIENT_ID not in text
    assert '"name"' not in text


def test_no_liver_means_no_body_site(tiny_ct: TinyCT) -> None:
    """A measurement without liver does not claim the liver as the body site."""
    m = copy.deepcopy(tiny_ct.measurement)
    m["liver_volume_ml"] = None
    bundle = build_fhir_bundle("S-001", [TimepointMeasurement.from_json("2020-01-01", m)])
    assert all("bodySite" not in e["resource"] for e in bundle["entry"])


def test_blank_subject_is_refused(subject: SubjectData) -> None:
    """A subject reference needs an id."""
    with pytest.raises(ReportingInputError, match="subject"):
        build_fhir_bundle(" ", subject.timepoints)


def test_no_measurements_give_an_empty_collection() -> None:
    """Without measurements the bundle has no entry array (FHIR forbids empty arrays)."""
    bundle = build_fhir_bundle("S-001", [])
    assert bundle["type"] == "collection"
    assert "entry" not in bundle


def test_bundle_with_responses_validates_as_fhir_r4b(subject: SubjectData) -> None:
    """The whole bundle (sizes, burden, responses) parses with fhir.resources' R4B models, every
    observation is final with a profile or a sponsor code, and the mCODE profile URLs are the
    published ones."""
    from fhir.resources.R4B.bundle import Bundle
    from fhir.resources.R4B.observation import Observation

    bundle = _bundle(subject, subject.summary)
    Bundle.model_validate(bundle)
    profiles = set()
    for entry in bundle["entry"]:
        obs = Observation.model_validate(entry["resource"])
        assert obs.status == "final"
        profiles.update(obs.meta.profile if obs.meta else [])
    assert profiles == {
        "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-tumor-size",
        "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-cancer-disease-status",
    }
    broken = copy.deepcopy(bundle)
    broken["entry"][-1]["resource"]["effectiveDateTime"] = "2020-13-45"
    with pytest.raises(ValueError, match="effectiveDateTime"):
        Bundle.model_validate(broken)  # the validator can fail


def test_responses_are_mcode_cancer_disease_status(subject: SubjectData) -> None:
    """S-001 reads PR then PD: per follow-up an overall and a hepatic response (LOINC 97509-4,
    evidence Imaging), coded as the mCODE trend and as the RECIST category; none at baseline."""
    responses = [
        e["resource"]
        for e in _bundle(subject, subject.summary)["entry"]
        if e["resource"]["code"]["coding"][0]["code"] == "97509-4"
    ]
    assert [(r["effectiveDateTime"], r["method"]["text"]) for r in responses] == [
        ("2020-02-26", "RECIST 1.1"),
        ("2020-02-26", "RECIST 1.1, liver lesions only (hepatic response)"),
        ("2020-04-22", "RECIST 1.1"),
        ("2020-04-22", "RECIST 1.1, liver lesions only (hepatic response)"),
    ]
    codes = [
        [(c["system"], c["code"]) for c in r["valueCodeableConcept"]["coding"]] for r in responses
    ]
    sct, recist = "http://snomed.info/sct", "urn:liverburden:recist-response"
    assert codes[0] == [(sct, "268910001"), (recist, "PR")]
    assert codes[2] == [(sct, "271299001"), (recist, "PD")]
    expected = {tp.date.isoformat(): tp for tp in subject.summary.timepoints}
    for r, c in zip(responses, codes, strict=True):
        tp = expected[r["effectiveDateTime"]]
        hepatic = "liver" in r["method"]["text"]
        assert c[1][1] == (tp.hepatic_response if hepatic else tp.overall_response)
        assert ("bodySite" in r) is hepatic
        assert r["extension"][0]["valueCodeableConcept"]["coding"][0]["code"] == "363679005"


def test_burden_observation_carries_the_measured_fraction(
    subject: SubjectData, tiny_ct: TinyCT
) -> None:
    """One burden observation per timepoint: 100 x burden_fraction in %, both volumes in mL."""
    burdens = [
        e["resource"]
        for e in _bundle(subject)["entry"]
        if e["resource"]["code"]["coding"][0]["code"] == "liver-tumor-burden"
    ]
    assert len(burdens) == 3
    m = tiny_ct.measurement
    for obs in burdens:
        assert obs["valueQuantity"]["value"] == pytest.approx(100 * m["burden_fraction"], abs=1e-4)
        assert obs["valueQuantity"]["code"] == "%"
        volumes = {c["code"]["coding"][0]["code"]: c["valueQuantity"] for c in obs["component"]}
        assert volumes["tumor-volume"]["value"] == pytest.approx(m["tumor_volume_ml"], abs=5e-4)
        assert volumes["liver-volume"]["value"] == pytest.approx(m["liver_volume_ml"], abs=5e-4)
        assert {q["code"] for q in volumes.values()} == {"mL"}

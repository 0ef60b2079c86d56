"""FHIR R4 Bundle of mCODE Tumor Size observations: structure, codes, units, no identifiers."""

from __future__ import annotations

import copy
import json
import re

import pytest

from reporting import (
    MCODE_TUMOR_SIZE,
    ReportingInputError,
    SubjectData,
    TimepointMeasurement,
    build_fhir_bundle,
)
from tests.reporting._ct import PATIENT_ID, PATIENT_NAME, TinyCT

_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")  # FHIR R4 id datatype


def _bundle(subject: SubjectData) -> dict:  # type: ignore[type-arg]
    return build_fhir_bundle(subject.subject_id, subject.timepoints)


def test_bundle_is_a_collection_of_observations(subject: SubjectData) -> None:
    """One Observation per lesion per timepoint, each with a urn:uuid fullUrl and a valid id."""
    bundle = _bundle(subject)
    assert bundle["resourceType"] == "Bundle"
    assert bundle["type"] == "collection"
    entries = bundle["entry"]
    assert len(entries) == 3 * 2
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
        e["resource"]["focus"][0]["identifier"]
        for e in _bundle(subject)["entry"]
        if e["resource"]["focus"][0]["display"] == "Lesion L1"
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

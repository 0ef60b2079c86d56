"""The EDC's eligibility verdict: four imaging criteria, each met, not met or unknown, and their
conjunction (contracts/trial-record.md, Eligibility)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.measure.result import Eligibility, MeasurementResult
from app.subjects.eligibility import all_of, any_of, imaging_criteria
from tests.app._outputs_setup import upload_and_measure
from tests.app._results import lesion, made_result
from tests.app.conftest import Service
from tests.app.measure.test_extrahepatic import _case


def _result(
    measurable: bool | None, dominant: bool | None, le70: bool | None, gt25: bool | None
) -> MeasurementResult:
    flags = Eligibility(
        measurable_liver_lesion=measurable,
        burden_dominant_in_liver=dominant,
        burden_le_70pct=le70,
        burden_gt_25pct=gt25,
    )
    return made_result(
        None if le70 is None else (0.3 if gt25 else 0.1),
        (lesion(1, 17.8),),
        flags=flags,
        hepatic_share=None if dominant is None else (0.9 if dominant else 0.2),
    )


# (measurable, dominant, <=70 %, >25 %, symptomatic, liver progression) -> verdict
CASES = [
    ((True, True, True, True, None, None), True),  # burden > 25 % suffices, symptoms unknown
    ((True, True, True, False, True, None), True),  # symptoms suffice
    ((True, True, True, False, None, True), True),  # progression suffices
    ((True, True, True, False, False, False), False),  # none of the three
    ((True, True, True, False, None, False), None),  # symptoms unknown: cannot tell
    ((True, True, True, False, None, None), None),
    ((False, True, True, True, True, True), False),  # no measurable liver metastasis
    ((True, False, True, True, True, True), False),  # burden not dominant in the liver
    ((True, True, False, True, True, True), False),  # burden over 70 %
    ((None, True, True, True, True, True), None),  # no liver measured
    ((True, None, True, True, True, True), None),  # dominance unknown (old measurement)
    ((False, None, None, None, None, None), False),  # one criterion not met decides
]


@pytest.mark.parametrize(("inputs", "verdict"), CASES)
def test_verdict_for_each_combination(inputs: tuple[Any, ...], verdict: bool | None) -> None:
    measurable, dominant, le70, gt25, symptomatic, progression = inputs
    criteria = imaging_criteria(_result(measurable, dominant, le70, gt25), progression, symptomatic)
    assert [c.criterion for c in criteria] == [
        "measurable_liver_metastasis",
        "burden_dominant_in_liver",
        "burden_le_70pct",
        "symptoms_or_liver_progression_or_burden_gt_25pct",
    ]
    assert all(isinstance(c.detail, str) and c.detail for c in criteria)
    assert all_of([c.met for c in criteria]) is verdict


def test_three_valued_logic() -> None:
    assert any_of([None, True]) is True and any_of([False, False]) is False
    assert any_of([None, False]) is None and any_of([]) is False
    assert all_of([True, None]) is None and all_of([None, False]) is False
    assert all_of([True, True]) is True and all_of([]) is True


def test_edc_gets_the_verdict_for_a_mislabelled_adrenal_mass(
    service: Service, tmp_path: Path
) -> None:
    """A 17.8 mm liver lesion and a large mass outside the liver labelled as liver tumour: the
    burden is not dominant in the liver, so the subject is not eligible, symptoms or not."""
    series, labels_path, _, _ = _case(tmp_path, (15.0, 12.0, 10.0), 2, lesion_semi=(9.0, 8.0, 6.0))
    c = service.client()
    assert c.post("/v1/subjects", json={"subject_id": "ELIG-1"}).status_code == 201
    upload_and_measure(
        c, sorted(series.iterdir()), labels_path, "ELIG-1", "baseline", None, True, None
    )
    edc = service.client("edc")
    for symptomatic in (None, True, False):
        params = {} if symptomatic is None else {"symptomatic": str(symptomatic).lower()}
        r = edc.get("/v1/subjects/ELIG-1/eligibility", params=params)
        assert r.status_code == 200, r.text
        got = r.json()
        assert got["symptomatic"] is symptomatic
        criteria = {k["criterion"]: k for k in got["criteria"]}
        assert criteria["measurable_liver_metastasis"]["met"] is True
        assert criteria["burden_dominant_in_liver"]["met"] is False
        assert "must exceed 50 %" in criteria["burden_dominant_in_liver"]["detail"]
        assert got["burden_dominant_in_liver"] is False and got["hepatic_share"] < 0.5
        assert got["imaging_eligible"] is False
    bad = edc.get("/v1/subjects/ELIG-1/eligibility", params={"symptomatic": "perhaps"})
    assert bad.status_code == 422

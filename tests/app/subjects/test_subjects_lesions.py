"""Subjects, timepoints, the lesion table, RECIST assessments and the EDC eligibility read."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest

from app.db.models import Measurement
from app.db.session import session_scope
from tests.app._results import lesion, made_result
from tests.app.conftest import Service

CONTRACT_INPUT: dict[str, Any] = {
    "subject_id": "S-001",
    "reference_date": "2020-01-01",
    "lesions": [
        {"lesion_id": "T1", "organ": "liver", "lymph_node": False, "role": "target"},
        {"lesion_id": "N1", "organ": "lymph node", "lymph_node": True, "role": "target"},
        {"lesion_id": "NT1", "organ": "liver", "lymph_node": False, "role": "non_target"},
    ],
    "timepoints": [
        {
            "date": "2020-01-01",
            "baseline": True,
            "measurements": [
                {"lesion_id": "T1", "diameter_mm": 21.0},
                {"lesion_id": "N1", "diameter_mm": 17.0},
                {"lesion_id": "NT1", "status": "present"},
            ],
            "new_lesions": [],
        },
        {
            "date": "2020-03-01",
            "measurements": [
                {"lesion_id": "T1", "status": "too_small"},
                {"lesion_id": "N1", "diameter_mm": 8.0},
                {"lesion_id": "NT1", "status": "absent"},
            ],
            "new_lesions": [{"organ": "liver", "equivocal": False}],
        },
    ],
}


@pytest.fixture
def service(backend_service: Service) -> Service:
    """Every test here runs on SQLite and on PostgreSQL."""
    return backend_service


def _timepoint(client: httpx.Client, subject: str, label: str, date: str, baseline: bool) -> str:
    r = client.post(
        f"/v1/subjects/{subject}/timepoints",
        json={"label": label, "date": date, "baseline": baseline},
    )
    assert r.status_code == 201, r.text
    return str(r.json()["timepoint_id"])


def _record(
    client: httpx.Client,
    subject: str,
    tp: str,
    measurements: list[dict[str, Any]],
    new: list[dict[str, Any]] | None = None,
) -> httpx.Response:
    return client.put(
        f"/v1/subjects/{subject}/timepoints/{tp}/lesions",
        json={"reason": "read", "measurements": measurements, "new_lesions": new or []},
    )


def test_subject_and_timepoint_lifecycle(service: Service) -> None:
    """Subjects and timepoints are created once (409 on repeats) and listed by date."""
    c = service.client()
    assert c.post("/v1/subjects", json={"subject_id": "S-001", "arm": "TAE"}).status_code == 201
    assert c.post("/v1/subjects", json={"subject_id": "S-001"}).status_code == 409
    _timepoint(c, "S-001", "fu1", "2020-03-01", False)
    _timepoint(c, "S-001", "base", "2020-01-01", True)
    assert (
        c.post(
            "/v1/subjects/S-001/timepoints", json={"label": "base", "date": "2020-01-02"}
        ).status_code
        == 409
    )
    second = c.post(
        "/v1/subjects/S-001/timepoints",
        json={"label": "b2", "date": "2020-01-02", "baseline": True},
    )
    assert second.status_code == 409 and "baseline" in second.json()["detail"]
    listed = c.get("/v1/subjects/S-001/timepoints").json()
    assert [t["label"] for t in listed] == ["base", "fu1"]
    assert (
        c.post(
            "/v1/subjects/S-404/timepoints", json={"label": "x", "date": "2020-01-01"}
        ).status_code
        == 404
    )


def test_lesion_table_feeds_the_recist_engine(service: Service) -> None:
    """The assessment of a recorded lesion table equals the engine's answer to the same input."""
    c = service.client()
    c.post("/v1/subjects", json={"subject_id": "S-001"})
    base = _timepoint(c, "S-001", "base", "2020-01-01", True)
    fu = _timepoint(c, "S-001", "fu1", "2020-03-01", False)
    r = c.put(
        "/v1/subjects/S-001/lesions",
        json={"reason": "baseline read", "lesions": CONTRACT_INPUT["lesions"]},
    )
    assert r.status_code == 200, r.text
    for tp, doc in zip((base, fu), CONTRACT_INPUT["timepoints"], strict=True):
        r = _record(c, "S-001", tp, doc["measurements"], doc["new_lesions"])
        assert r.status_code == 200, r.text

    direct = c.post("/v1/recist/assess", json=CONTRACT_INPUT)
    assert direct.status_code == 200, direct.text
    via_table = service.client("edc").get("/v1/subjects/S-001/assessment")
    assert via_table.status_code == 200, via_table.text
    got = via_table.json()
    for out in got["timepoints"]:
        assert out.pop("timepoint_id") in (base, fu)
        out.pop("label")
        assert out.pop("provisional") is False  # a reader's table: nothing proposed
    assert got == direct.json()
    assert got["timepoints"][0]["sum_mm"] == 38.0
    assert got["timepoints"][1]["overall_response"] == "PD"
    assert got["hepatic_progression"] == {"progressed": True, "date": "2020-03-01"}


def test_lesion_edits_need_a_reason_and_are_audited(service: Service) -> None:
    """A lesion edit without a reason is 422; with one, the audit trail holds it."""
    c = service.client()
    c.post("/v1/subjects", json={"subject_id": "S-002"})
    lesions = [{"lesion_id": "T1", "organ": "liver", "role": "target"}]
    assert c.put("/v1/subjects/S-002/lesions", json={"lesions": lesions}).status_code == 422
    assert (
        c.put(
            "/v1/subjects/S-002/lesions",
            json={"reason": "re-read by second reader", "lesions": lesions},
        ).status_code
        == 200
    )
    events = (
        service.client("admin")
        .get("/v1/audit/events", params={"action": "lesions.replaced"})
        .json()
    )
    assert events[-1]["details"]["reason"] == "re-read by second reader"
    assert events[-1]["entity_id"] == "S-002"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"lesion_id": "X9", "diameter_mm": 10.0}, 422),
        ({"lesion_id": "T1", "diameter_mm": 10.0, "status": "absent"}, 422),
        ({"lesion_id": "T1", "measurement_id": "nope", "measurement_lesion_id": "L1"}, 404),
    ],
    ids=["unknown-lesion", "two-values", "unknown-measurement"],
)
def test_bad_lesion_measurements(service: Service, body: dict[str, Any], status: int) -> None:
    """Unknown lesions, ambiguous values and unknown source measurements are refused."""
    c = service.client()
    c.post("/v1/subjects", json={"subject_id": "S-003"})
    tp = _timepoint(c, "S-003", "base", "2020-01-01", True)
    c.put(
        "/v1/subjects/S-003/lesions",
        json={
            "reason": "read",
            "lesions": [{"lesion_id": "T1", "organ": "liver", "role": "target"}],
        },
    )
    r = _record(c, "S-003", tp, [body])
    assert r.status_code == status, r.text


def _fake_measurement(service: Service, tp: str, burden: float, lesions: list[float]) -> str:
    """A stored measurement of a timepoint (as a finished job would write it)."""
    result = made_result(
        burden, tuple(lesion(i, d) for i, d in enumerate(lesions, start=1))
    ).to_json()
    with session_scope(service.server.session_factory) as s:
        m = Measurement(
            timepoint_id=tp,
            series_instance_uid="1.2.3",
            segmentation_ref="upload:x",
            version=1,
            input_sha256="a" * 64,
            request_sha256="b" * 64,
            algorithm_version="0.1.0",
            result=result,
            created_by="test",
        )
        s.add(m)
        s.flush()
        return m.id


@pytest.mark.parametrize(
    ("scans", "expected"),
    [
        ([("base", "2020-02-01", 20.0)], None),
        ([("pre", "2019-11-01", 20.0), ("base", "2020-02-01", 30.0)], True),
        ([("pre", "2019-11-01", 30.0), ("base", "2020-02-01", 29.0)], False),
        ([("pre", "2019-11-01", None), ("base", "2020-02-01", 30.0)], None),
    ],
    ids=["one-scan", "growing", "stable", "unmeasured"],
)
def test_eligibility_for_the_edc(
    service: Service, scans: list[tuple[str, str, float | None]], expected: bool | None
) -> None:
    """Eligibility: the baseline's latest measurement, RECIST between pre-enrolment scans."""
    c = service.client()
    c.post("/v1/subjects", json={"subject_id": "S-010"})
    ids = {label: _timepoint(c, "S-010", label, date, label == "base") for label, date, _ in scans}
    edc = service.client("edc")
    assert edc.get("/v1/subjects/S-010/eligibility").status_code == 404
    c.put(
        "/v1/subjects/S-010/lesions",
        json={
            "reason": "read",
            "lesions": [{"lesion_id": "T1", "organ": "Liver", "role": "target"}],
        },
    )
    for label, _, diameter in scans:
        if diameter is not None:
            assert (
                _record(
                    c, "S-010", ids[label], [{"lesion_id": "T1", "diameter_mm": diameter}]
                ).status_code
                == 200
            )
    mid = _fake_measurement(service, ids["base"], 0.3, [30.0])
    r = edc.get("/v1/subjects/S-010/eligibility")
    assert r.status_code == 200, r.text
    got = r.json()
    criteria = {c["criterion"]: c["met"] for c in got.pop("criteria")}
    # a measurement from before 0.2.0 has no hepatic share: dominance unknown, never guessed
    assert got.pop("burden_dominant_in_liver") is None and got.pop("hepatic_share") is None
    assert got.pop("symptomatic") is None
    assert criteria == {
        "measurable_liver_metastasis": True,
        "burden_dominant_in_liver": None,
        "burden_le_70pct": True,
        "symptoms_or_liver_progression_or_burden_gt_25pct": True,  # burden 30 % > 25 %
    }
    assert got.pop("imaging_eligible") is None
    assert got == {
        "subject_id": "S-010",
        "timepoint_id": ids["base"],
        "measurement_id": mid,
        "burden_fraction": 0.3,
        "burden_le_70pct": True,
        "burden_gt_25pct": True,
        "measurable_liver_lesion": True,
        "liver_progression_by_recist": expected,
        "algorithm_version": "0.1.0",
    }


@pytest.mark.parametrize(
    ("later_mm", "expected"), [(15.0, True), (6.0, False)], ids=["measurable", "equivocal"]
)
def test_a_lesion_absent_at_screening_is_new_at_the_baseline(
    service: Service, later_mm: float, expected: bool
) -> None:
    """T2 absent at the screening scan and seen at the baseline appeared in between: a new
    lesion there (PD when measurable; an equivocal one under 10 mm is not yet PD)."""
    c = service.client()
    c.post("/v1/subjects", json={"subject_id": "S-012"})
    pre = _timepoint(c, "S-012", "pre", "2019-11-01", False)
    base = _timepoint(c, "S-012", "base", "2020-02-01", True)
    lesions = [
        {"lesion_id": "T1", "organ": "liver", "role": "target"},
        {"lesion_id": "T2", "organ": "liver", "role": "target"},
    ]
    r = c.put("/v1/subjects/S-012/lesions", json={"reason": "read", "lesions": lesions})
    assert r.status_code == 200, r.text
    pre_reads = [{"lesion_id": "T1", "diameter_mm": 20.0}, {"lesion_id": "T2", "status": "absent"}]
    base_reads = [
        {"lesion_id": "T1", "diameter_mm": 20.0},
        {"lesion_id": "T2", "diameter_mm": later_mm},
    ]
    assert _record(c, "S-012", pre, pre_reads).status_code == 200
    assert _record(c, "S-012", base, base_reads).status_code == 200
    _fake_measurement(service, base, 0.1, [20.0, later_mm])
    got = service.client("edc").get("/v1/subjects/S-012/eligibility").json()
    assert got["liver_progression_by_recist"] is expected, got


def test_sdtm_tr_shows_the_screening_reading_the_eligibility_rests_on(service: Service) -> None:
    """The pre-enrolment scan's reading (liver progression 20 -> 30 mm, see the eligibility test)
    is in TR under its visit name, numbered before the baseline; RS has no response for it."""
    import csv
    import io

    c = service.client()
    c.post("/v1/subjects", json={"subject_id": "S-011"})
    pre = _timepoint(c, "S-011", "pre", "2019-11-01", False)
    base = _timepoint(c, "S-011", "base", "2020-02-01", True)
    c.put(
        "/v1/subjects/S-011/lesions",
        json={
            "reason": "read",
            "lesions": [{"lesion_id": "T1", "organ": "liver", "role": "target"}],
        },
    )
    for tp, diameter in ((pre, 20.0), (base, 30.0)):
        assert (
            _record(c, "S-011", tp, [{"lesion_id": "T1", "diameter_mm": diameter}]).status_code
            == 200
        )
    r = c.get("/v1/subjects/S-011/sdtm/tr", params={"format": "csv"})
    assert r.status_code == 200, r.text
    rows = list(csv.DictReader(io.StringIO(r.text)))
    screening = [row for row in rows if row["TRDTC"] == "2019-11-01"]
    assert [
        (row["VISITNUM"], row["VISIT"], row["TRLNKID"], row["TRORRES"]) for row in screening
    ] == [("1", "pre", "T1", "20")]
    assert {row["VISITNUM"] for row in rows if row["TRDTC"] == "2020-02-01"} == {"2"}
    rs = c.get("/v1/subjects/S-011/sdtm/rs", params={"format": "csv"})
    assert "2019-11-01" not in rs.text


def test_mask_derived_diameter(service: Service) -> None:
    """A lesion measurement may take its diameter from a stored measurement's lesion."""
    c = service.client()
    c.post("/v1/subjects", json={"subject_id": "S-020"})
    tp = _timepoint(c, "S-020", "base", "2020-01-01", True)
    c.put(
        "/v1/subjects/S-020/lesions",
        json={
            "reason": "read",
            "lesions": [
                {"lesion_id": "T1", "organ": "liver", "role": "target"},
                {"lesion_id": "N1", "organ": "lymph node", "lymph_node": True, "role": "target"},
            ],
        },
    )
    mid = _fake_measurement(service, tp, 0.1, [42.0, 24.0])
    r = _record(
        c,
        "S-020",
        tp,
        [
            {"lesion_id": "T1", "measurement_id": mid, "measurement_lesion_id": "L1"},
            {"lesion_id": "N1", "measurement_id": mid, "measurement_lesion_id": "L2"},
        ],
    )
    assert r.status_code == 200, r.text
    table = {x["lesion_id"]: x["measurements"][0] for x in r.json()["lesions"]}
    assert table["T1"]["diameter_mm"] == 42.0 and table["T1"]["source"] == "mask"
    assert table["N1"]["diameter_mm"] == 12.0  # a node counts its short axis
    burden = service.client("edc").get("/v1/subjects/S-020/burden").json()
    assert burden["timepoints"][0]["burden_fraction"] == 0.1


def test_assessment_without_baseline_is_422(service: Service) -> None:
    """A subject without a baseline timepoint cannot be assessed."""
    c = service.client()
    c.post("/v1/subjects", json={"subject_id": "S-030"})
    _timepoint(c, "S-030", "fu", dt.date(2020, 1, 1).isoformat(), False)
    r = c.get("/v1/subjects/S-030/assessment")
    assert r.status_code == 422
    assert "baseline" in r.json()["detail"]


def test_recist_input_errors_are_422(service: Service) -> None:
    """Invalid RECIST input posted directly is a 422 recist-input problem."""
    bad = {**CONTRACT_INPUT, "timepoints": CONTRACT_INPUT["timepoints"][1:]}
    r = service.client().post("/v1/recist/assess", json=bad)
    assert r.status_code == 422
    assert r.json()["type"].endswith("recist-input")

"""Lesion tracking through HTTP: a 4-visit timeline read to a RECIST answer with no hand table.

Baseline, then three follow-ups, each a phantom CT study measured by a job, with the patient lying
differently every time (shifts up to 39 mm, rotations up to 8.5 degrees). Liver lesions A (30 mm)
and B (24 mm) are the proposed targets (two per organ), C and D non-targets. Follow-up 1: the
targets shrink to 60 % (sum -40 %: PR). Follow-up 2: they regrow to 85 % (-15 % from baseline,
which looks like a response, but +42 % over the nadir: PD). Follow-up 3: a new 16 mm liver lesion
(PD). Runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

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

SUBJECT = "TRACK-01"

BASE = SMALL_ABDOMEN
A = ((-38.0, -8.0, 0.0), (15.0, 12.0, 8.0))
B = ((18.0, 14.0, 4.0), (12.0, 10.0, 7.0))
C = ((-20.0, 28.0, -6.0), (4.0, 4.0, 4.0))
D = ((25.0, -22.0, -6.0), (3.5, 3.5, 3.5))
NEW = ((0.0, -28.0, 10.0), (8.0, 7.0, 6.0))


def _lesions(scale: float, new: bool = False) -> tuple[LesionSpec, ...]:
    out = [
        LesionSpec(A[0], tuple(v * scale for v in A[1])),  # type: ignore[arg-type]
        LesionSpec(B[0], tuple(v * scale for v in B[1])),  # type: ignore[arg-type]
        LesionSpec(*C),
        LesionSpec(*D),
    ]
    if new:
        out.append(LesionSpec(*NEW))
    return tuple(out)


VISITS = [
    ("baseline", "2026-01-05", True, _lesions(1.0), None),
    ("week8", "2026-03-02", False, _lesions(0.6), BodyPose((3.0, -5.0, 6.0), (25.0, -20.0, 22.0))),
    (
        "week16",
        "2026-04-27",
        False,
        _lesions(0.85),
        BodyPose((0.0, 0.0, -7.9), (-30.0, 12.0, -18.0)),
    ),
    (
        "week24",
        "2026-06-22",
        False,
        _lesions(0.85, new=True),
        BodyPose((2.0, 2.0, 2.0), (10.0, 30.0, 5.0)),
    ),
]


def _measure_visit(
    c: httpx.Client, folder: Path, seed: int, visit: tuple[str, str, bool, Any, BodyPose | None]
) -> str:
    label, date, baseline, lesions, pose = visit
    spec = dataclasses.replace(BASE, lesions=lesions, pose=pose, seed=seed)
    phantom = make_phantom(spec)
    files = write_dicom_series(phantom, folder / "ct")
    labels = write_label_nifti(phantom, folder / "labels.nii.gz")
    tp = upload_and_measure(c, files, labels, SUBJECT, label, date, baseline, lesion_count=None)
    return tp.timepoint_id


@pytest.fixture
def tracked(backend_service: Service, tmp_path: Path) -> tuple[Service, list[str]]:
    c = backend_service.client()
    assert c.post("/v1/subjects", json={"subject_id": SUBJECT, "arm": "A"}).status_code == 201
    ids = [_measure_visit(c, tmp_path / v[0], n + 1, v) for n, v in enumerate(VISITS)]
    return backend_service, ids


def _by_id(table: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {les["lesion_id"]: les for les in table["lesions"]}


def test_timeline_is_tracked_and_assessed_without_a_hand_table(
    tracked: tuple[Service, list[str]],
) -> None:
    service, (base, fu1, fu2, fu3) = tracked
    c = service.client()
    table = c.get(f"/v1/subjects/{SUBJECT}/lesions").json()
    lesions = _by_id(table)
    assert sorted(lesions) == ["NT1", "NT2", "T1", "T2"]
    assert [lesions["T1"]["role"], lesions["T2"]["role"]] == ["target", "target"]
    assert all(les["state"] == "proposed" and les["organ"] == "liver" for les in lesions.values())
    t1 = {m["timepoint_id"]: m for m in lesions["T1"]["measurements"]}
    t2 = {m["timepoint_id"]: m for m in lesions["T2"]["measurements"]}
    assert set(t1) == {base, fu1, fu2, fu3}  # every follow-up linked by the job itself
    assert t1[base]["diameter_mm"] == pytest.approx(30.0, abs=2.5)  # A: the largest
    assert t2[base]["diameter_mm"] == pytest.approx(24.0, abs=2.5)
    assert t1[fu1]["diameter_mm"] == pytest.approx(0.6 * t1[base]["diameter_mm"], abs=2.5)
    assert t1[fu1]["evidence"]["kind"] == "matched"
    assert t1[fu1]["evidence"]["distance_mm"] < 10.0
    for nt in ("NT1", "NT2"):
        assert {m["timepoint_id"] for m in lesions[nt]["measurements"]} == {base, fu1, fu2, fu3}
    assert list(table["new_lesions"]) == [fu3]
    (new,) = table["new_lesions"][fu3]
    assert new["lesion_id"] == "NEW1" and new["organ"] == "liver" and new["equivocal"] is False

    result = c.get(f"/v1/subjects/{SUBJECT}/assessment").json()
    responses = [tp["overall_response"] for tp in result["timepoints"]]
    assert responses[1:] == ["PR", "PD", "PD"], result
    assert [tp["provisional"] for tp in result["timepoints"]] == [True, True, True, True]
    progression = result["hepatic_progression"]
    assert progression["date"] == "2026-04-27", progression  # over the nadir, not the baseline

    tu = c.get(f"/v1/subjects/{SUBJECT}/sdtm/tu", params={"format": "csv"})
    assert tu.status_code == 200, tu.text
    ids = [row.split(",") for row in tu.text.splitlines()]
    column = ids[0].index("TULNKID")
    assert sorted(r[column] for r in ids[1:]) == ["NEW1", "NT1", "NT2", "T1", "T2"]


def test_confirming_with_overrides_is_audited_and_ends_provisional(
    tracked: tuple[Service, list[str]],
) -> None:
    service, (base, fu1, fu2, fu3) = tracked
    c = service.client()
    three_liver_targets = {"reason": "bigger", "changes": [{"lesion_id": "NT1", "role": "target"}]}
    r = c.post(
        f"/v1/subjects/{SUBJECT}/timepoints/{base}/lesions/confirm", json=three_liver_targets
    )
    assert r.status_code == 422, r.text  # RECIST 1.1: at most two targets per organ
    assert "RECIST" in r.json()["detail"]
    r = c.post(f"/v1/subjects/{SUBJECT}/timepoints/{base}/lesions/confirm", json={})
    assert r.status_code == 200, r.text
    assert all(les["state"] == "confirmed" for les in r.json()["lesions"])
    r = c.post(
        f"/v1/subjects/{SUBJECT}/timepoints/{fu2}/lesions/confirm",
        json={
            "reason": "NT2 not seen",
            "changes": [{"lesion_id": "NT2", "status": "not_evaluated"}],
        },
    )
    assert r.status_code == 200, r.text
    (nt2,) = [les for les in r.json()["lesions"] if les["lesion_id"] == "NT2"]
    (at_fu2,) = [m for m in nt2["measurements"] if m["timepoint_id"] == fu2]
    assert at_fu2["status"] == "not_evaluated" and at_fu2["state"] == "confirmed"
    assert at_fu2["evidence"]["override"] is True
    r = c.post(
        f"/v1/subjects/{SUBJECT}/timepoints/{fu3}/lesions/confirm",
        json={"changes": [{"lesion_id": "NEW1", "reject": True}]},
    )
    assert r.status_code == 422, r.text  # a change needs a reason
    r = c.post(
        f"/v1/subjects/{SUBJECT}/timepoints/{fu3}/lesions/confirm",
        json={"reason": "NEW1 is a cyst", "changes": [{"lesion_id": "NEW1", "reject": True}]},
    )
    assert r.status_code == 200, r.text
    (new,) = r.json()["new_lesions"][fu3]
    assert new["state"] == "rejected"  # shown, never dropped

    result = c.get(f"/v1/subjects/{SUBJECT}/assessment").json()
    flags = {tp["timepoint_id"]: tp["provisional"] for tp in result["timepoints"]}
    assert flags == {base: False, fu1: True, fu2: False, fu3: False}
    assert result["timepoints"][3]["new_lesions"] is False  # the rejected lesion is not counted

    admin = service.client("admin")
    events = admin.get("/v1/audit/events", params={"action": "lesions.confirmed"}).json()
    reasons = [e["details"].get("reason") for e in events]
    assert reasons == [None, "NT2 not seen", "NEW1 is a cyst"]  # the refused change left none


def test_a_hand_table_over_proposals_records_what_it_set_aside(
    tracked: tuple[Service, list[str]],
) -> None:
    """A reader's PUT at a tracked visit replaces tracking's readings and its NEW1: both are
    listed in their own audit event (a second PUT, with nothing proposed, adds none)."""
    service, (_base, _fu1, _fu2, fu3) = tracked
    c = service.client()
    proposed = {
        les["lesion_id"]: {m["timepoint_id"]: m for m in les["measurements"]}[fu3]
        for les in c.get(f"/v1/subjects/{SUBJECT}/lesions").json()["lesions"]
    }
    hand = {
        "reason": "read on the workstation",
        "measurements": [
            {"lesion_id": "T1", "diameter_mm": 26.0},
            {"lesion_id": "T2", "diameter_mm": 20.0},
            {"lesion_id": "NT1", "status": "present"},
            {"lesion_id": "NT2", "status": "present"},
        ],
    }
    path = f"/v1/subjects/{SUBJECT}/timepoints/{fu3}/lesions"
    r = c.put(path, json=hand)
    assert r.status_code == 200, r.text
    assert fu3 not in r.json()["new_lesions"]  # the proposed NEW1 is gone from the record

    admin = service.client("admin")
    events = admin.get("/v1/audit/events", params={"action": "lesions.proposals_discarded"})
    (event,) = events.json()
    assert event["entity_id"] == fu3 and event["details"]["reason"] == "read on the workstation"
    assert event["details"]["new_lesions"] == [{"lesion_id": "NEW1", "outcome": "deleted"}]
    dropped = {x["lesion_id"]: x for x in event["details"]["readings"]}
    assert set(dropped) == {"T1", "T2", "NT1", "NT2", "NEW1"}
    for lesion_id, reading in proposed.items():
        assert dropped[lesion_id]["state"] == "proposed"
        assert dropped[lesion_id].get("diameter_mm") == reading.get("diameter_mm")

    assert c.put(path, json=hand).status_code == 200  # nothing proposed left to set aside
    again = admin.get("/v1/audit/events", params={"action": "lesions.proposals_discarded"})
    assert len(again.json()) == 1


def test_a_timepoint_is_linked_again_after_the_record_changed(
    tracked: tuple[Service, list[str]],
) -> None:
    """The reader changes a baseline role; week8 is linked again from its stored measurement:
    the same links (deterministic), audited as tracking by the reader; a confirmed timepoint or
    one never measured is refused with the reason."""
    service, (base, fu1, fu2, _fu3) = tracked
    c = service.client()

    def readings_at(tp: str) -> dict[str, dict[str, Any]]:
        table = c.get(f"/v1/subjects/{SUBJECT}/lesions").json()
        return {
            les["lesion_id"]: {m["timepoint_id"]: m for m in les["measurements"]}[tp]
            for les in table["lesions"]
        }

    before = readings_at(fu1)
    admin = service.client("admin")

    def tracked_events() -> list[dict[str, Any]]:
        events = admin.get("/v1/audit/events", params={"action": "lesions.tracked"}).json()
        return [e for e in events if e["entity_id"] == fu1]

    events_before = tracked_events()
    r = c.post(
        f"/v1/subjects/{SUBJECT}/timepoints/{base}/lesions/confirm",
        json={
            "reason": "B is better followed as a non-target",
            "changes": [{"lesion_id": "T2", "role": "non_target"}],
        },
    )
    assert r.status_code == 200, r.text
    again = c.post(f"/v1/subjects/{SUBJECT}/timepoints/{fu1}/lesions/track")
    assert again.status_code == 200, again.text
    after = readings_at(fu1)
    keep = ("diameter_mm", "status", "measurement_id", "measurement_lesion_id", "state")
    assert {k: {f: v.get(f) for f in keep} for k, v in after.items()} == {
        k: {f: v.get(f) for f in keep} for k, v in before.items()
    }
    roles = {x["lesion_id"]: x["role"] for x in again.json()["lesions"]}
    assert roles["T2"] == "non_target"
    events_after = tracked_events()
    assert len(events_after) == len(events_before) + 1  # the re-link is audited as tracking
    assert events_after[-1]["details"]["kind"] == "follow_up"
    assert events_after[-1]["details"]["measurement_id"] == after["T1"]["measurement_id"]

    confirmed = c.post(f"/v1/subjects/{SUBJECT}/timepoints/{fu2}/lesions/confirm", json={})
    assert confirmed.status_code == 200, confirmed.text
    refused = c.post(f"/v1/subjects/{SUBJECT}/timepoints/{fu2}/lesions/track")
    assert refused.status_code == 409, refused.text
    assert "confirmed" in refused.json()["detail"]
    empty = c.post(
        f"/v1/subjects/{SUBJECT}/timepoints",
        json={"label": "week32", "date": "2026-08-17"},
    )
    assert empty.status_code == 201, empty.text
    none = c.post(f"/v1/subjects/{SUBJECT}/timepoints/{empty.json()['timepoint_id']}/lesions/track")
    assert none.status_code == 409 and "no measurement of record" in none.json()["detail"]


def test_outputs_name_tracked_lesions_by_their_record_ids(
    tracked: tuple[Service, list[str]],
) -> None:
    """SR/SEG tracking UIDs follow the record: T1 has one UID at every visit (not L1, L2...)."""
    from app.db import repo
    from app.outputs.subject import lesion_uid, measurement_lesion_uids
    from tests.app.conftest import session_factory_for

    service, timepoints = tracked
    table = service.client().get(f"/v1/subjects/{SUBJECT}/lesions").json()
    checked = 0
    with session_factory_for(service.settings)() as s:
        subject = repo.get_subject(s, SUBJECT)
        for lesion in table["lesions"]:
            want = lesion_uid(SUBJECT, lesion["lesion_id"])
            for reading in lesion["measurements"]:
                if "measurement_lesion_id" not in reading or reading.get("status"):
                    continue
                m = repo.get_measurement(s, reading["measurement_id"])
                uids = measurement_lesion_uids(s, subject, m)
                for measured_id in reading["measurement_lesion_id"].split("+"):
                    assert uids[measured_id] == want, (lesion["lesion_id"], reading)
                    checked += 1
    # every record lesion at every visit (NT2 and T1/T2 are seen at all four)
    assert checked >= 4 * len(timepoints), checked


def test_reports_and_fhir_name_lesions_by_their_record_ids(
    tracked: tuple[Service, list[str]],
) -> None:
    """The report's lesion table reads 'T1', 'NEW1 (new)' beside the measured L-numbers, its key
    images are titled by record id, FHIR's focus names the record lesion."""
    import re

    service, (_base, _fu1, _fu2, fu3) = tracked
    c = service.client()
    table = c.get(f"/v1/subjects/{SUBJECT}/lesions").json()
    (new,) = [n["measurement"] for n in table["new_lesions"][fu3] if n["lesion_id"] == "NEW1"]
    page = c.get(f"/v1/subjects/{SUBJECT}/report", params={"key_images": "true"})
    assert page.status_code == 200, page.text
    rows = re.findall(r"<tr><td>([0-9-]+)</td><td>(L\d+)</td><td>([^<]*)</td>", page.text)
    names = {(date, measured): record for date, measured, record in rows}
    assert {"T1", "T2", "NT1", "NT2", "NEW1 (new)"} <= set(names.values()), names
    assert names[("2026-06-22", new["measurement_lesion_id"])] == "NEW1 (new)"
    assert re.search(r'alt="2026-06-22 week24 NEW1 \(L\d+\)"', page.text)
    bundle = c.get(f"/v1/subjects/{SUBJECT}/fhir").json()
    displays = {
        e["resource"]["focus"][0]["display"] for e in bundle["entry"] if "focus" in e["resource"]
    }
    assert any(re.fullmatch(r"Lesion T1 \(L\d+\)", d) for d in displays), displays

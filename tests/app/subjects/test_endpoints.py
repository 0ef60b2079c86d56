"""The endpoint as data: H-PFS per subject over HTTP and the trial's ADTTE (SQLite, PostgreSQL).

Subjects built through the API with hand-read lesion tables (one liver target each), their
intervals computed by hand (recist/endpoint.py's conventions: start = randomization else
baseline, AVAL = ADT - STARTDT + 1, CNSR 1 = censored):

- EV: randomized 2020-01-10, 30 -> 20 (PR) -> 36 mm on 2020-05-01 (PD over the nadir): event,
  112 + 1 = 113 days;
- CE: baseline 2020-02-01, 30 -> 29 (SD, 2020-04-01) -> not evaluated: censored at 2020-04-01,
  61 days;
- NF: baseline only: censored at the start, 1 day;
- NS: no baseline and no randomization date: left out of ADTTE, 422 on its own;
- PRE: randomized after its progression (a wrong date): left out, 422 naming both dates.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import tempfile
from pathlib import Path
from typing import Any

import httpx
import pyreadstat
import pytest

from tests.app.conftest import Service

TARGET = [{"lesion_id": "T1", "organ": "liver", "lymph_node": False, "role": "target"}]
SUBJECTS: dict[str, dict[str, Any]] = {
    "EV": {
        "randomization_date": "2020-01-10",
        "arm": "TACE",
        "reads": [("2020-01-05", 30.0), ("2020-03-01", 20.0), ("2020-05-01", 36.0)],
    },
    "CE": {
        "arm": "BE",
        "reads": [("2020-02-01", 30.0), ("2020-04-01", 29.0), ("2020-06-01", None)],
    },
    "NF": {"arm": "DEB", "reads": [("2020-03-01", 30.0)]},
    "NS": {"arm": "BE", "reads": []},
    "PRE": {
        "randomization_date": "2020-04-01",
        "arm": "BE",
        "reads": [("2020-01-05", 30.0), ("2020-03-01", 40.0)],
    },
}
EXPECTED = {  # subject -> (STARTDT, ADT, AVAL, CNSR)
    "EV": ("2020-01-10", "2020-05-01", 113, 0),
    "CE": ("2020-02-01", "2020-04-01", 61, 1),
    "NF": ("2020-03-01", "2020-03-01", 1, 1),
}


def _build(c: httpx.Client, subject_id: str, spec: dict[str, Any]) -> None:
    body = {"subject_id": subject_id, "arm": spec["arm"]}
    if "randomization_date" in spec:
        body["randomization_date"] = spec["randomization_date"]
    r = c.post("/v1/subjects", json=body)
    assert r.status_code == 201, r.text
    if not spec["reads"]:
        return
    r = c.put(f"/v1/subjects/{subject_id}/lesions", json={"reason": "read", "lesions": TARGET})
    assert r.status_code == 200, r.text
    for n, (date, diameter) in enumerate(spec["reads"]):
        tp = c.post(
            f"/v1/subjects/{subject_id}/timepoints",
            json={"label": f"V{n}", "date": date, "baseline": n == 0},
        )
        assert tp.status_code == 201, tp.text
        reading: dict[str, Any] = {"lesion_id": "T1"}
        if diameter is None:
            reading["status"] = "not_evaluated"
        else:
            reading["diameter_mm"] = diameter
        r = c.put(
            f"/v1/subjects/{subject_id}/timepoints/{tp.json()['timepoint_id']}/lesions",
            json={"reason": "read", "measurements": [reading]},
        )
        assert r.status_code == 200, r.text


@pytest.fixture
def trial(backend_service: Service) -> Service:
    c = backend_service.client()
    for subject_id, spec in SUBJECTS.items():
        _build(c, subject_id, spec)
    return backend_service


def test_each_subjects_hpfs_equals_the_hand_computed_interval(trial: Service) -> None:
    edc = trial.client("edc")  # the EDC and the statisticians read it
    for subject_id, (start, date, days, cnsr) in EXPECTED.items():
        r = edc.get(f"/v1/subjects/{subject_id}/endpoints")
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["arm"] == SUBJECTS[subject_id]["arm"]
        hpfs = body["hpfs"]
        assert (hpfs["start_date"], hpfs["date"], hpfs["days"]) == (start, date, days)
        assert hpfs["event"] is (cnsr == 0)
        assert (hpfs["censor_reason"] is not None) is (cnsr == 1)
        assert hpfs["provisional"] is False  # hand-read tables
    assert edc.get("/v1/subjects/EV/endpoints").json()["hpfs"]["start"] == "randomization"
    r = edc.get("/v1/subjects/NS/endpoints")
    assert r.status_code == 422 and "randomization date or a baseline" in r.json()["detail"]
    r = edc.get("/v1/subjects/PRE/endpoints")
    assert r.status_code == 422, r.text
    assert "2020-03-01" in r.json()["detail"] and "2020-04-01" in r.json()["detail"]


def test_adtte_rows_equal_the_hand_computed_values_in_csv_and_xpt(trial: Service) -> None:
    edc = trial.client("edc")
    r = edc.get("/v1/sdtm/adtte", params={"format": "csv", "study_id": "NET"})
    assert r.status_code == 200, r.text
    assert r.headers["x-liverburden-skipped-count"] == "2"
    assert set(r.headers["x-liverburden-skipped-subjects"].split(",")) == {"NS", "PRE"}
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert list(rows[0]) == [
        "STUDYID", "USUBJID", "PARAMCD", "PARAM", "STARTDT", "ADT", "AVAL", "CNSR",
        "EVNTDESC", "CNSDTDSC", "ARM",
    ]  # fmt: skip
    got = {row["USUBJID"]: row for row in rows}
    assert sorted(got) == [f"NET-{s}" for s in sorted(EXPECTED)]
    for subject_id, (start, date, days, cnsr) in EXPECTED.items():
        row = got[f"NET-{subject_id}"]
        assert (row["PARAMCD"], row["STARTDT"], row["ADT"]) == ("HPFS", start, date)
        assert (int(row["AVAL"]), int(row["CNSR"])) == (days, cnsr)
        assert row["ARM"] == SUBJECTS[subject_id]["arm"]
    assert got["NET-EV"]["EVNTDESC"] == "HEPATIC PROGRESSION (RECIST 1.1)"
    assert got["NET-CE"]["CNSDTDSC"] == "DATE OF LAST ADEQUATE ASSESSMENT"

    x = edc.get("/v1/sdtm/adtte", params={"format": "xpt", "study_id": "NET"})
    assert x.status_code == 200 and x.headers["content-type"] == "application/x-sas-xport"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "adtte.xpt"
        path.write_bytes(x.content)
        frame, meta = pyreadstat.read_xport(str(path))
    assert meta.table_name == "ADTTE"
    assert meta.original_variable_types["ADT"] == "DATE9."
    by_id = {row.USUBJID: row for row in frame.itertuples()}
    for subject_id, (start, date, days, cnsr) in EXPECTED.items():
        row = by_id[f"NET-{subject_id}"]
        assert (dt.date.fromisoformat(start), dt.date.fromisoformat(date)) == (row.STARTDT, row.ADT)
        assert (days, cnsr) == (row.AVAL, row.CNSR)


def test_a_corrected_randomization_date_moves_the_interval_and_is_audited(trial: Service) -> None:
    c = trial.client()
    r = c.patch("/v1/subjects/PRE", json={"randomization_date": "2020-01-08"})
    assert r.status_code == 422  # a correction needs a reason
    r = c.patch("/v1/subjects/PRE", json={"randomization_date": "2020-01-08", "reason": "EDC date"})
    assert r.status_code == 200, r.text
    assert r.json()["randomization_date"] == "2020-01-08"
    hpfs = c.get("/v1/subjects/PRE/endpoints").json()["hpfs"]
    assert (hpfs["event"], hpfs["date"], hpfs["days"]) == (True, "2020-03-01", 54)
    assert (
        trial.client("edc")
        .patch("/v1/subjects/PRE", json={"arm": "DEB", "reason": "x"})
        .status_code
        == 403
    )
    admin = trial.client("admin")
    (event,) = admin.get("/v1/audit/events", params={"action": "subject.corrected"}).json()
    assert event["details"]["before"]["randomization_date"] == "2020-04-01"
    assert event["details"]["after"]["randomization_date"] == "2020-01-08"
    assert admin.get("/v1/audit/verify").json()["ok"] is True


def test_trial_report_medians_equal_lifelines_on_the_adtte_rows(trial: Service) -> None:
    """GET /v1/trial/report (an EDC key may read it: no pixel data): per arm the Kaplan-Meier
    median equals lifelines' own on the ADTTE rows; every subject is listed, the ones left out
    of ADTTE with the reason; the PDF renders."""
    import re
    from html import unescape

    from lifelines import KaplanMeierFitter

    edc = trial.client("edc")
    page = edc.get("/v1/trial/report", params={"study_id": "NET"})
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    arms_table = re.search(r'<table id="arms">(.*?)</table>', page.text, re.S)
    assert arms_table is not None
    cells = [
        [unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row)]
        for row in re.findall(r"<tr>(.*?)</tr>", arms_table.group(1))
    ]
    shown = {row[0]: row for row in cells if row}
    adtte = edc.get("/v1/sdtm/adtte", params={"format": "csv", "study_id": "NET"})
    rows = list(csv.DictReader(io.StringIO(adtte.text)))
    for arm in {row["ARM"] for row in rows}:
        mine = [row for row in rows if row["ARM"] == arm]
        kmf = KaplanMeierFitter().fit(
            [float(r["AVAL"]) for r in mine], [r["CNSR"] == "0" for r in mine]
        )
        median = float(kmf.median_survival_time_)
        expected = f"{median:g}" if median != float("inf") else "not reached"
        assert shown[arm][1:4] == [
            str(len(mine)),
            str(sum(r["CNSR"] == "0" for r in mine)),
            expected,
        ]
    for subject_id in SUBJECTS:
        assert f"<td>{subject_id}</td>" in page.text
    assert "randomization date or a baseline" in page.text  # NS: left out, with the reason
    pdf = edc.get("/v1/trial/report", params={"format": "pdf"})
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


def test_arms_are_the_trials_when_the_setting_lists_them(tmp_path: Path) -> None:
    """LIVERBURDEN_TRIAL_ARMS=BE,TACE,DEB: a subject's arm is one of them at creation and at
    correction (422 naming the expected arms); without the setting any arm text is kept."""
    from app.settings import Settings
    from tests.app.conftest import running_service

    with running_service(Settings(home=tmp_path / "home", trial_arms="BE, TACE,DEB")) as svc:
        c = svc.client()
        assert c.post("/v1/subjects", json={"subject_id": "A-1", "arm": "TACE"}).status_code == 201
        r = c.post("/v1/subjects", json={"subject_id": "A-2", "arm": "TAE"})
        assert r.status_code == 422 and "expected one of BE, TACE, DEB" in r.json()["detail"]
        assert c.get("/v1/subjects/A-2").status_code == 404  # nothing stored
        r = c.patch("/v1/subjects/A-1", json={"arm": "placebo", "reason": "EDC"})
        assert r.status_code == 422, r.text
        assert (
            c.patch("/v1/subjects/A-1", json={"arm": "DEB", "reason": "EDC"}).json()["arm"] == "DEB"
        )
    assert Settings(home=tmp_path / "other").arm_names == ()

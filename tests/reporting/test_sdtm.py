"""CDISC SDTM TU/TR/RS: RECIST 1.1 controlled terms, CSV and SAS XPT v5 read back."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pyreadstat
import pytest

import recist
from reporting import ReportingInputError, SdtmDataset, SubjectData, build_sdtm
from tests.reporting._ct import TinyCT, assessment_input
from tests.reporting.conftest import make_subject


def _csv_rows(ds: SdtmDataset) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(ds.to_csv().decode("utf-8"))))


def _xpt(ds: SdtmDataset, tmp_path: Path) -> tuple[Any, Any]:
    path = tmp_path / f"{ds.domain.lower()}.xpt"
    path.write_bytes(ds.to_xpt())
    return pyreadstat.read_xport(str(path))


def _where(rows: list[dict[str, str]], **match: str) -> list[dict[str, str]]:
    return [r for r in rows if all(r[k] == v for k, v in match.items())]


def test_tu_identifies_targets_and_non_targets(subject: SubjectData) -> None:
    """TU has one TUMIDENT row per baseline lesion with TARGET / NON-TARGET and its organ."""
    rows = _csv_rows(build_sdtm("tu", subject, study_id="RETNET"))
    assert [(r["TULNKID"], r["TUORRES"], r["TULOC"]) for r in rows] == [
        ("T1", "TARGET", "LIVER"),
        ("N1", "TARGET", "LYMPH NODE"),
        ("NT1", "NON-TARGET", "LIVER"),
    ]
    assert {r["TUTESTCD"] for r in rows} == {"TUMIDENT"}
    assert {r["USUBJID"] for r in rows} == {"RETNET-S-001"}
    assert [r["TUSEQ"] for r in rows] == ["1", "2", "3"]
    assert {(r["VISIT"], r["TUDTC"], r["TUMETHOD"]) for r in rows} == {
        ("BASELINE", "2020-01-01", "CT SCAN")
    }


def test_tr_diameters_sums_and_burden(subject: SubjectData, tiny_ct: TinyCT) -> None:
    """TR: LDIAM for the liver target, LPERP for the node, SUMDIAM per visit, TUMBURDN in %."""
    rows = _csv_rows(build_sdtm("TR", subject, study_id="RETNET"))
    follow = _where(rows, VISIT="FOLLOW-UP 1")
    assert _where(follow, TRLNKID="T1")[0]["TRTESTCD"] == "LDIAM"
    assert _where(follow, TRLNKID="T1")[0]["TRSTRESN"] == "4"
    assert _where(follow, TRLNKID="N1")[0]["TRTESTCD"] == "LPERP"
    assert _where(follow, TRLNKID="NT1")[0]["TRORRES"] == "PRESENT"
    sums = _where(rows, TRTESTCD="SUMDIAM")
    assert [(r["VISITNUM"], r["TRSTRESN"], r["TRSTRESU"]) for r in sums] == [
        ("1", "30", "mm"),
        ("2", "20", "mm"),
        ("3", "36", "mm"),
    ]
    burden = _where(rows, TRTESTCD="TUMBURDN")
    assert len(burden) == 3
    assert burden[0]["TRTEST"] == "Tumor Burden Fraction of Liver Volume"
    assert burden[0]["TRORRESU"] == "%"
    expected = 100 * tiny_ct.measurement["burden_fraction"]
    assert float(burden[0]["TRSTRESN"]) == pytest.approx(expected, rel=1e-12)
    assert [r["TRSEQ"] for r in rows] == [str(i) for i in range(1, len(rows) + 1)]


def test_rs_responses_per_visit_and_best_response(subject: SubjectData) -> None:
    """RS: TRGRESP/NTRGRESP/NEWLPROG/OVRLRESP/HEPRESP per follow-up, then BESTRESP, RECIST 1.1;
    HEPPROG Y at the visit of the first hepatic progression, dated as the endpoint is."""
    rows = _csv_rows(build_sdtm("RS", subject, study_id="RETNET"))
    assert {r["RSCAT"] for r in rows} == {"RECIST 1.1"}
    pd_visit = _where(rows, VISIT="FOLLOW-UP 2")
    assert {r["RSTESTCD"]: r["RSORRES"] for r in pd_visit} == {
        "TRGRESP": "PD",
        "NTRGRESP": "NON-CR/NON-PD",
        "NEWLPROG": "N",
        "OVRLRESP": "PD",
        "HEPRESP": "PD",
        "HEPPROG": "Y",
    }
    (best,) = _where(rows, RSTESTCD="BESTRESP")
    assert best["RSORRES"] == "PR"
    assert best["VISIT"] == ""
    assert not _where(rows, VISIT="BASELINE")
    (progression,) = _where(rows, RSTESTCD="HEPPROG")
    assert progression["RSDTC"] == subject.summary.hepatic_progression_date.isoformat()
    assert progression["RSDTC"] == pd_visit[0]["RSDTC"]


def test_rs_says_no_hepatic_progression_once_per_subject() -> None:
    """Responses only (30 -> 20 -> 18 mm): one subject-level HEPPROG N, no visit, no date; no row
    at all while no follow-up was assessed."""
    rows = _csv_rows(build_sdtm("RS", make_subject("S-011", (30.0, 20.0, 18.0)), study_id="X"))
    (progression,) = _where(rows, RSTESTCD="HEPPROG")
    assert (progression["RSORRES"], progression["VISIT"], progression["RSDTC"]) == ("N", "", "")
    rows = _csv_rows(build_sdtm("RS", make_subject("S-012", (30.0,)), study_id="X"))
    assert not _where(rows, RSTESTCD="HEPPROG")


def test_tr_reports_the_screening_readings_first() -> None:
    """Readings of a scan before the baseline are TR rows of a SCREENING visit numbered first;
    the baseline and follow-ups keep their names, RS has nothing for the screening scan."""
    base = make_subject("S-020", (30.0, 20.0, 36.0))
    assert base.assessment_input is not None
    screening = {
        "lesions": base.assessment_input["lesions"],
        "timepoints": [
            {
                "date": "2019-11-01",
                "measurements": [
                    {"lesion_id": "T1", "diameter_mm": 22.0},
                    {"lesion_id": "NT1", "status": "present"},
                ],
            }
        ],
    }
    subject = SubjectData(
        assessment=base.assessment,
        assessment_input=base.assessment_input,
        screening_input=screening,
    )
    tr = _csv_rows(build_sdtm("TR", subject, study_id="X"))
    first = [r for r in tr if r["VISITNUM"] == "1"]
    assert {r["VISIT"] for r in first} == {"SCREENING"}
    assert {(r["TRLNKID"], r["TRORRES"]) for r in first} == {("T1", "22"), ("NT1", "PRESENT")}
    assert first[0]["TRDTC"] == "2019-11-01"
    assert {r["VISIT"] for r in tr if r["VISITNUM"] == "2"} == {"BASELINE"}
    assert {r["VISIT"] for r in tr if r["VISITNUM"] == "3"} == {"FOLLOW-UP 1"}
    assert tr.index(first[-1]) < tr.index(_where(tr, VISIT="BASELINE")[0])
    rs = _csv_rows(build_sdtm("RS", subject, study_id="X"))
    assert not _where(rs, VISIT="SCREENING")
    plain = _csv_rows(build_sdtm("TR", base, study_id="X"))
    assert len(tr) == len(plain) + 2


def test_target_statuses_use_the_recist_conventions() -> None:
    """Too small counts 5 mm, absent 0 mm, not evaluated is NOT DONE; new lesions are in TU."""
    data = assessment_input("S-009", (30.0, 20.0))
    data["timepoints"][1]["measurements"][0] = {"lesion_id": "T1", "status": "too_small"}
    data["timepoints"][1]["measurements"][2] = {"lesion_id": "NT1", "status": "not_evaluated"}
    data["timepoints"].append(
        {
            "date": "2020-05-01",
            "measurements": [
                {"lesion_id": "T1", "status": "absent"},
                {"lesion_id": "N1", "diameter_mm": 9.0},
                {"lesion_id": "NT1", "status": "absent"},
            ],
            "new_lesions": [{"organ": "liver", "equivocal": False}],
        }
    )
    subject = SubjectData(assessment=recist.assess(data), assessment_input=data)
    tr = _csv_rows(build_sdtm("TR", subject, study_id="X"))
    small = _where(tr, TRLNKID="T1", VISITNUM="2")[0]
    assert (small["TRORRES"], small["TRSTRESN"]) == ("TOO SMALL TO MEASURE", "5")
    absent = _where(tr, TRLNKID="T1", VISITNUM="3")[0]
    assert (absent["TRORRES"], absent["TRSTRESN"]) == ("0", "0")
    ne = _where(tr, TRLNKID="NT1", VISITNUM="2")[0]
    assert (ne["TRSTAT"], ne["TRREASND"], ne["TRORRES"]) == ("NOT DONE", "NOT EVALUATED", "")
    tu = _csv_rows(build_sdtm("TU", subject, study_id="X"))
    (new,) = _where(tu, TUORRES="NEW")
    assert (new["TULNKID"], new["TULOC"], new["TUDTC"]) == ("NEW01", "LIVER", "2020-05-01")
    rs = _csv_rows(build_sdtm("RS", subject, study_id="X"))
    assert _where(rs, RSTESTCD="NEWLPROG", VISITNUM="3")[0]["RSORRES"] == "Y"


def test_whole_trial_restarts_sequence_per_subject(tiny_ct: TinyCT) -> None:
    """For several subjects, rows are grouped by USUBJID and --SEQ restarts at 1."""
    subjects = [make_subject("S-001"), make_subject("S-002", (40.0, 25.0, 20.0), arm="B")]
    rows = _csv_rows(build_sdtm("RS", subjects, study_id="RETNET"))
    ids = [r["USUBJID"] for r in rows]
    assert ids == sorted(ids)
    assert _where(rows, USUBJID="RETNET-S-002")[0]["RSSEQ"] == "1"
    assert _where(rows, USUBJID="RETNET-S-002", RSTESTCD="BESTRESP")[0]["RSORRES"] == "PR"


@pytest.mark.parametrize("domain", ["TU", "TR", "RS"], ids=["TU", "TR", "RS"])
def test_xpt_v5_reads_back_equal_to_the_csv(
    subject: SubjectData, domain: str, tmp_path: Path
) -> None:
    """The XPT (SAS transport v5) holds the same values, names, labels and member name."""
    ds = build_sdtm(domain, [subject, make_subject("S-002", (40.0, 25.0, 20.0))], study_id="RETNET")
    data = ds.to_xpt()
    assert data.startswith(b"HEADER RECORD*******LIBRARY HEADER RECORD!!!!!!!")
    frame, meta = _xpt(ds, tmp_path)
    assert meta.table_name == domain
    assert list(frame.columns) == ds.columns
    assert all(len(name) <= 8 for name in frame.columns)
    assert all(len(label) <= 40 for label in meta.column_labels)
    assert meta.column_names_to_labels["USUBJID"] == "Unique Subject Identifier"
    rows = _csv_rows(ds)
    assert len(frame) == len(rows)
    for i, row in enumerate(rows):
        for var in ds.variables:
            got = frame.iloc[i][var.name]
            if var.numeric:
                expected = row[var.name]
                if expected == "":
                    assert got != got  # NaN is SAS missing
                else:
                    assert float(got) == pytest.approx(float(expected), rel=1e-12)
            else:
                assert got == row[var.name]


def test_burden_value_survives_xpt_exactly(subject: SubjectData, tmp_path: Path) -> None:
    """TRSTRESN of TUMBURDN keeps its double value in XPT (IBM float conversion)."""
    ds = build_sdtm("TR", subject, study_id="RETNET")
    frame, _ = _xpt(ds, tmp_path)
    got = frame[frame["TRTESTCD"] == "TUMBURDN"]["TRSTRESN"].iloc[0]
    expected = next(r["TRSTRESN"] for r in ds.rows if r["TRTESTCD"] == "TUMBURDN")
    assert got == pytest.approx(expected, rel=1e-14)


@pytest.mark.parametrize(
    ("domain", "study", "needle"),
    [("XX", "RETNET", "unknown SDTM domain"), ("TU", " ", "study_id")],
    ids=["unknown-domain", "blank-study"],
)
def test_bad_arguments(subject: SubjectData, domain: str, study: str, needle: str) -> None:
    """Unknown domains and blank study ids are refused with a reason."""
    with pytest.raises(ReportingInputError, match=needle):
        build_sdtm(domain, subject, study_id=study)


def test_duplicate_subject_is_refused(subject: SubjectData) -> None:
    """A subject listed twice would give duplicate keys: refused."""
    with pytest.raises(ReportingInputError, match="once"):
        build_sdtm("RS", [subject, subject], study_id="RETNET")


def test_unknown_format_is_refused(subject: SubjectData) -> None:
    """Only csv and xpt exist."""
    with pytest.raises(ReportingInputError, match="xpt"):
        build_sdtm("RS", subject, study_id="RETNET").to_bytes("xlsx")  # type: ignore[arg-type]


def test_measured_non_target_is_present_not_not_done() -> None:
    """A non-target read with a diameter (a mask-derived reading) and no status is PRESENT."""
    data = assessment_input("S-010", (30.0, 20.0))
    data["timepoints"][0]["measurements"][2] = {"lesion_id": "NT1", "diameter_mm": 14.0}
    subject = SubjectData(assessment=recist.assess(data), assessment_input=data)
    tr = _csv_rows(build_sdtm("TR", subject, study_id="X"))
    (row,) = _where(tr, TRLNKID="NT1", VISITNUM="1")
    assert (row["TRORRES"], row["TRSTRESC"], row["TRSTAT"]) == ("PRESENT", "PRESENT", "")

"""Output routes through HTTP on a measured subject: DICOM SR and SEG read back with highdicom,
SDTM CSV and XPT parsed back, the FHIR bundle, the HTML and PDF report, roles and provenance."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import highdicom as hd
import httpx
import numpy as np
import pytest
from pydicom.sr.codedict import codes

from app.settings import Settings
from tests.app._outputs_setup import MeasuredSubject, measured_subject
from tests.app.conftest import Service, running_service

LONG = codes.SCT.LongAxis
SHORT = codes.SCT.ShortAxis
VOLUME = codes.SCT.Volume


#: The service's LIVERBURDEN_STUDY_ID in this module.
CONFIGURED_STUDY = "NET-CFG"


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """One embedded service for the module, with a configured study id."""
    home = tmp_path_factory.mktemp("outputs")
    settings = Settings(home=home / "home", workers=1, study_id=CONFIGURED_STUDY)
    with running_service(settings) as service:
        yield service


@pytest.fixture(scope="module")
def subject(svc: Service, tmp_path_factory: pytest.TempPathFactory) -> MeasuredSubject:
    """The subject measured at baseline and week 12, with its lesion table."""
    return measured_subject(svc, tmp_path_factory.mktemp("phantoms"))


@pytest.fixture(scope="module")
def radiologist(svc: Service) -> httpx.Client:
    return svc.client("radiologist")


def _ok(r: httpx.Response, media_type: str) -> httpx.Response:
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].split(";")[0] == media_type
    return r


def _value(group: Any, name: Any) -> float:
    (measurement,) = group.get_measurements(name=name)
    return float(measurement.value)


def _sr(client: httpx.Client, measurement_id: str) -> Any:
    """The SR of a measurement, read back with highdicom (its ``content`` is the TID 1500)."""
    r = _ok(client.get(f"/v1/measurements/{measurement_id}/sr"), "application/dicom")
    sr = hd.sr.srread(io.BytesIO(r.content))
    assert isinstance(sr, hd.sr.Comprehensive3DSR)
    return sr


def test_sr_values_equal_the_measurement(
    radiologist: httpx.Client, subject: MeasuredSubject
) -> None:
    """Lesion groups hold the long axis, short axis and volume of the JSON; liver volume too."""
    for tp in (subject.baseline, subject.follow_up):
        sr = _sr(radiologist, tp.measurement_id)
        m = tp.measurement
        groups = sr.content.get_planar_roi_measurement_groups()
        assert [g.tracking_identifier for g in groups] == [les["lesion_id"] for les in m["lesions"]]
        for group, lesion in zip(groups, m["lesions"], strict=True):
            assert _value(group, LONG) == pytest.approx(lesion["long_axis_mm"], abs=1e-9)
            assert _value(group, SHORT) == pytest.approx(lesion["short_axis_mm"], abs=1e-9)
            assert _value(group, VOLUME) == pytest.approx(lesion["volume_ml"], abs=1e-9)
        groups_by_id = {g.tracking_identifier: g for g in sr.content.get_image_measurement_groups()}
        liver = groups_by_id["Liver"]
        assert _value(liver, VOLUME) == pytest.approx(m["liver_volume_ml"], abs=1e-9)
        assert sr.SoftwareVersions == m["algorithm_version"]


def test_sr_references_the_source_series(
    radiologist: httpx.Client, subject: MeasuredSubject
) -> None:
    """The evidence lists every slice of the measured series and the SR shares its study."""
    tp = subject.baseline
    sr = _sr(radiologist, tp.measurement_id)
    (study,) = sr.CurrentRequestedProcedureEvidenceSequence
    (series,) = study.ReferencedSeriesSequence
    assert series.SeriesInstanceUID == tp.series_instance_uid
    assert len(series.ReferencedSOPSequence) == tp.measurement["series"]["slices"]
    assert sr.StudyInstanceUID == tp.measurement["series"]["study_instance_uid"]
    assert sr.SeriesInstanceUID != tp.series_instance_uid


def test_sr_tracks_lesions_across_timepoints_and_reports_the_response(
    radiologist: httpx.Client, subject: MeasuredSubject
) -> None:
    """A lesion-table lesion keeps its Tracking UID at both timepoints; week 12 reports PR."""
    uids = []
    for tp in (subject.baseline, subject.follow_up):
        groups = _sr(radiologist, tp.measurement_id).content.get_planar_roi_measurement_groups()
        uids.append([str(g.tracking_uid) for g in groups])
    assert uids[0] == uids[1] and len(set(uids[0])) == 2
    sr = _sr(radiologist, subject.follow_up.measurement_id)
    groups = {g.tracking_identifier: g for g in sr.content.get_image_measurement_groups()}
    response = groups["RECIST 1.1 response"]
    evaluations = {q.name.value: q.value for q in response.get_qualitative_evaluations()}
    assert evaluations["112021"].value == "126081"  # Response Evaluation Method = RECIST 1.1
    assert evaluations["TRGRESP"].value == "112042"  # target lesion partial response
    assert evaluations["OVRLRESP"].value == "PR"


def test_same_sr_twice_has_the_same_sop_instance_uid(
    radiologist: httpx.Client, subject: MeasuredSubject
) -> None:
    """An unchanged measurement gives the same SOP Instance UID (a PACS stores it once)."""
    mid = subject.baseline.measurement_id
    first, second = _sr(radiologist, mid), _sr(radiologist, mid)
    assert first.SOPInstanceUID == second.SOPInstanceUID


@pytest.mark.parametrize("output", ["sr", "seg"])
def test_same_dicom_output_twice_is_byte_identical(
    radiologist: httpx.Client, subject: MeasuredSubject, output: str
) -> None:
    """Asked twice, an unchanged measurement's SR or SEG is the same file, byte for byte."""
    path = f"/v1/measurements/{subject.follow_up.measurement_id}/{output}"
    first = _ok(radiologist.get(path), "application/dicom").content
    assert _ok(radiologist.get(path), "application/dicom").content == first


def _segment_voxels(seg: hd.seg.Segmentation) -> dict[int, int]:
    pixels = np.asarray(seg.pixel_array).reshape(-1, seg.Rows, seg.Columns)
    counts: dict[int, int] = {}
    for frame, item in zip(pixels, seg.PerFrameFunctionalGroupsSequence, strict=True):
        number = int(item.SegmentIdentificationSequence[0].ReferencedSegmentNumber)
        counts[number] = counts.get(number, 0) + int(np.count_nonzero(frame))
    return counts


@pytest.mark.parametrize("which", ["baseline", "follow_up"])
def test_seg_has_a_segment_per_lesion_and_the_liver(
    radiologist: httpx.Client, subject: MeasuredSubject, which: str
) -> None:
    """Segments are Liver + one per lesion; voxel counts equal the measurement's voxels."""
    tp = getattr(subject, which)
    r = _ok(radiologist.get(f"/v1/measurements/{tp.measurement_id}/seg"), "application/dicom")
    seg = hd.seg.segread(io.BytesIO(r.content))
    m = tp.measurement
    assert seg.number_of_segments == m["lesion_count"] + 1
    labels = [seg.get_segment_description(n).segment_label for n in seg.segment_numbers]
    assert labels == ["Liver", *[les["lesion_id"] for les in m["lesions"]]]
    counts = _segment_voxels(seg)
    for n, lesion in enumerate(m["lesions"], start=2):
        assert counts[n] == lesion["voxels"]
    assert sum(counts.values()) == m["liver_voxels"]  # liver without lesions + the lesions
    (series,) = seg.ReferencedSeriesSequence
    assert series.SeriesInstanceUID == tp.series_instance_uid
    assert seg.SoftwareVersions == m["algorithm_version"]
    assert r.headers["x-liverburden-input-sha256"] == m["input_sha256"]


def test_seg_and_sr_share_tracking_uids(
    radiologist: httpx.Client, subject: MeasuredSubject
) -> None:
    """The SEG segment of a lesion (and the liver's) carries the Tracking UID of its SR group."""
    mid = subject.baseline.measurement_id
    content = _sr(radiologist, mid).content
    sr_uids = [str(g.tracking_uid) for g in content.get_planar_roi_measurement_groups()]
    groups = {g.tracking_identifier: g for g in content.get_image_measurement_groups()}
    r = radiologist.get(f"/v1/measurements/{mid}/seg")
    seg = hd.seg.segread(io.BytesIO(r.content))
    seg_uids = [str(seg.get_segment_description(n).tracking_uid) for n in seg.segment_numbers]
    assert seg_uids[1:] == sr_uids
    assert seg_uids[0] == str(groups["Liver"].tracking_uid)


def _csv_rows(content: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(content.decode("utf-8"))))


def _sdtm(client: httpx.Client, path: str, fmt: str) -> httpx.Response:
    media = {"csv": "text/csv", "xpt": "application/x-sas-xport"}[fmt]
    r = _ok(client.get(path, params={"format": fmt, "study_id": "NET-01"}), media)
    assert re.fullmatch(
        r'attachment; filename="[a-z]{2}[^"]*\.' + fmt + '"', r.headers["content-disposition"]
    )
    return r


@pytest.mark.parametrize(
    ("query", "expected"),
    [({}, CONFIGURED_STUDY), ({"study_id": "NET-01"}, "NET-01")],
    ids=["setting", "query-overrides"],
)
@pytest.mark.parametrize("scope", ["subject", "trial"])
def test_sdtm_study_id_is_the_query_parameter_else_the_setting(
    radiologist: httpx.Client,
    subject: MeasuredSubject,
    scope: str,
    query: dict[str, str],
    expected: str,
) -> None:
    """Without ?study_id= STUDYID is LIVERBURDEN_STUDY_ID; the query parameter overrides it."""
    path = f"/v1/subjects/{subject.subject_id}/sdtm/rs" if scope == "subject" else "/v1/sdtm/rs"
    r = _ok(radiologist.get(path, params=query), "text/csv")
    rows = _csv_rows(r.content)
    assert rows and {row["STUDYID"] for row in rows} == {expected}
    assert {row["USUBJID"] for row in rows} == {f"{expected}-{subject.subject_id}"}


EXPECTED_TESTCD = {
    "tu": {"TUMIDENT"},
    "tr": {"LDIAM", "SUMDIAM"},
    "rs": {"TRGRESP", "NEWLPROG", "OVRLRESP"},
}


@pytest.mark.parametrize("domain", ["tu", "tr", "rs"])
def test_sdtm_csv_has_the_recist_terms(
    radiologist: httpx.Client, subject: MeasuredSubject, domain: str
) -> None:
    """The subject's TU/TR/RS CSV has the RECIST 1.1 test codes, STUDYID and USUBJID."""
    r = _sdtm(radiologist, f"/v1/subjects/{subject.subject_id}/sdtm/{domain}", "csv")
    rows = _csv_rows(r.content)
    key = domain.upper()
    assert rows and {row["DOMAIN"] for row in rows} == {key}
    assert {row["USUBJID"] for row in rows} == {f"NET-01-{subject.subject_id}"}
    assert EXPECTED_TESTCD[domain] <= {row[f"{key}TESTCD"] for row in rows}
    if domain == "rs":
        assert {row["RSCAT"] for row in rows} == {"RECIST 1.1"}
        overall = [row for row in rows if row["RSTESTCD"] == "OVRLRESP"]
        assert [row["RSORRES"] for row in overall] == ["PR"]
    if domain == "tr":
        sums = {
            row["VISIT"]: float(row["TRSTRESN"]) for row in rows if row["TRTESTCD"] == "SUMDIAM"
        }
        base = sum(les["long_axis_mm"] for les in subject.baseline.measurement["lesions"])
        assert sums["BASELINE"] == pytest.approx(base, abs=0.05)


@pytest.mark.parametrize("domain", ["tu", "tr", "rs"])
def test_sdtm_xpt_reads_back_equal_to_the_csv(
    radiologist: httpx.Client, subject: MeasuredSubject, domain: str, tmp_path: Path
) -> None:
    """The SAS transport v5 file parses with pyreadstat to the CSV's columns and values."""
    import pyreadstat

    path = f"/v1/subjects/{subject.subject_id}/sdtm/{domain}"
    rows = _csv_rows(_sdtm(radiologist, path, "csv").content)
    xpt = tmp_path / f"{domain}.xpt"
    xpt.write_bytes(_sdtm(radiologist, path, "xpt").content)
    frame, meta = pyreadstat.read_xport(str(xpt))
    assert list(frame.columns) == list(rows[0])
    assert len(frame) == len(rows)
    testcd = f"{domain.upper()}TESTCD"
    assert list(frame[testcd]) == [row[testcd] for row in rows]
    assert meta.table_name == domain.upper()


def test_trial_sdtm_lists_assessable_subjects_and_names_the_others(
    radiologist: httpx.Client, subject: MeasuredSubject
) -> None:
    """The whole-trial RS holds the measured subject; one without lesion table is named skipped."""
    r = _sdtm(radiologist, "/v1/sdtm/rs", "csv")
    assert {row["USUBJID"] for row in _csv_rows(r.content)} == {f"NET-01-{subject.subject_id}"}
    assert r.headers["x-liverburden-skipped-subjects"] == subject.unassessed_subject_id
    assert r.headers["x-liverburden-skipped-count"] == "1"


def test_fhir_bundle_has_one_tumor_size_per_lesion_and_timepoint(
    radiologist: httpx.Client, subject: MeasuredSubject
) -> None:
    """An R4 collection Bundle (valid for fhir.resources' R4B models) of mCODE Tumor Size
    observations with the measured axes, the burden per timepoint and the follow-up's responses."""
    from fhir.resources.R4B.bundle import Bundle

    r = _ok(radiologist.get(f"/v1/subjects/{subject.subject_id}/fhir"), "application/fhir+json")
    bundle = r.json()
    Bundle.model_validate(bundle)
    assert (bundle["resourceType"], bundle["type"]) == ("Bundle", "collection")
    codes = [e["resource"]["code"]["coding"][0]["code"] for e in bundle["entry"]]
    assert codes.count("liver-tumor-burden") == 2
    assert codes.count("97509-4") == 2  # the follow-up: overall and hepatic response
    observations = [e["resource"] for e in bundle["entry"] if "focus" in e["resource"]]
    assert len(observations) == 4
    expected = {
        (tp.date, les["lesion_id"]): les
        for tp in (subject.baseline, subject.follow_up)
        for les in tp.measurement["lesions"]
    }
    foci: dict[str, set[str]] = {}
    for obs in observations:
        assert obs["resourceType"] == "Observation" and obs["status"] == "final"
        assert obs["meta"]["profile"] == [
            "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-tumor-size"
        ]
        assert obs["subject"]["identifier"]["value"] == subject.subject_id
        shown = obs["focus"][0]["display"].removeprefix("Lesion ")  # "T1 (L1)" or "L1"
        lesion_id = shown.split("(")[-1].rstrip(")") if "(" in shown else shown
        lesion = expected[(obs["effectiveDateTime"], lesion_id)]
        long_axis, short_axis = (c["valueQuantity"]["value"] for c in obs["component"])
        assert long_axis == pytest.approx(lesion["long_axis_mm"], abs=1e-3)
        assert short_axis == pytest.approx(lesion["short_axis_mm"], abs=1e-3)
        foci.setdefault(lesion_id, set()).add(obs["focus"][0]["identifier"]["value"])
    assert all(len(v) == 1 for v in foci.values())  # the same focus at both timepoints


def test_html_report_is_self_contained_with_table_images_and_provenance(
    radiologist: httpx.Client, subject: MeasuredSubject
) -> None:
    """The page has the timepoint table, data-URI images only, algorithm version and hashes."""
    r = _ok(radiologist.get(f"/v1/subjects/{subject.subject_id}/report"), "text/html")
    page = r.text
    for tp in (subject.baseline, subject.follow_up):
        assert tp.date in page and tp.label in page
        assert tp.measurement["input_sha256"] in page
    assert "PR" in page and subject.baseline.measurement["algorithm_version"] in page
    images = re.findall(r'<img[^>]+src="([^"]+)"', page)
    assert len(images) >= 4 + 1  # a key image per lesion and timepoint, and the plots
    assert all(src.startswith("data:image/png;base64,") for src in images)
    assert not re.search(r'(src|href)="(https?:)?//', page)


def test_html_report_without_key_images(
    radiologist: httpx.Client, subject: MeasuredSubject
) -> None:
    """``key_images=false`` leaves the key images out (plots stay)."""
    with_images = radiologist.get(f"/v1/subjects/{subject.subject_id}/report").text
    without = radiologist.get(
        f"/v1/subjects/{subject.subject_id}/report", params={"key_images": "false"}
    ).text
    count = len(re.findall(r"<img ", with_images)) - len(re.findall(r"<img ", without))
    assert count == 4


def test_pdf_report_has_pages(radiologist: httpx.Client, subject: MeasuredSubject) -> None:
    """``format=pdf`` answers a PDF whose pages show the subject and its responses."""
    import pypdf

    r = _ok(
        radiologist.get(f"/v1/subjects/{subject.subject_id}/report", params={"format": "pdf"}),
        "application/pdf",
    )
    assert r.content.startswith(b"%PDF")
    reader = pypdf.PdfReader(io.BytesIO(r.content))
    assert len(reader.pages) >= 2
    text = reader.pages[0].extract_text()
    assert subject.subject_id in text and "PR" in text


OUTPUT_PATHS = {
    "sr": "/v1/measurements/{m}/sr",
    "seg": "/v1/measurements/{m}/seg",
    "sdtm-tu": "/v1/subjects/{s}/sdtm/tu",
    "sdtm-tr": "/v1/subjects/{s}/sdtm/tr",
    "sdtm-rs": "/v1/subjects/{s}/sdtm/rs",
    "trial-tu": "/v1/sdtm/tu",
    "trial-rs": "/v1/sdtm/rs",
    "fhir": "/v1/subjects/{s}/fhir",
    "report": "/v1/subjects/{s}/report?key_images=false",
}
#: Who gets an answer (not 403): EDC keys read the response summary (SDTM RS) only.
ALLOWED = {
    "edc": {"sdtm-rs", "trial-rs"},
    "admin": set(),
}


@pytest.mark.parametrize("role", ["edc", "admin"])
def test_roles_other_than_radiologist_read_response_summaries_at_most(
    svc: Service, subject: MeasuredSubject, role: str
) -> None:
    """EDC keys get SDTM RS only (no DICOM, no pixels, no lesion rows); admin keys get nothing."""
    client = svc.client(role)
    for name, template in OUTPUT_PATHS.items():
        path = template.format(m=subject.baseline.measurement_id, s=subject.subject_id)
        r = client.get(path)
        if name in ALLOWED[role]:
            assert r.status_code == 200, (name, r.text)
        else:
            assert r.status_code == 403, (name, r.status_code)
            assert r.headers["content-type"].startswith("application/problem+json")


def test_outputs_are_audited_with_their_provenance(
    svc: Service, radiologist: httpx.Client, subject: MeasuredSubject
) -> None:
    """Each output is an ``output.generated`` audit event with algorithm version and input hash."""
    mid = subject.follow_up.measurement_id
    r = radiologist.get(f"/v1/measurements/{mid}/seg")
    events = svc.client("admin").get(
        "/v1/audit/events", params={"action": "output.generated", "limit": 1000}
    )
    assert events.status_code == 200, events.text
    mine = [
        e
        for e in events.json()
        if e["entity_id"] == mid and e["details"]["output"].endswith("_seg.dcm")
    ]
    assert mine, "no audit event for the SEG"
    details = mine[-1]["details"]
    assert details["input_sha256"] == r.headers["x-liverburden-input-sha256"]
    assert details["algorithm_version"] == r.headers["x-liverburden-algorithm-version"]
    assert svc.client("admin").get("/v1/audit/verify").json()["ok"]


@pytest.mark.parametrize(
    ("params", "shown"),
    [
        ({"key_images": "false"}, CONFIGURED_STUDY),
        ({"key_images": "false", "study_id": "NET-01"}, "NET-01"),
    ],
    ids=["setting", "query-overrides"],
)
def test_report_header_shows_the_study_of_the_query_else_the_setting(
    radiologist: httpx.Client, subject: MeasuredSubject, params: dict[str, str], shown: str
) -> None:
    """Like SDTM's STUDYID: ``?study_id=`` names the trial in the header, else the setting."""
    page = _ok(
        radiologist.get(f"/v1/subjects/{subject.subject_id}/report", params=params), "text/html"
    ).text
    assert shown in page

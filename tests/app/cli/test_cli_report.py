"""``liverburden report``: SR, SEG, key images, SDTM, FHIR and the subject report from files."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import highdicom as hd
import numpy as np
import pypdf
import pyreadstat
import pytest
from PIL import Image
from pydicom.sr.codedict import codes

from tests.conftest import SAMPLE_DICOM
from tests.reporting._ct import assessment_input

CLI = [sys.executable, "-m", "app.cli.report"]
TRUTH = SAMPLE_DICOM / "truth.json"


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *map(str, args)], capture_output=True, text=True, timeout=300, check=False
    )


def _ok(proc: subprocess.CompletedProcess[str]) -> None:
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr


def _clean_failure(proc: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    for needle in needles:
        assert needle.lower() in lines[0].lower(), lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def truth() -> dict[str, Any]:
    return json.loads(TRUTH.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def measurement(truth: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample's measure JSON, written from its truth (long-axis endpoints from mm to pixels)."""
    sy, sx = truth["series"]["spacing_mm"][1:]
    doc = {
        "series": {**truth["series"], "study_instance_uid": truth["study_instance_uid"]},
        "liver_volume_ml": truth["liver_volume_ml"],
        "tumor_volume_ml": truth["tumor_volume_ml"],
        "burden_fraction": truth["burden_fraction"],
        "eligibility": truth["eligibility"],
        "algorithm_version": "0.1.0",
        "lesions": [
            {
                key: les[key]
                for key in (
                    "lesion_id",
                    "volume_ml",
                    "long_axis_mm",
                    "short_axis_mm",
                    "slice_index",
                    "measurable",
                )
            }
            | {
                "long_axis_endpoints_rc": [
                    [r / sy, c / sx] for r, c in les["long_axis_endpoints_rc_mm"]
                ]
            }
            for les in truth["lesions"]
        ],
    }
    path = tmp_path_factory.mktemp("report") / "measure.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def test_report_is_registered_in_the_main_cli() -> None:
    """``liverburden report`` is a sub-command of the console script."""
    from app.cli.main import app

    assert "report" in {group.name for group in app.registered_groups}


def test_sr_of_the_sample(measurement: Path, truth: dict[str, Any], tmp_path: Path) -> None:
    """The SR of the sample reports the truth's axes and volumes and references all 60 slices."""
    out = tmp_path / "sr.dcm"
    _ok(_run("sr", "--series", SAMPLE_DICOM / "ct", "--measurement", measurement, "--out", out))
    sr = hd.sr.srread(out)
    groups = sr.content.get_planar_roi_measurement_groups()
    assert [g.tracking_identifier for g in groups] == ["L1", "L2", "L3"]
    for group, lesion in zip(groups, truth["lesions"], strict=True):
        (long_axis,) = group.get_measurements(name=codes.SCT.LongAxis)
        assert float(long_axis.value) == pytest.approx(lesion["long_axis_mm"], abs=1e-9)
        assert float(np.linalg.norm(np.diff(group.roi.value, axis=0))) == pytest.approx(
            lesion["long_axis_mm"], abs=1e-3
        )
    (study,) = sr.CurrentRequestedProcedureEvidenceSequence
    assert len(study.ReferencedSeriesSequence[0].ReferencedSOPSequence) == 60


@pytest.mark.parametrize("labels", ["labels.nii.gz", "seg.dcm"], ids=["labelmap", "dicom-seg"])
def test_seg_of_the_sample(
    measurement: Path, truth: dict[str, Any], tmp_path: Path, labels: str
) -> None:
    """Each lesion segment has the truth's voxel count; all segments make the total liver."""
    out = tmp_path / "seg.dcm"
    _ok(
        _run(
            "seg",
            "--series",
            SAMPLE_DICOM / "ct",
            "--labels",
            SAMPLE_DICOM / labels,
            "--measurement",
            measurement,
            "--out",
            out,
        )
    )
    seg = hd.seg.segread(out)
    assert [seg.get_segment_description(n).segment_label for n in (1, 2, 3, 4)] == [
        "Liver",
        "L1",
        "L2",
        "L3",
    ]
    uids = [uid for _, _, uid in seg.get_source_image_uids()]
    masks = seg.get_pixels_by_source_instance(sorted(uids), assert_missing_frames_are_empty=True)
    counts = [int(masks[..., i].sum()) for i in range(1, 4)]
    assert counts == [les["voxel_count"] for les in truth["lesions"]]
    assert int(masks.any(axis=-1).sum()) == truth["liver_voxel_count"]


def test_key_images_of_the_sample(measurement: Path, tmp_path: Path) -> None:
    """One 1000 x 500 PNG per lesion is written into the output folder."""
    out = tmp_path / "keys"
    _ok(
        _run(
            "keyimages",
            "--series",
            SAMPLE_DICOM / "ct",
            "--labels",
            SAMPLE_DICOM / "labels.nii.gz",
            "--measurement",
            measurement,
            "--out-dir",
            out,
        )
    )
    assert sorted(p.name for p in out.iterdir()) == ["L1.png", "L2.png", "L3.png"]
    with Image.open(out / "L1.png") as image:
        assert image.size == (1000, 500)


def _subject_file(
    folder: Path, subject_id: str, sums: tuple[float, ...], measurement: Path | None
) -> Path:
    doc: dict[str, Any] = assessment_input(subject_id, sums)
    doc["arm"] = "A"
    for i, tp in enumerate(doc["timepoints"]):
        tp["visit"] = "BASELINE" if i == 0 else f"WEEK {8 * i}"
        if measurement is not None:
            tp["measurement"] = measurement.name
            tp["lesion_uids"] = {"L1": "1.2.826.0.1.3680043.8.498.11"}
    path = folder / f"{subject_id}.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


@pytest.fixture()
def subjects(measurement: Path) -> list[Path]:
    folder = measurement.parent
    return [
        _subject_file(folder, "S-001", (30.0, 20.0, 36.0), measurement),
        _subject_file(folder, "S-002", (40.0, 25.0, 20.0), None),
    ]


def test_sdtm_csv_and_xpt(subjects: list[Path], tmp_path: Path) -> None:
    """TR for two subject files: CSV with visits and burden; XPT v5 reads back the same rows."""
    csv_out, xpt_out = tmp_path / "tr.csv", tmp_path / "tr.xpt"
    args = [
        "--assessment",
        subjects[0],
        "--assessment",
        subjects[1],
        "--domain",
        "tr",
        "--study-id",
        "RETNET",
    ]
    _ok(_run("sdtm", *args, "--out", csv_out))
    _ok(_run("sdtm", *args, "--format", "xpt", "--out", xpt_out))
    text = csv_out.read_text(encoding="utf-8")
    assert "RETNET,TR,RETNET-S-001,1,TARGET,T1,LDIAM" in text
    assert ",WEEK 8," in text and "TUMBURDN" in text
    frame, meta = pyreadstat.read_xport(str(xpt_out))
    assert meta.table_name == "TR"
    assert len(frame) == len(text.strip().splitlines()) - 1
    assert set(frame["USUBJID"]) == {"RETNET-S-001", "RETNET-S-002"}


def test_fhir_bundle(subjects: list[Path], tmp_path: Path) -> None:
    """The bundle has one tumour-size observation per lesion per timepoint, a burden per
    timepoint, and two responses per follow-up."""
    out = tmp_path / "bundle.json"
    _ok(_run("fhir", "--assessment", subjects[0], "--out", out))
    bundle = json.loads(out.read_text(encoding="utf-8"))
    assert bundle["type"] == "collection"
    codes = [e["resource"]["code"]["coding"][0]["code"] for e in bundle["entry"]]
    assert codes.count("21889-1") == 3 * 3
    assert codes.count("liver-tumor-burden") == 3
    assert codes.count("97509-4") == 2 * 2


def test_html_and_pdf(subjects: list[Path], tmp_path: Path) -> None:
    """The subject report renders as HTML (with the given key image) and as a PDF."""
    key = tmp_path / "L1.png"
    Image.new("RGB", (20, 10), (230, 25, 75)).save(key)
    html, pdf = tmp_path / "r.html", tmp_path / "r.pdf"
    common = [
        "--assessment",
        subjects[0],
        "--study-id",
        "RETNET",
        "--key-image",
        key,
        "--generated-at",
        "2024-01-02T03:04:05+00:00",
    ]
    _ok(_run("html", *common, "--out", html))
    _ok(_run("pdf", *common, "--out", pdf))
    page = html.read_text(encoding="utf-8")
    assert "WEEK 16" in page and "2024-01-02T03:04:05+00:00" in page and ">L1<" in page
    assert len(pypdf.PdfReader(io.BytesIO(pdf.read_bytes())).pages) == 3


def test_missing_measurement_file(tmp_path: Path) -> None:
    """A missing input file is one line naming the file only, never its full path."""
    line = _clean_failure(
        _run(
            "sr",
            "--series",
            SAMPLE_DICOM / "ct",
            "--measurement",
            tmp_path / "nope.json",
            "--out",
            tmp_path / "sr.dcm",
        ),
        "nope.json",
    )
    assert str(tmp_path) not in line


def test_measurement_of_another_series(measurement: Path, tmp_path: Path) -> None:
    """A measurement made on another series is refused."""
    doc = json.loads(measurement.read_text(encoding="utf-8"))
    doc["series"]["series_instance_uid"] = "1.2.3.4"
    other = tmp_path / "other.json"
    other.write_text(json.dumps(doc), encoding="utf-8")
    _clean_failure(
        _run(
            "sr",
            "--series",
            SAMPLE_DICOM / "ct",
            "--measurement",
            other,
            "--out",
            tmp_path / "sr.dcm",
        ),
        "another series",
    )


def test_invalid_subject_file(tmp_path: Path) -> None:
    """Bad JSON and RECIST rule violations are one-line errors."""
    bad = tmp_path / "bad.json"
    bad.write_text("{", encoding="utf-8")
    _clean_failure(
        _run(
            "sdtm",
            "--assessment",
            bad,
            "--domain",
            "rs",
            "--study-id",
            "X",
            "--out",
            tmp_path / "rs.csv",
        ),
        "not valid JSON",
    )
    doc = assessment_input()
    doc["timepoints"][0]["measurements"][1]["diameter_mm"] = 9.0  # node < 15 mm at baseline
    rule = tmp_path / "rule.json"
    rule.write_text(json.dumps(doc), encoding="utf-8")
    _clean_failure(_run("html", "--assessment", rule, "--out", tmp_path / "r.html"), "N1")


def test_unwritable_output(subjects: list[Path], tmp_path: Path) -> None:
    """An output folder that does not exist is one line, not a traceback."""
    _clean_failure(
        _run(
            "sdtm",
            "--assessment",
            subjects[1],
            "--domain",
            "tu",
            "--study-id",
            "X",
            "--out",
            tmp_path / "missing" / "tu.csv",
        ),
        "tu.csv",
    )

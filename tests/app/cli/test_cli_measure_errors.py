"""Bad input to ``liverburden measure`` exits 2 with one clear line on stderr, never a traceback."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import SAMPLE_DICOM, SHARED_DATA

CLI = [sys.executable, "-m", "app.cli", "measure"]
LABELS = SAMPLE_DICOM / "labels.nii.gz"


def _run(args: list[str | Path]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *map(str, args)], capture_output=True, text=True, timeout=300, check=False
    )


def _assert_clean_failure(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    for needle in needles:
        assert needle.lower() in lines[0].lower(), lines[0]
    assert proc.stdout == ""


# Each case builds its arguments in tmp_path and names words the error line must contain.
Case = Callable[[Path], list[str | Path]]


def _missing(tmp: Path) -> list[str | Path]:
    return ["--series", tmp / "nope", "--labels", LABELS]


def _empty_folder(tmp: Path) -> list[str | Path]:
    (tmp / "empty").mkdir()
    return ["--series", tmp / "empty", "--labels", LABELS]


def _not_dicom(tmp: Path) -> list[str | Path]:
    d = tmp / "junk"
    d.mkdir()
    (d / "a.dcm").write_bytes(b"this is not a DICOM file at all" * 10)
    (d / "b.txt").write_text("hello")
    return ["--series", d, "--labels", LABELS]


def _mixed_series(tmp: Path) -> list[str | Path]:
    d = tmp / "mixed"
    shutil.copytree(SAMPLE_DICOM / "ct", d / "a")
    shutil.copytree(SHARED_DATA / "dcmqi-liver-seg/segmentations/ct-3slice", d / "b")
    return ["--series", d, "--labels", LABELS]


def _wrong_geometry_labels(tmp: Path) -> list[str | Path]:
    d = SHARED_DATA / "pyradiomics-lung"
    return ["--series", SAMPLE_DICOM / "ct", "--labels", d / "lung1_label.nrrd"]


def _unknown_label(tmp: Path) -> list[str | Path]:
    return ["--series", SAMPLE_DICOM / "ct", "--labels", LABELS, "--tumor-label", "7"]


def _unknown_label_name(tmp: Path) -> list[str | Path]:
    return [
        "--series",
        SAMPLE_DICOM / "ct",
        "--labels",
        SAMPLE_DICOM / "seg.dcm",
        "--liver-label",
        "spleen*",
    ]


def _zip_slip(tmp: Path) -> list[str | Path]:
    z = tmp / "slip.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for f in sorted((SAMPLE_DICOM / "ct").iterdir())[:2]:
            zf.write(f, arcname=f"../../escape/{f.name}")
    return ["--series", z, "--labels", LABELS]


def _zip_bomb(tmp: Path) -> list[str | Path]:
    z = tmp / "bomb.zip"
    with (
        zipfile.ZipFile(z, "w", compression=zipfile.ZIP_DEFLATED) as zf,
        zf.open("big.dcm", "w", force_zip64=True) as fh,
    ):
        block = b"\0" * (1 << 20)
        for _ in range(300):
            fh.write(block)
    return ["--series", z, "--labels", LABELS]


def _truncated_dicom(tmp: Path) -> list[str | Path]:
    d = tmp / "trunc"
    d.mkdir()
    src = sorted((SAMPLE_DICOM / "ct").iterdir())[0]
    (d / "x.dcm").write_bytes(src.read_bytes()[:200])
    return ["--series", d, "--labels", LABELS]


def _both_labels_and_masks(tmp: Path) -> list[str | Path]:
    return ["--series", SAMPLE_DICOM / "ct", "--labels", LABELS, "--tumor-mask", LABELS]


def _no_segmentation(tmp: Path) -> list[str | Path]:
    return ["--series", SAMPLE_DICOM / "ct"]


def _gantry_tilt_variable_spacing(tmp: Path) -> list[str | Path]:
    return ["--series", SHARED_DATA / "dcm-qa-ct-gantry-tilt/GE", "--labels", LABELS]


def _broken_file(name: str) -> Case:
    def case(tmp: Path) -> list[str | Path]:
        d = tmp / "broken"
        d.mkdir()
        shutil.copy(SHARED_DATA / "pydicom-testfiles/broken" / name, d / name)
        return ["--series", d, "--labels", LABELS]

    return case


CASES: list[tuple[str, Case, tuple[str, ...]]] = [
    ("missing-path", _missing, ("not",)),
    ("empty-folder", _empty_folder, ()),
    ("not-dicom", _not_dicom, ("dicom",)),
    ("mixed-series", _mixed_series, ("series",)),
    ("wrong-geometry-labels", _wrong_geometry_labels, ()),
    ("unknown-label", _unknown_label, ("7",)),
    ("unknown-label-name", _unknown_label_name, ("spleen",)),
    ("zip-slip", _zip_slip, ()),
    ("zip-bomb", _zip_bomb, ()),
    ("truncated-dicom", _truncated_dicom, ()),
    ("labels-and-masks", _both_labels_and_masks, ()),
    ("no-segmentation", _no_segmentation, ()),
    ("gantry-tilt-variable-spacing", _gantry_tilt_variable_spacing, ("spacing",)),
    ("broken-truncated-pixels", _broken_file("MR_truncated.dcm"), ()),
    ("broken-no-transfer-syntax", _broken_file("meta_missing_tsyntax.dcm"), ()),
    ("broken-bad-vr", _broken_file("badVR.dcm"), ()),
]


@pytest.mark.parametrize(("name", "case", "needles"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_exits_2_with_one_line(
    shared_data: Path, tmp_path: Path, name: str, case: Case, needles: tuple[str, ...]
) -> None:
    """Each bad input ends with exit status 2 and exactly one 'error:' line naming the problem."""
    _assert_clean_failure(_run(case(tmp_path)), *needles)


def test_error_line_does_not_leak_patient_name(shared_data: Path, tmp_path: Path) -> None:
    """Error messages never carry the patient's name from the DICOM header."""
    proc = _run(_mixed_series(tmp_path))
    assert proc.returncode == 2
    assert "PHANTOM^LIVER" not in proc.stderr and "JANCT000" not in proc.stderr

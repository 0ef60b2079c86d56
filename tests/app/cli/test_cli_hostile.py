"""Hostile input through ``liverburden measure``: exit 2 and one ``error:`` line, nothing else.

A representative subset of the dicomio hostile-input corpus (tests/dicomio/test_hostile_input.py)
run through the real command in a subprocess: truncated and random files, wrong VRs, a forged
frame count (once a hang), huge declared lengths, unsafe zips, label maps that do not fit or are
cut short (once silently zero-filled), a MetaImage whose reader prints to stderr itself, SEGs and
RTSTRUCTs drawn elsewhere or malformed, and an input file that cannot be read at all.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.dataset import Dataset

from tests.dicomio import _hostile as h

CLI = [sys.executable, "-m", "app.cli", "measure"]
REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> h.SeedStudy:
    """The valid study every case corrupts."""
    return h.write_seed_study(tmp_path_factory.mktemp("seed"))


def _run(args: list[str | Path]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *map(str, args), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=REPO,
    )


Args = list[str | Path]
Case = Callable[[h.SeedStudy, Path], Args]


def _truncated_slice(s: h.SeedStudy, tmp: Path) -> Args:
    folder = h.copy_study_slices(s, tmp / "ct")
    h.truncate(s.ct_files[1], folder / s.ct_files[1].name, 700)
    return ["--series", folder, "--labels", s.labels_nii_gz]


def _random_dicm(s: h.SeedStudy, tmp: Path) -> Args:
    (tmp / "x.dcm").write_bytes(h.random_bytes(3000, seed=5, dicm=True))
    return ["--series", tmp / "x.dcm", "--labels", s.labels_nii_gz]


def _series_with(mutate: h.Mutation) -> Case:
    def build(s: h.SeedStudy, tmp: Path) -> Args:
        return ["--series", h.rewrite_series(s, tmp / "ct", mutate), "--labels", s.labels_nii_gz]

    return build


def _huge_length(s: h.SeedStudy, tmp: Path) -> Args:
    folder = h.copy_study_slices(s, tmp / "ct")
    target = folder / s.ct_files[1].name
    h.patch_element_length(s.ct_files[1], target, 0x7FE00010, b"OW", 0xFFFFFFF0)
    return ["--series", folder, "--labels", s.labels_nii_gz]


def _zip_slip(s: h.SeedStudy, tmp: Path) -> Args:
    members = {p.name: p.read_bytes() for p in s.ct_files}
    members["../../escaped.dcm"] = s.ct_files[0].read_bytes()
    return ["--series", h.zip_of(tmp / "z.zip", members), "--labels", s.labels_nii_gz]


def _zip_symlink(s: h.SeedStudy, tmp: Path) -> Args:
    members = {p.name: p.read_bytes() for p in s.ct_files} | {"link": b"/etc/passwd"}
    z = h.zip_of(tmp / "z.zip", members, symlinks=["link"])
    return ["--series", z, "--labels", s.labels_nii_gz]


def _zip_nested(s: h.SeedStudy, tmp: Path) -> Args:
    (tmp / "n.zip").write_bytes(h.nested_zip({p.name: p.read_bytes() for p in s.ct_files}, 6))
    return ["--series", tmp / "n.zip", "--labels", s.labels_nii_gz]


def _zip_lying(s: h.SeedStudy, tmp: Path) -> Args:
    return ["--series", h.lying_zip(tmp / "lie.zip", 1000, 8 << 20), "--labels", s.labels_nii_gz]


def _labels_other_region(s: h.SeedStudy, tmp: Path) -> Args:
    labels = h.label_image(s.labels_nrrd, tmp / "l.nii.gz", origin_shift_mm=1000.0)
    return ["--series", s.ct_dir, "--labels", labels]


def _labels_nan(s: h.SeedStudy, tmp: Path) -> Args:
    a = sitk.GetArrayFromImage(sitk.ReadImage(str(s.labels_nrrd))).astype(np.float32)
    a[0, 0, 0] = np.nan
    return ["--series", s.ct_dir, "--labels", h.label_image(s.labels_nrrd, tmp / "l.nrrd", a)]


def _labels_truncated_gz(s: h.SeedStudy, tmp: Path) -> Args:
    cut = h.truncate(s.labels_nii_gz, tmp / "l.nii.gz", s.labels_nii_gz.stat().st_size // 2)
    return ["--series", s.ct_dir, "--labels", cut]


def _labels_truncated_mha(s: h.SeedStudy, tmp: Path) -> Args:
    whole = h.label_image(s.labels_nrrd, tmp / "whole.mha", compress=False)
    cut = h.truncate(whole, tmp / "l.mha", whole.stat().st_size * 3 // 4)
    return ["--series", s.ct_dir, "--labels", cut]


def _labels_huge_grid(s: h.SeedStudy, tmp: Path) -> Args:
    labels = h.nifti_claiming(s.labels_nii, tmp / "l.nii", (4000, 4000, 4000))
    return ["--series", s.ct_dir, "--labels", labels]


def _new_uids(ds: Dataset) -> None:
    ds.SOPInstanceUID = pydicom.uid.generate_uid(entropy_srcs=[str(ds.SOPInstanceUID)])
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.SeriesInstanceUID = pydicom.uid.UID("1.2.826.0.1.3680043.10.1043.99")


def _seg_of_other_series(s: h.SeedStudy, tmp: Path) -> Args:
    return ["--series", h.rewrite_series(s, tmp / "other", _new_uids), "--labels", s.seg]


def _rtstruct_1e30(s: h.SeedStudy, tmp: Path) -> Args:
    def far(ds: Dataset) -> None:
        c = ds.ROIContourSequence[1].ContourSequence[0]
        c.ContourData = ["1e30" if i % 3 != 2 else v for i, v in enumerate(c.ContourData)]

    return ["--series", s.ct_dir, "--labels", h.dicom_with(s.rtstruct, tmp / "rt.dcm", far)]


def _rtstruct_truncated(s: h.SeedStudy, tmp: Path) -> Args:
    cut = h.truncate(s.rtstruct, tmp / "rt.dcm", s.rtstruct.stat().st_size // 8)
    return ["--series", s.ct_dir, "--labels", cut]


def _unreadable_labels(s: h.SeedStudy, tmp: Path) -> Args:
    # /proc/self/mem is a regular file whose first page cannot be read (EIO): an OSError.
    return ["--series", s.ct_dir, "--labels", "/proc/self/mem"]


# (id, builder, words the error line must contain)
CASES: list[tuple[str, Case, tuple[str, ...]]] = [
    ("truncated-slice-among-valid", _truncated_slice, ("truncated",)),
    ("random-bytes-after-dicm", _random_dicm, ("dicom",)),
    (
        "orientation-all-zeros",
        _series_with(h.raw("ImageOrientationPatient", "DS", ["0"] * 6)),
        ("orientation",),
    ),
    (
        "position-1e308",
        _series_with(h.raw("ImagePositionPatient", "DS", ["1e308"] * 3)),
        ("ImagePositionPatient",),
    ),
    ("frames-1e9", _series_with(h.raw("NumberOfFrames", "IS", "1000000000")), ("pixel data",)),
    ("bits-allocated-12", _series_with(h.raw("BitsAllocated", "US", 12)), ("BitsAllocated",)),
    ("pixel-data-length-0xFFFFFFF0", _huge_length, ()),
    ("zip-slip", _zip_slip, ("outside",)),
    ("zip-symlink", _zip_symlink, ("symbolic link",)),
    ("zip-nested-6-deep", _zip_nested, ("zip",)),
    ("zip-member-inflates-beyond-its-size", _zip_lying, ("zip",)),
    ("labels-other-region", _labels_other_region, ("region",)),
    ("labels-nan", _labels_nan, ("NaN",)),
    ("labels-nii-gz-truncated", _labels_truncated_gz, ("truncated",)),
    ("labels-mha-truncated-reader-prints", _labels_truncated_mha, ()),
    ("labels-header-claims-huge-grid", _labels_huge_grid, ("declares a grid", "series")),
    ("seg-of-another-series", _seg_of_other_series, ("not in the series",)),
    ("rtstruct-coordinates-1e30", _rtstruct_1e30, ("ContourData",)),
    ("rtstruct-truncated", _rtstruct_truncated, ()),
    ("labels-unreadable", _unreadable_labels, ("could not be read",)),
]


@pytest.mark.parametrize(("build", "needles"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_hostile_input_exits_2_with_one_line(
    study: h.SeedStudy, tmp_path: Path, build: Case, needles: tuple[str, ...]
) -> None:
    """Each hostile input ends with exit status 2 and exactly one 'error:' line on stderr."""
    proc = _run(build(study, tmp_path))
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    for needle in needles:
        assert needle.lower() in lines[0].lower(), lines[0]
    assert proc.stdout == ""
    assert not list(tmp_path.parent.rglob("escaped.dcm"))


def test_the_valid_study_measures(study: h.SeedStudy) -> None:
    """The uncorrupted study measures cleanly: every failure above is the corruption's."""
    for labels in (study.labels_nii_gz, study.seg, study.rtstruct):
        proc = _run(["--series", study.ct_dir, "--labels", labels])
        assert proc.returncode == 0, proc.stderr
        result = json.loads(proc.stdout)
        assert result["series"]["slices"] == 4
        assert result["liver_volume_ml"] > 0 and result["lesions"]

"""discover(): grouping by series, non-image objects, empty UIDs, and non-DICOM files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dicomio import NotDicomError, discover
from tests.conftest import SAMPLE_DICOM
from tests.dicomio._series_synth import write_stack

DCMQI = "dcmqi-liver-seg/segmentations"


def test_groups_by_series_uid(tmp_path: Path) -> None:
    """Files of two series in one folder tree become two summaries with their own counts."""
    write_stack(tmp_path / "x", [(0, 0, k) for k in range(3)], series_uid="1.2.5.1")
    write_stack(tmp_path / "y", [(0, 0, k) for k in range(2)], series_uid="1.2.5.2", modality="MR")
    found = {s.series_instance_uid: s for s in discover(tmp_path)}
    assert set(found) == {"1.2.5.1", "1.2.5.2"}
    assert found["1.2.5.1"].instance_count == 3 and found["1.2.5.1"].modality == "CT"
    assert found["1.2.5.2"].frame_count == 2 and found["1.2.5.2"].modality == "MR"
    assert all(s.is_image for s in found.values())
    assert len(found["1.2.5.1"].files) == 3


def test_seg_is_listed_but_not_an_image_series(shared_data: Path, tmp_path: Path) -> None:
    """A SEG beside its CT slices is listed with modality SEG and is not an image series."""
    shutil.copytree(shared_data / DCMQI / "ct-3slice", tmp_path / "ct")
    shutil.copy(shared_data / DCMQI / "liver.dcm", tmp_path / "seg.dcm")
    found = discover(tmp_path)
    kinds = sorted((s.modality, s.is_image, s.instance_count) for s in found)
    assert kinds == [("CT", True, 3), ("SEG", False, 1)]
    assert found[0].is_image  # images are listed first within a study


def test_rtstruct_without_file_meta_is_recognised(shared_data: Path) -> None:
    """An RTSTRUCT written without preamble or file meta is still listed as RTSTRUCT."""
    (s,) = discover(shared_data / "pydicom-testfiles/rt/rtstruct.dcm")
    assert s.modality == "RTSTRUCT" and not s.is_image


def test_empty_series_uid_grouped_with_stable_key(shared_data: Path) -> None:
    """TotalSegmentator's 20 files with empty UIDs form one series under a stable derived key."""
    a = discover(shared_data / "totalsegmentator-example/ct_dicom_series/dicom")
    b = discover(shared_data / "totalsegmentator-example/ct_dicom_series/dicom")
    assert len(a) == 1
    assert a[0].series_instance_uid is None
    assert a[0].key == b[0].key and a[0].key.startswith("2.25.")
    assert a[0].instance_count == 20
    assert "derived" in a[0].describe()


def test_non_dicom_mixed_in_is_skipped(tmp_path: Path) -> None:
    """Text files beside DICOM files are skipped; the series is still found."""
    write_stack(tmp_path, [(0, 0, 0)])
    (tmp_path / "readme.txt").write_text("hello")
    (s,) = discover(tmp_path)
    assert s.instance_count == 1


def test_folder_without_dicom_is_not_dicom_error(tmp_path: Path) -> None:
    """A folder with files but no DICOM at all is a NotDicomError naming a file."""
    (tmp_path / "a.txt").write_text("x" * 300)
    (tmp_path / "b.bin").write_bytes(bytes(300))
    with pytest.raises(NotDicomError, match="none of the 2 files is DICOM"):
        discover(tmp_path)


def test_sample_series_summary() -> None:
    """The bundled sample is one CT series of 60 slices with its description."""
    (s,) = [x for x in discover(SAMPLE_DICOM / "ct") if x.is_image]
    assert (s.modality, s.instance_count, s.frame_count) == ("CT", 60, 60)
    assert "PORTAL VENOUS" in s.series_description
    assert s.acquisition_time is not None
    assert "60 slice(s)" in s.describe()


def test_enhanced_multiframe_counts_frames(shared_data: Path) -> None:
    """A Legacy Converted Enhanced CT is one file holding 3 frames."""
    (s,) = discover(shared_data / DCMQI / "24x38x3/multiframe/mf.dcm")
    assert (s.instance_count, s.frame_count, s.is_image) == (1, 3, True)
    assert "3 frames in 1 file(s)" in s.describe()

"""The series a SEG or RTSTRUCT references, read from real files of ../shared/data."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest

from dicomio.errors import NotDicomError
from dicomio.references import referenced_series_uids
from tests.conftest import SAMPLE_DICOM, SHARED_DATA


def _series_of(path: Path) -> str:
    return str(pydicom.dcmread(path, stop_before_pixels=True).SeriesInstanceUID)


@pytest.mark.parametrize(
    ("segmentation", "image"),
    [
        ("dcmqi-liver-seg/segmentations/liver.dcm", "dcmqi-liver-seg/segmentations/ct-3slice"),
        ("dicompyler-rtss/rtss.dcm", "dicompyler-rtss/ct.0.dcm"),
    ],
    ids=["seg-dcmqi", "rtstruct-dicompyler"],
)
def test_real_segmentation_references_its_image_series(segmentation: str, image: str) -> None:
    """A real SEG (Referenced Series Sequence) and RTSTRUCT (RT Referenced Series) name their CT."""
    target = SHARED_DATA / image
    first = target if target.is_file() else sorted(p for p in target.iterdir() if p.is_file())[0]
    assert referenced_series_uids(SHARED_DATA / segmentation) == {_series_of(first)}


def test_sample_seg_references_the_sample_ct() -> None:
    """The bundled SEG references the bundled CT series."""
    ct = sorted((SAMPLE_DICOM / "ct").glob("*.dcm"))[0]
    assert referenced_series_uids(SAMPLE_DICOM / "seg.dcm") == {_series_of(ct)}


def test_an_image_references_no_series(tmp_path: Path) -> None:
    """A CT image names no referenced series: the set is empty (nothing to check against)."""
    assert referenced_series_uids(sorted((SAMPLE_DICOM / "ct").glob("*.dcm"))[0]) == frozenset()
    (tmp_path / "x.dcm").write_bytes(b"not dicom at all" * 20)
    with pytest.raises(NotDicomError):
        referenced_series_uids(tmp_path / "x.dcm")

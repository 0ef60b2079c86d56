"""RTSTRUCT onto a series grid: real structure sets of ../shared/data, pinned to their READMEs."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from dicomio.errors import LabelError
from dicomio.labels import read_labels, select_segments
from dicomio.model import ImageVolume, LabelMap
from dicomio.rtstruct import labelmap_from_rtstruct
from dicomio.series import read_series
from tests.conftest import SHARED_DATA
from tests.dicomio._label_targets import dicom_target

AIDE = SHARED_DATA / "totalsegmentator-aide-rtstruct"
AIDE_RT = AIDE / "rtstruct/rt-struct-test-data-81-100.dcm"
MOCK = SHARED_DATA / "rt-utils-testdata/mock_data"

# README "Method-A voxels per slice, in z order k = 0...19" (rt-utils = the source NIfTI masks).
AIDE_PER_SLICE = {
    "aorta": "619 651 695 707 703 703 701 691 681 671 662 662 656 664 664 668 654 646 642 607",
    "heart_myocardium": "2278 3649 3850 3501 3204 3017 2863 2800 2789 2793 2805 2751 2711 2723 "
    "2750 2786 2823 2664 2670 2522",
    "lung_lower_lobe_right": "24476 24735 24711 24732 24711 24658 24498 24409 24367 24287 24079 "
    "23994 23916 23752 23682 23481 23293 23063 22774 22511",
}
AIDE_REFERENCE = {  # ROI number, voxels, mL (README reference figures, method A)
    "aorta": (21, 13347, 4.9810),
    "heart_myocardium": (53, 57949, 21.6261),
    "lung_lower_lobe_right": (90, 480129, 179.1799),
    "liver": (11, 0, 0.0),
}


@cache
def _aide_target() -> ImageVolume:
    return read_series(AIDE / "dcm", pixels=False)


@cache
def _aide() -> LabelMap:
    return read_labels(AIDE_RT, _aide_target())


def _by_name(lm: LabelMap, name: str) -> int:
    (number,) = [s.number for s in lm.segments if s.name == name]
    return number


@pytest.mark.parametrize("name", sorted(AIDE_REFERENCE), ids=sorted(AIDE_REFERENCE))
def test_aide_reference_rois(shared_data: Path, name: str) -> None:
    """AIDE ROIs give the README's method-A voxels and volumes (0.8 mm grid, slice 1 inserted)."""
    number, voxels, volume_ml = AIDE_REFERENCE[name]
    lm = _aide()
    assert _by_name(lm, name) == number
    mask = lm.mask([number])
    assert int(mask.sum()) == voxels
    geometry = _aide_target().geometry
    assert geometry.shape_zyx[0] == 21 and _aide_target().info.missing_slices == (1,)
    assert mask.sum() * geometry.voxel_volume_mm3 / 1000 == pytest.approx(volume_ml, abs=5e-5)


@pytest.mark.parametrize("name", sorted(AIDE_PER_SLICE), ids=sorted(AIDE_PER_SLICE))
def test_aide_rois_equal_their_source_masks_slice_by_slice(shared_data: Path, name: str) -> None:
    """Each slice matches the README counts, and the mask equals the y-flipped source NIfTI."""
    mask = _aide().mask([_by_name(_aide(), name)])
    acquired = np.delete(mask, 1, axis=0)  # drop the inserted (missing) slice
    assert not mask[1].any()
    expected = [int(v) for v in AIDE_PER_SLICE[name].split()]
    assert acquired.sum(axis=(1, 2)).tolist() == expected
    source = sitk.GetArrayFromImage(sitk.ReadImage(str(AIDE / "nii_seg" / f"{name}.nii.gz")))
    np.testing.assert_array_equal(acquired, source[:, ::-1, :] > 0)


def test_aide_segments_and_warnings(shared_data: Path) -> None:
    """104 ROIs, 70 of them empty; off-plane contours are placed by reference with a warning."""
    lm = _aide()
    assert lm.source_kind == "rtstruct" and lm.masks is not None
    assert len(lm.segments) == 104
    empty = [s for s in lm.segments if not lm.masks[s.number].any()]
    assert len(empty) == 70
    assert any("more than half a slice (up to 0.758 mm)" in w for w in lm.warnings)
    assert select_segments(lm, None, "liver") == [11]
    with pytest.raises(LabelError, match="--tumor-label"):
        select_segments(lm, None, "tumor")


def test_aide_on_an_independent_header_grid(shared_data: Path) -> None:
    """A grid built here from the slice headers gives the same masks as read_series' grid."""
    target = dicom_target(sorted((AIDE / "dcm").glob("*.dcm")))
    lm = read_labels(AIDE_RT, target)
    for name in AIDE_PER_SLICE:
        np.testing.assert_array_equal(
            lm.mask([_by_name(lm, name)]), _aide().mask([_by_name(_aide(), name)])
        )


def test_aide_without_references_falls_on_the_wrong_slices(shared_data: Path) -> None:
    """Placed by nearest plane instead of by reference, AIDE contours land on other slices."""
    ds: Any = pydicom.dcmread(AIDE_RT)
    for roi in ds.ROIContourSequence:
        for contour in roi.get("ContourSequence", []):
            del contour.ContourImageSequence
    lm = labelmap_from_rtstruct(ds, _aide_target())
    aorta = lm.mask([21]).sum(axis=(1, 2))
    assert aorta[1] > 0  # the inserted, never acquired slice receives contours
    assert aorta.tolist() != _aide().mask([21]).sum(axis=(1, 2)).tolist()


def test_rt_utils_mock_structure_set(shared_data: Path) -> None:
    """rt.dcm: a 50 x 50 square minus the inside of a chamfered 31 x 31 hole = 1,660 voxels."""
    lm = read_labels(MOCK / "rt.dcm", read_series(MOCK, pixels=False))
    assert [(s.number, s.name) for s in lm.segments] == [(1, "ROI-1")]
    mask = lm.mask([1])
    assert mask.sum(axis=(1, 2)).tolist() == [50 * 50 - (29 * 29 - 1), 0]
    assert mask[0, 152, 152:202].all() and mask[0, 201, 152:202].all()
    assert not mask[0, 165:185, 165:185].any()
    assert any("FrameOfReferenceUID differs" in w for w in lm.warnings)


def test_rt_utils_mock_without_references_needs_the_frame_of_reference(shared_data: Path) -> None:
    """rt.dcm's frame of reference UID is not the CT's: placed by position, it is refused."""
    ds: Any = pydicom.dcmread(MOCK / "rt.dcm")
    for contour in ds.ROIContourSequence[0].ContourSequence:
        del contour.ContourImageSequence
    with pytest.raises(LabelError, match="frame of reference"):
        labelmap_from_rtstruct(ds, read_series(MOCK, pixels=False))


@pytest.mark.parametrize(
    ("path", "series", "needle"),
    [
        (
            MOCK / "invalid_reference_rt.dcm",
            MOCK,
            r"references 1 image\(s\) that are not in the series \(2 of the 3",
        ),
        (
            MOCK / "non_existent_reference_rt.dcm",
            MOCK,
            r"references 1 image\(s\) that are not in the series",
        ),
        (
            SHARED_DATA / "dicompyler-rtss/rtss.dcm",
            SHARED_DATA / "dicompyler-rtss/ct.0.dcm",
            r"references 97 image\(s\) that are not in the series \(1 of the 98",
        ),
    ],
    ids=["rt-utils-invalid-reference", "rt-utils-no-study-sequence", "dicompyler-1-of-98"],
)
def test_structure_sets_of_missing_images_are_refused(
    shared_data: Path, path: Path, series: Path, needle: str
) -> None:
    """Contours on images that are not in the series are refused, saying how many are missing."""
    target = dicom_target([series]) if series.is_file() else read_series(series, pixels=False)
    with pytest.raises(LabelError, match=needle):
        read_labels(path, target)


def test_structure_set_without_references_elsewhere_is_refused(shared_data: Path) -> None:
    """pydicom's rtstruct.dcm (no meta, no references) does not fit the dcmqi liver CT."""
    target = read_series(shared_data / "dcmqi-liver-seg/segmentations/ct-3slice", pixels=False)
    with pytest.raises(LabelError):
        read_labels(shared_data / "pydicom-testfiles/rt/rtstruct.dcm", target)

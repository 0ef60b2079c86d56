"""How SEG frames are placed and checked: the dcmqi liver SEG with one header field changed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt
import pydicom
import pytest

from dicomio.errors import CorruptFileError, LabelError
from dicomio.model import ImageVolume
from dicomio.seg import labelmap_from_seg
from dicomio.series import read_series
from tests.conftest import SHARED_DATA

DCMQI = SHARED_DATA / "dcmqi-liver-seg/segmentations"
PIXEL_MM = 0.810547  # the liver SEG's and its CT's pixel spacing


@cache
def _target() -> ImageVolume:
    return read_series(DCMQI / "ct-3slice", pixels=False)


@cache
def _truth() -> npt.NDArray[np.bool_]:
    lm = labelmap_from_seg(pydicom.dcmread(DCMQI / "liver.dcm"), _target())
    return lm.mask([1])


def _liver(change: Callable[[Any], None]) -> Any:
    ds = pydicom.dcmread(DCMQI / "liver.dcm")
    change(ds)
    return ds


def _frames(ds: Any) -> list[Any]:
    return list(ds.PerFrameFunctionalGroupsSequence)


def _drop_references(ds: Any) -> None:
    for item in _frames(ds):
        del item.DerivationImageSequence


def _move(ds: Any, dx: float = 0.0, dy: float = 0.0, dz: float = 0.0) -> None:
    for item in _frames(ds):
        pos = item.PlanePositionSequence[0]
        x, y, z = (float(v) for v in pos.ImagePositionPatient)
        pos.ImagePositionPatient = [x + dx, y + dy, z + dz]


def _other_frame_of_reference(ds: Any) -> None:
    ds.FrameOfReferenceUID = "1.2.3.4.5"


def test_frames_without_references_are_placed_by_position() -> None:
    """Without DerivationImageSequence the frames go to the slice planes at their positions."""
    lm = labelmap_from_seg(_liver(_drop_references), _target())
    np.testing.assert_array_equal(lm.mask([1]), _truth())
    assert lm.warnings == ()


def test_position_placement_needs_the_same_frame_of_reference() -> None:
    """Placed by position, a SEG in another frame of reference is refused."""

    def change(ds: Any) -> None:
        _drop_references(ds)
        _other_frame_of_reference(ds)

    with pytest.raises(LabelError, match="frame of reference"):
        labelmap_from_seg(_liver(change), _target())


def test_references_win_over_a_frame_of_reference_mismatch_with_a_warning() -> None:
    """Placed by reference, a differing FrameOfReferenceUID is reported, not fatal."""
    lm = labelmap_from_seg(_liver(_other_frame_of_reference), _target())
    np.testing.assert_array_equal(lm.mask([1]), _truth())
    assert any("FrameOfReferenceUID differs" in w for w in lm.warnings)


@pytest.mark.parametrize(
    ("dz_mm", "warned"), [(0.3, False), (0.7, True)], ids=["0.3-slice", "0.7-slice"]
)
def test_frames_off_their_referenced_plane_stay_there(dz_mm: float, warned: bool) -> None:
    """A frame that lies off its referenced slice stays on it; beyond half a slice, a warning."""
    lm = labelmap_from_seg(_liver(lambda ds: _move(ds, dz=dz_mm)), _target())
    np.testing.assert_array_equal(lm.mask([1]), _truth())
    assert any("more than half a slice" in w for w in lm.warnings) is warned


def test_frames_outside_the_series_by_position_are_refused() -> None:
    """Without references, frames 10 slices above the series do not fit it."""

    def change(ds: Any) -> None:
        _drop_references(ds)
        _move(ds, dz=10.0)

    with pytest.raises(LabelError, match="slice position"):
        labelmap_from_seg(_liver(change), _target())


def test_frames_shifted_by_whole_pixels_are_shifted_on_the_grid() -> None:
    """A frame origin 5 columns and 3 rows further puts the mask 5 columns and 3 rows further."""
    sx = _target().geometry.spacing_zyx_mm[2]
    sy = _target().geometry.spacing_zyx_mm[1]
    lm = labelmap_from_seg(_liver(lambda ds: _move(ds, dx=5 * sx, dy=3 * sy)), _target())
    expected = np.zeros_like(_truth())
    expected[:, 3:, 5:] = _truth()[:, :-3, :-5]
    assert _truth()[:, -3:, :].sum() == 0 and _truth()[:, :, -5:].sum() == 0
    np.testing.assert_array_equal(lm.mask([1]), expected)


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (lambda ds: _move(ds, dx=0.4), "between pixels"),
        (lambda ds: _move(ds, dx=-300 * PIXEL_MM), "outside the series' images"),
        (
            lambda ds: setattr(
                ds.SharedFunctionalGroupsSequence[0].PlaneOrientationSequence[0],
                "ImageOrientationPatient",
                [0, 1, 0, 1, 0, 0],
            ),
            "oriented",
        ),
        (
            lambda ds: setattr(
                ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0],
                "PixelSpacing",
                [0.8, 0.8],
            ),
            "pixel spacing",
        ),
        (
            lambda ds: setattr(
                ds.PerFrameFunctionalGroupsSequence[0].SegmentIdentificationSequence[0],
                "ReferencedSegmentNumber",
                9,
            ),
            "segment 9",
        ),
    ],
    ids=["half-pixel-shift", "off-image", "rotated", "other-spacing", "undefined-segment"],
)
def test_frames_that_do_not_fit_the_grid_are_refused(
    change: Callable[[Any], None], needle: str
) -> None:
    """Off-grid positions, pixels off the image, another orientation or spacing are refused."""
    with pytest.raises(LabelError, match=needle):
        labelmap_from_seg(_liver(change), _target())


def test_frame_without_segment_identification_is_corrupt() -> None:
    """A BINARY frame that does not say which segment it belongs to is a broken SEG."""

    def change(ds: Any) -> None:
        del ds.PerFrameFunctionalGroupsSequence[1].SegmentIdentificationSequence

    with pytest.raises(CorruptFileError, match="not a valid DICOM SEG"):
        labelmap_from_seg(_liver(change), _target())


def test_labelmap_value_that_is_no_segment_is_refused() -> None:
    """A LABELMAP value without a SegmentSequence entry is an error listing the defined ones."""
    ds = pydicom.dcmread(DCMQI / "sparse-labelmap-noppv.dcm")
    ds.SegmentSequence = pydicom.Sequence([ds.SegmentSequence[0]])  # keep only Background
    target = read_series(DCMQI / "24x38x3/image", pixels=False)
    with pytest.raises(LabelError, match=r"label value\(s\) \[1\]"):
        labelmap_from_seg(ds, target)


def test_a_uid_listed_for_every_slice_does_not_name_a_slice() -> None:
    """A series listing one SOP Instance UID per frame (multi-frame) is matched by position."""
    ds = _liver(lambda ds: None)
    ref = ds.PerFrameFunctionalGroupsSequence[0].DerivationImageSequence[0]
    uid = ref.SourceImageSequence[0].ReferencedSOPInstanceUID
    for item in _frames(ds):
        item.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID = uid
    target = ImageVolume(
        geometry=_target().geometry,
        info=replace(_target().info, sop_instance_uids=(uid, uid, uid)),
    )
    lm = labelmap_from_seg(ds, target)
    np.testing.assert_array_equal(lm.mask([1]), _truth())


def test_series_without_uids_or_frame_of_reference_is_matched_by_position() -> None:
    """On a NIfTI-like series (no UIDs, no frame of reference), frames go by position, noted."""
    target = ImageVolume(
        geometry=_target().geometry,
        info=replace(
            _target().info, sop_instance_uids=(), frame_of_reference_uid=None, source_format="nrrd"
        ),
    )
    lm = labelmap_from_seg(pydicom.dcmread(DCMQI / "liver.dcm"), target)
    np.testing.assert_array_equal(lm.mask([1]), _truth())
    assert any("without a frame of reference" in w for w in lm.warnings)

"""DICOM SEG onto a series grid: the real SEG files of ../shared/data, pinned to their READMEs."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import highdicom as hd
import numpy as np
import numpy.typing as npt
import pytest
import SimpleITK as sitk

from dicomio.errors import LabelError
from dicomio.labels import read_labels
from dicomio.model import ImageVolume
from dicomio.series import read_series
from tests.conftest import SHARED_DATA
from tests.dicomio._label_targets import dicom_target

DCMQI = SHARED_DATA / "dcmqi-liver-seg/segmentations"
HDTF = SHARED_DATA / "highdicom-testfiles"
LIVER_PER_SLICE = [36233, 35645, 35220]  # z = -128.69, -127.69, -126.69 (README)


@cache
def _series(folder: Path) -> ImageVolume:
    return read_series(folder, pixels=False)


@cache
def _ct2(slices: int) -> ImageVolume:
    """The highdicom SEGs' source CT: its last 3 slices, or all 4 on a gap-filled 1.25 mm grid."""
    files = sorted((SHARED_DATA / "pydicom-testfiles/dicomdirtests-CT2").iterdir())
    return dicom_target(files[-slices:])


def _nrrd(path: Path) -> npt.NDArray[np.int16]:
    return np.asarray(sitk.GetArrayFromImage(sitk.ReadImage(str(path))))


def test_dcmqi_liver_seg_frames_go_to_their_referenced_slices(shared_data: Path) -> None:
    """liver.dcm stores frames inferior to superior; by reference they give 36,233/35,645/35,220."""
    target = _series(shared_data / "dcmqi-liver-seg/segmentations/ct-3slice")
    lm = read_labels(DCMQI / "liver.dcm", target)
    assert [(s.number, s.name) for s in lm.segments] == [(1, "Liver")]
    assert lm.source_kind == "seg" and lm.masks is not None and len(lm.file_sha256) == 1
    liver = lm.mask([1])
    assert liver.sum(axis=(1, 2)).tolist() == LIVER_PER_SLICE
    assert liver.sum() * target.geometry.voxel_volume_mm3 / 1000 == pytest.approx(70.362, abs=5e-4)
    np.testing.assert_array_equal(liver, _nrrd(DCMQI / "liver_seg.nrrd") == 1)
    assert lm.warnings == ()


@pytest.mark.parametrize(
    "name",
    [
        "liver_deflate.dcm",
        "liver_j2k.dcm",
        "liver_rle.dcm",
        "liver_expb.dcm",
        "liver_nonbyte_aligned.dcm",
        "liver_nonbyte_aligned_rle.dcm",
    ],
    ids=["deflate-frames", "j2k", "rle-1bit", "big-endian", "510-cropped", "510-cropped-rle"],
)
def test_liver_seg_in_every_encoding_gives_the_same_mask(shared_data: Path, name: str) -> None:
    """The pydicom-data liver SEG variants decode to the same 3-slice mask (crops placed at 0,0)."""
    target = _series(shared_data / "dcmqi-liver-seg/segmentations/ct-3slice")
    lm = read_labels(shared_data / "pydicom-data/seg" / name, target)
    liver = lm.mask([1])
    np.testing.assert_array_equal(liver, _nrrd(DCMQI / "liver_seg.nrrd") == 1)
    assert liver.sum(axis=(1, 2)).tolist() == LIVER_PER_SLICE


def test_partial_overlaps_keeps_every_segment_whole(shared_data: Path) -> None:
    """The 5 overlapping segments equal their source NRRD labels, overlaps included."""
    target = _series(shared_data / "dcmqi-liver-seg/segmentations/ct-3slice")
    lm = read_labels(DCMQI / "partial_overlaps.dcm", target)
    names = [s.name for s in lm.segments]
    assert names == ["GREEN", "ORANGE", "PURPLE", "LIGHT_BLUE", "DARK_BLUE"]
    sources = {1: 1, 4: 1, 5: 1, 2: 2, 3: 3}
    for number, nrrd in sources.items():
        truth = _nrrd(DCMQI / f"partial_overlaps-{nrrd}.nrrd") == number
        np.testing.assert_array_equal(lm.mask([number]), truth, err_msg=f"segment {number}")
    overlap = np.sum([lm.mask([n]) for n in sources], axis=0) > 1
    assert int(overlap.sum()) > 0


@pytest.mark.parametrize(
    ("series", "size", "counts"),
    [
        ("23x38x3/image", "23x38x3", [4, 314, 4]),
        ("23x38x3/multiframe", "23x38x3", [4, 314, 4]),
        ("24x38x3/image", "24x38x3", [0, 315, 0]),
    ],
    ids=["23-wide-single-frames", "23-wide-multiframe-by-position", "24-wide-byte-aligned"],
)
def test_small_segs_equal_their_nrrd(
    shared_data: Path, series: str, size: str, counts: list[int]
) -> None:
    """23 x 38 one-bit frames (874 bits, not byte-aligned) and 24 x 38 land like their NRRDs."""
    target = _series(DCMQI / series)
    lm = read_labels(DCMQI / size / "seg/label.seg", target)
    np.testing.assert_array_equal(lm.mask([1]), _nrrd(DCMQI / size / "nrrd/label.nrrd") == 1)
    assert lm.mask([1]).sum(axis=(1, 2)).tolist() == counts


@pytest.mark.parametrize(
    ("seg", "nrrd"),
    [
        ("sparse-labelmap-noppv.dcm", "sparse_labelmap_noppv_seg.nrrd"),
        ("sparse-labelmap-ppv5.dcm", "sparse_labelmap_ppv5_seg.nrrd"),
    ],
    ids=["no-padding-value", "padding-value-5"],
)
def test_sparse_labelmap_seg(shared_data: Path, seg: str, nrrd: str) -> None:
    """LABELMAP SEG, 2 frames for 3 slices: labels 315/0/315; background and padding are 0."""
    target = _series(DCMQI / "24x38x3/image")
    lm = read_labels(DCMQI / seg, target)
    assert lm.labels is not None
    assert [(s.number, s.name) for s in lm.segments] == [(1, "Liver")]
    truth = _nrrd(DCMQI / nrrd)
    np.testing.assert_array_equal(lm.labels, np.where(truth == 1, 1, 0))
    assert lm.mask([1]).sum(axis=(1, 2)).tolist() == [315, 0, 315]


@pytest.mark.parametrize(
    ("name", "voxels"),
    [
        ("seg_image_ct_binary.dcm", 638),
        ("seg_image_ct_binary_fractional.dcm", 638),
        ("seg_image_ct_true_fractional.dcm", 638),
    ],
    ids=["binary", "fractional-0-1", "true-fractional"],
)
def test_highdicom_segs_on_ct2(name: str, voxels: int) -> None:
    """highdicom's 16 x 16 SEGs land on the CT2 slices they reference, frame for frame."""
    lm = read_labels(HDTF / name, _ct2(3))
    mask = lm.mask([1])
    assert int(mask.sum()) == voxels
    seg = hd.seg.segread(HDTF / "seg_image_ct_binary.dcm")
    uids = list(_ct2(3).info.sop_instance_uids)
    truth = seg.get_pixels_by_source_instance(uids, ignore_spatial_locations=True)[..., 0]
    np.testing.assert_array_equal(mask, truth > 0)


def test_true_fractional_is_thresholded_at_half_the_maximum() -> None:
    """Stored 128/255 (0.502) is inside and 64/255 (0.25) outside: 638, not 638 + 23 voxels."""
    seg = hd.seg.segread(HDTF / "seg_image_ct_true_fractional.dcm")
    stored = np.stack([seg.get_stored_frame(i) for i in (1, 2, 3)])
    assert int((stored == 64).sum()) == 23 and int((stored >= 128).sum()) == 638
    lm = read_labels(HDTF / "seg_image_ct_true_fractional.dcm", _ct2(3))
    assert int(lm.mask([1]).sum()) == 638
    assert lm.warnings == (
        "FRACTIONAL SEG: 661 pixel(s) with values between 0 and 1 were thresholded at 0.5 "
        "(inside when >= 0.5)",
    )
    binary_fractional = read_labels(HDTF / "seg_image_ct_binary_fractional.dcm", _ct2(3))
    assert binary_fractional.warnings == ()


def test_highdicom_overlap_seg_needs_its_fourth_slice() -> None:
    """The overlap SEG also references the slice at z -99.48: missing from a 3-slice series."""
    with pytest.raises(LabelError, match=r"references 1 image\(s\) that are not in the series"):
        read_labels(HDTF / "seg_image_ct_binary_overlap.dcm", _ct2(3))
    lm = read_labels(HDTF / "seg_image_ct_binary_overlap.dcm", _ct2(4))
    first, second = lm.mask([1]), lm.mask([2])
    assert (int(first.sum()), int(second.sum())) == (64, 16)
    assert np.flatnonzero(first.sum(axis=(1, 2))).tolist() == [0, 162, 163, 164]
    assert int((first & second).sum()) == 16


def test_single_frame_seg_on_its_ct(shared_data: Path) -> None:
    """The single-frame 128 x 128 SEG lands on ct_image.dcm with 1,832 voxels."""
    target = dicom_target([HDTF / "ct_image.dcm"])
    assert (
        int(read_labels(HDTF / "seg_image_ct_binary_single_frame.dcm", target).mask([1]).sum())
        == 1832
    )


def test_seg_of_images_not_in_the_series_is_refused(shared_data: Path) -> None:
    """The PET SEG of sr-example references 13 images that the liver CT does not have."""
    target = _series(shared_data / "dcmqi-liver-seg/segmentations/ct-3slice")
    with pytest.raises(LabelError, match=r"references 13 image\(s\)"):
        read_labels(shared_data / "dcmqi-liver-seg/sr-example/seg.dcm", target)


@pytest.mark.parametrize(
    ("series", "needle"),
    [
        ("24x38x3/image", r"references 3 image\(s\)"),
        ("24x38x3/multiframe", "pixel spacing 0.810547 x 0.810547 mm, the series 0.7 x 0.7 mm"),
    ],
    ids=["by-reference", "by-position"],
)
def test_seg_on_another_series_is_refused(series: str, needle: str) -> None:
    """The liver SEG on the 24 x 38 series: its references, or its pixel spacing, do not fit."""
    with pytest.raises(LabelError, match=needle):
        read_labels(DCMQI / "liver.dcm", _series(DCMQI / series))

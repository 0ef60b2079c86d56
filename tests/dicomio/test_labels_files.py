"""NIfTI/NRRD label maps and binary masks onto a series grid: synthetic files, then real data."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import SimpleITK as sitk

from dicomio.errors import (
    CorruptFileError,
    InputNotFoundError,
    LabelError,
    NotDicomError,
    UnsupportedError,
)
from dicomio.labels import read_labels, read_mask
from dicomio.model import Geometry, ImageVolume
from dicomio.series import read_series
from tests.dicomio._label_targets import geometry_from, volume_on

SHAPE = (3, 5, 6)


def _target() -> ImageVolume:
    return volume_on(geometry_from(SHAPE, (2.5, 0.7, 0.8), (10.0, -20.0, 30.0)))


def _write(path: Path, array: npt.NDArray[Any], geometry: Geometry, **meta: str) -> Path:
    """Write ``array`` (z, y, x) on ``geometry`` with SimpleITK (LPS, ITK axis order x, y, z)."""
    image: Any = sitk.GetImageFromArray(array)
    sz, sy, sx = geometry.spacing_zyx_mm
    d = geometry.directions
    image.SetSpacing((sx, sy, sz))
    image.SetOrigin(tuple(float(v) for v in geometry.affine[:3, 3]))
    image.SetDirection(tuple(float(v) for v in np.stack([d[:, 2], d[:, 1], d[:, 0]], 1).ravel()))
    for key, value in meta.items():
        image.SetMetaData(key, value)
    sitk.WriteImage(image, str(path))
    return path


def _labels() -> npt.NDArray[np.uint8]:
    arr = np.zeros(SHAPE, dtype=np.uint8)
    arr[0, 1:3, 1:4] = 1
    arr[2, 0, :] = 2
    arr[1, 4, 5] = 7
    return arr


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii", ".nrrd"], ids=["nii.gz", "nii", "nrrd"])
def test_label_map_on_the_series_grid_is_used_as_is(tmp_path: Path, suffix: str) -> None:
    """A label map on the series grid keeps its values; segments are the non-zero values present."""
    target = _target()
    path = _write(tmp_path / f"labels{suffix}", _labels(), target.geometry)
    lm = read_labels(path, target)
    assert lm.labels is not None
    np.testing.assert_array_equal(lm.labels, _labels())
    assert [(s.number, s.name) for s in lm.segments] == [(1, ""), (2, ""), (7, "")]
    assert lm.source_kind == "labelmap"
    assert lm.file_sha256 == (hashlib.sha256(path.read_bytes()).hexdigest(),)
    assert lm.warnings == ()


def test_label_map_flipped_in_y_is_resampled_by_position(tmp_path: Path) -> None:
    """A label map whose rows run the other way is flipped back, with a warning saying so."""
    target = _target()
    affine = target.geometry.affine.copy()
    affine[:3, 3] = target.geometry.index_to_lps([0, SHAPE[1] - 1, 0])
    affine[:3, 1] = -affine[:3, 1]
    flipped = Geometry(shape_zyx=SHAPE, affine=affine)
    path = _write(tmp_path / "flipped.nrrd", _labels()[:, ::-1, :].copy(), flipped)
    lm = read_labels(path, target)
    assert lm.labels is not None
    np.testing.assert_array_equal(lm.labels, _labels())
    assert any("nearest neighbour" in w for w in lm.warnings)


def test_label_map_of_another_region_names_both_geometries(tmp_path: Path) -> None:
    """A label map elsewhere in space is refused with both grids described in the message."""
    target = _target()
    other = geometry_from(SHAPE, (2.5, 0.7, 0.8), (15.0, -20.0, 30.0))
    path = _write(tmp_path / "elsewhere.nii.gz", _labels(), other)
    with pytest.raises(LabelError) as info:
        read_labels(path, target)
    message = str(info.value)
    assert other.describe() in message and target.geometry.describe() in message
    assert "elsewhere.nii.gz" in message and str(tmp_path) not in message


@pytest.mark.parametrize(
    ("values", "ok"),
    [([0.0, 1.0, 2.0], True), ([0.0, 1.0, 0.5], False), ([0.0, np.nan, 1.0], False)],
    ids=["integral-floats", "fractional", "nan"],
)
def test_float_label_maps_must_hold_whole_numbers(
    tmp_path: Path, values: list[float], ok: bool
) -> None:
    """Float label values are accepted when integral, refused when fractional or NaN."""
    target = _target()
    arr = np.zeros(SHAPE, dtype=np.float32)
    arr[0, 0, :3] = values
    path = _write(tmp_path / "float.nrrd", arr, target.geometry)  # NIfTI I/O turns NaN into 0
    if ok:
        lm = read_labels(path, target)
        assert lm.labels is not None and lm.labels.dtype.kind == "i"
        assert [s.number for s in lm.segments] == [1, 2]
    else:
        with pytest.raises(LabelError, match=r"fractional|NaN"):
            read_labels(path, target)


def test_slicer_segment_names_name_the_segments(tmp_path: Path) -> None:
    """A 3D Slicer .seg.nrrd gives its segment names (and lists named segments even if empty)."""
    target = _target()
    meta = {
        "Segment0_Name": "Liver",
        "Segment0_LabelValue": "1",
        "Segment0_Layer": "0",
        "Segment1_Name": "Tumor 1",
        "Segment1_LabelValue": "2",
        "Segment1_Layer": "0",
        "Segment2_Name": "Spleen",
        "Segment2_LabelValue": "3",
        "Segment2_Layer": "0",
    }
    path = _write(tmp_path / "case.seg.nrrd", _labels(), target.geometry, **meta)
    lm = read_labels(path, target)
    assert [(s.number, s.name, s.single_lesion) for s in lm.segments] == [
        (1, "Liver", False),
        (2, "Tumor 1", True),
        (3, "Spleen", False),
        (7, "", False),
    ]


def test_four_d_and_vector_label_files_are_refused(tmp_path: Path) -> None:
    """Several volumes in one file, or several values per voxel, are not a label map."""
    target = _target()
    four_d: Any = sitk.GetImageFromArray(np.zeros((2, *SHAPE), dtype=np.uint8), isVector=False)
    sitk.WriteImage(four_d, str(tmp_path / "4d.nii.gz"))
    vector: Any = sitk.GetImageFromArray(np.zeros((*SHAPE, 3), dtype=np.uint8), isVector=True)
    sitk.WriteImage(vector, str(tmp_path / "vector.nrrd"))
    with pytest.raises(LabelError, match="4-D"):
        read_labels(tmp_path / "4d.nii.gz", target)
    with pytest.raises(LabelError, match="values per voxel"):
        read_labels(tmp_path / "vector.nrrd", target)


def test_file_kind_is_told_by_content_not_by_name(tmp_path: Path) -> None:
    """A gzipped NIfTI without an extension is still read as a label map."""
    target = _target()
    nii = _write(tmp_path / "a.nii.gz", _labels(), target.geometry)
    renamed = tmp_path / "labels"
    renamed.write_bytes(nii.read_bytes())
    lm = read_labels(renamed, target)
    assert [s.number for s in lm.segments] == [1, 2, 7]


@pytest.mark.parametrize(
    ("name", "content", "error"),
    [
        ("notes.txt", b"hello, these are not labels\n" * 10, NotDicomError),
        ("broken.nii.gz", b"\x1f\x8b\x08\x00" + b"\x00" * 40, CorruptFileError),
        ("missing.nii.gz", None, InputNotFoundError),
    ],
    ids=["text", "truncated-gzip", "missing"],
)
def test_unreadable_label_files_raise_input_errors(
    tmp_path: Path, name: str, content: bytes | None, error: type[Exception]
) -> None:
    """Text, truncated and missing files are input errors naming the file only."""
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(error) as info:
        read_labels(path, _target())
    assert str(tmp_path) not in str(info.value)


def test_binary_mask_non_zero_is_inside(tmp_path: Path) -> None:
    """read_mask takes every non-zero voxel (0/255 masks too) as inside."""
    target = _target()
    arr = (_labels() > 0).astype(np.uint8) * 255
    mask = read_mask(_write(tmp_path / "m.nrrd", arr, target.geometry), target)
    assert mask.dtype == np.bool_
    np.testing.assert_array_equal(mask, _labels() > 0)


def test_binary_mask_with_fractions_or_dicom_is_refused(tmp_path: Path, shared_data: Path) -> None:
    """A probability map is refused (threshold it first), and so is a DICOM file as a mask."""
    target = _target()
    prob = np.full(SHAPE, 0.2, dtype=np.float32)
    with pytest.raises(LabelError, match="fractional"):
        read_mask(_write(tmp_path / "p.nii.gz", prob, target.geometry), target)
    with pytest.raises(UnsupportedError, match="--labels"):
        read_mask(shared_data / "dcmqi-liver-seg/segmentations/liver.dcm", target)


def test_dicom_image_as_labels_is_unsupported(shared_data: Path) -> None:
    """A CT image given where a segmentation is expected is refused, naming its SOP class."""
    ct = shared_data / "dcmqi-liver-seg/segmentations/ct-3slice/01.dcm"
    with pytest.raises(UnsupportedError, match=r"1\.2\.840\.10008\.5\.1\.4\.1\.1\.2"):
        read_labels(ct, read_series(ct.parent, pixels=False))


# --- real data -------------------------------------------------------------------------------


def test_dcmqi_liver_nrrd_counts_per_slice(shared_data: Path) -> None:
    """liver_seg.nrrd on ct-3slice: 36,233 / 35,645 / 35,220 voxels from z -128.69 up; 70.362 mL."""
    seg = shared_data / "dcmqi-liver-seg/segmentations"
    target = read_series(seg / "ct-3slice", pixels=False)
    lm = read_labels(seg / "liver_seg.nrrd", target)
    liver = lm.mask([1])
    assert liver.sum(axis=(1, 2)).tolist() == [36233, 35645, 35220]
    assert target.geometry.origin_lps_mm[2] == pytest.approx(-128.69, abs=1e-4)
    assert liver.sum() * target.geometry.voxel_volume_mm3 / 1000 == pytest.approx(70.362, abs=5e-4)
    assert lm.warnings == ()


def test_totalsegmentator_y_flipped_mask_equals_the_flipped_array(shared_data: Path) -> None:
    """The y-flipped NIfTI lands on the J2K series as mask[:, ::-1, :] (366,708 liver voxels)."""
    folder = shared_data / "totalsegmentator-example/ct_dicom_series"
    target = read_series(folder / "dicom", pixels=False)
    path = folder / "example_seg_dicom.nii.gz"
    lm = read_labels(path, target)
    raw = sitk.GetArrayFromImage(sitk.ReadImage(str(path)))
    assert lm.labels is not None
    np.testing.assert_array_equal(lm.labels, raw[:, ::-1, :])
    assert int(lm.mask([5]).sum()) == 366708
    assert len(lm.segments) == 31
    liver_ml = lm.mask([5]).sum() * target.geometry.voxel_volume_mm3 / 1000
    assert liver_ml == pytest.approx(699.440, abs=5e-4)
    np.testing.assert_array_equal(read_mask(path, target), raw[:, ::-1, :] > 0)


@pytest.mark.parametrize(
    ("case", "voxels"), [("lung1", 837), ("lung2", 24644)], ids=["lung1", "lung2"]
)
def test_pyradiomics_label_nrrd_on_its_image_nrrd(
    shared_data: Path, case: str, voxels: int
) -> None:
    """The lung label maps sit on their image grids despite header float noise (no resampling)."""
    folder = shared_data / "pyradiomics-lung"
    target = read_series(folder / f"{case}_image.nrrd", pixels=False)
    lm = read_labels(folder / f"{case}_label.nrrd", target)
    assert [s.number for s in lm.segments] == [1]
    assert int(lm.mask([1]).sum()) == voxels
    assert lm.warnings == ()


def test_ircadb_masks_and_label_map_on_the_ct(shared_data: Path) -> None:
    """3D-IRCADb: liver 2,106,497, tumours 96,961 + 89,029 voxels; label map 1,920,507 / 185,990."""
    folder = shared_data / "3dircadb1.17-liver-tumors/nifti"
    target = read_series(folder / "ct.nii.gz", pixels=False)
    assert int(read_mask(folder / "liver.nii.gz", target).sum()) == 2106497
    assert int(read_mask(folder / "livertumor1.nii.gz", target).sum()) == 96961
    assert int(read_mask(folder / "livertumor2.nii.gz", target).sum()) == 89029
    lm = read_labels(folder / "labels_liver1_tumor2.nii.gz", target)
    assert [int(lm.mask([n]).sum()) for n in (1, 2)] == [1920507, 185990]


def test_aide_nifti_with_wrong_slice_spacing_is_refused(shared_data: Path) -> None:
    """The AIDE NIfTI (1.6 mm slices over a 0.8 mm series) covers another region: refused."""
    folder = shared_data / "totalsegmentator-aide-rtstruct"
    target = read_series(folder / "dcm", pixels=False)
    with pytest.raises(LabelError) as info:
        read_mask(folder / "nii_seg/aorta.nii.gz", target)
    message = str(info.value)
    assert "0.683x0.683x1.6 mm" in message and "0.683x0.683x0.8 mm" in message


def test_gzip_magic_alone_does_not_make_a_dicom_file_an_image(tmp_path: Path) -> None:
    """A gzip file that is no image is reported as unreadable, not crashed on."""
    path = tmp_path / "data.bin"
    path.write_bytes(gzip.compress(b"not an image at all"))
    with pytest.raises((NotDicomError, CorruptFileError)):
        read_labels(path, _target())


def test_label_map_with_too_large_a_grid_is_refused_by_its_header(tmp_path: Path) -> None:
    """A complete, valid file whose grid exceeds 8 x the series' voxels is refused, naming sizes."""
    target = _target()  # 90 voxels
    big = geometry_from((8, 10, 12), (2.5, 0.7, 0.8), (10.0, -20.0, 30.0))  # 960 voxels
    path = _write(tmp_path / "big.nii.gz", np.zeros((8, 10, 12), dtype=np.uint8), big)
    with pytest.raises(LabelError, match=r"declares a grid of 960 voxels .* series' 90 voxels"):
        read_labels(path, target)
    with pytest.raises(LabelError, match="declares a grid of 960 voxels"):
        read_mask(path, target)


def test_gzip_bomb_label_map_is_refused_before_decompression(tmp_path: Path) -> None:
    """A header declaring a 2 GiB grid over a few bytes is judged by the header alone.

    Were the voxel data read (or its length checked by inflating the stream) first, the error
    would be a truncation error (CorruptFileError), not the grid-size LabelError.
    """
    small = _write(tmp_path / "small.nii", _labels(), _target().geometry)
    raw = bytearray(small.read_bytes())
    dims = np.frombuffer(bytes(raw[40:56]), dtype="<i2").copy()
    dims[1:4] = (2048, 1024, 1024)  # 2 GiB of uint8 voxels declared
    raw[40:56] = dims.astype("<i2").tobytes()
    bomb = tmp_path / "bomb.nii.gz"
    bomb.write_bytes(gzip.compress(bytes(raw[:352]) + bytes(4096)))
    with pytest.raises(LabelError, match=r"declares a grid of 2147483648 voxels"):
        read_labels(bomb, _target())

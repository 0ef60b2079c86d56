"""read_series on synthetic stacks with analytic geometry: order, spacing, gaps, tilt, refusals."""

from __future__ import annotations

import hashlib
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from dicomio import GeometryError, read_series
from tests.dicomio._series_synth import slice_dataset, write, write_stack


def _z(*zs: float) -> list[tuple[float, float, float]]:
    return [(-10.0, 20.0, z) for z in zs]


def test_slices_sorted_by_position_not_file_name(tmp_path: Path) -> None:
    """Slices are ordered along the slice normal whatever the file names say."""
    write_stack(tmp_path, _z(3.0, 1.0, 2.0, 0.0), values=[4, 2, 3, 1])
    vol = read_series(tmp_path)
    assert vol.pixels is not None
    assert [int(vol.pixels[k, 0, 0]) for k in range(4)] == [1 - 1024, 2 - 1024, 3 - 1024, 4 - 1024]
    assert vol.geometry.origin_lps_mm == pytest.approx((-10.0, 20.0, 0.0))


def test_affine_columns_follow_dicom_pixel_spacing_order(tmp_path: Path) -> None:
    """Column 1 is the column cosine times PixelSpacing[0]; column 2 the row cosine times [1]."""
    write_stack(tmp_path, _z(0.0, 1.0), pixel_spacing=(0.5, 0.75))
    aff = read_series(tmp_path, pixels=False).affine
    assert aff[:3, 0] == pytest.approx([0, 0, 1.0])
    assert aff[:3, 1] == pytest.approx([0, 0.5, 0])
    assert aff[:3, 2] == pytest.approx([0.75, 0, 0])


def test_spacing_from_positions_not_thickness(tmp_path: Path) -> None:
    """Slice spacing is the distance between positions; SliceThickness is kept separately."""
    write_stack(tmp_path, _z(0.0, 1.0, 2.0), thickness=2.5)
    vol = read_series(tmp_path, pixels=False)
    assert vol.spacing_zyx_mm == pytest.approx((1.0, 0.5, 0.75))
    assert vol.info.slice_thickness_mm == pytest.approx(2.5)
    assert vol.pixels is None


def test_oblique_orientation_maps_every_slice_position(tmp_path: Path) -> None:
    """An oblique stack's affine maps voxel (k, 0, 0) to slice k's ImagePositionPatient."""
    a = math.radians(30)
    row = (math.cos(a), math.sin(a), 0.0)
    col = (0.0, 0.0, -1.0)
    normal = np.cross(row, col)
    positions = [tuple(np.array([5.0, -3.0, 2.0]) + 2.0 * k * normal) for k in range(4)]
    write_stack(tmp_path, positions[::-1], orientation=(*row, *col))
    geo = read_series(tmp_path, pixels=False).geometry
    got = geo.index_to_lps([[k, 0, 0] for k in range(4)])
    assert got == pytest.approx(np.array(positions))
    assert geo.index_to_lps([0, 2, 3]) == pytest.approx(
        np.array(positions[0]) + 2 * 0.5 * np.array(col) + 3 * 0.75 * np.array(row)
    )


def test_missing_slice_inserted_as_air(tmp_path: Path) -> None:
    """A gap of two spacings becomes an empty slot filled with -1024 HU and listed."""
    write_stack(tmp_path, _z(0.0, 2.0, 3.0, 4.0, 5.0), values=[1, 3, 4, 5, 6])
    vol = read_series(tmp_path)
    assert vol.geometry.shape_zyx[0] == 6
    assert vol.spacing_zyx_mm[0] == pytest.approx(1.0)
    assert vol.info.missing_slices == (1,)
    assert vol.pixels is not None
    assert int(vol.pixels[1].max()) == -1024
    assert int(vol.pixels[2, 0, 0]) == 3 - 1024
    assert vol.info.sop_instance_uids[1] == ""
    assert all(vol.info.sop_instance_uids[k] for k in (0, 2, 3, 4, 5))
    assert any("missing" in w for w in vol.info.warnings)


@pytest.mark.parametrize(
    ("zs", "needle"),
    [
        ((0.0, 1.0, 2.5, 3.5), "varies from 1 to 1.5 mm"),
        ((0.0, 1.0, 5.0), "missing slices"),
        ((0.0, 1.0, 1.0, 2.0), "share one position"),
    ],
    ids=["irregular-spacing", "too-many-missing", "duplicate-position"],
)
def test_unusable_spacing_refused(tmp_path: Path, zs: tuple[float, ...], needle: str) -> None:
    """Irregular gaps, mostly-empty grids and duplicate positions are refused with a reason."""
    write_stack(tmp_path, _z(*zs))
    with pytest.raises(GeometryError, match=needle):
        read_series(tmp_path, pixels=False)


def test_small_position_noise_is_tolerated(tmp_path: Path) -> None:
    """Positions within 2 % of the spacing from the grid (DS rounding) still make a regular grid."""
    write_stack(tmp_path, _z(0.0, 1.004, 1.998, 3.003))
    vol = read_series(tmp_path, pixels=False)
    assert vol.spacing_zyx_mm[0] == pytest.approx(1.0, abs=2e-3)
    assert vol.info.missing_slices == ()


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"orientation": (1, 0, 0, 0, 0.9999, 0.0141)}, "orientation differs"),
        ({"pixel_spacing": (0.5, 0.8)}, "pixel spacing differs"),
        ({"frame_of_reference_uid": "1.2.3.4"}, "frames of reference"),
        ({"rows": 7}, "matrix size differs"),
    ],
    ids=["orientation", "pixel-spacing", "frame-of-reference", "matrix"],
)
def test_mixed_slice_attributes_refused(
    tmp_path: Path, change: dict[str, object], needle: str
) -> None:
    """One orientation, pixel spacing, frame of reference and matrix size per series."""
    write_stack(tmp_path, _z(0.0, 1.0, 2.0))
    write_stack(tmp_path / "odd", _z(3.0), **change)  # type: ignore[arg-type]
    with pytest.raises(GeometryError, match=needle):
        read_series(tmp_path, pixels=False)


def test_gantry_tilt_regular_stack_gives_sheared_affine(tmp_path: Path) -> None:
    """Positions stepping along z under a tilted plane give a sheared grid with the true volume."""
    t = math.radians(20)
    col = (0.0, math.cos(t), -math.sin(t))
    write_stack(tmp_path, _z(0.0, 3.0, 6.0, 9.0), orientation=(1, 0, 0, *col))
    vol = read_series(tmp_path, pixels=False)
    assert vol.affine[:3, 0] == pytest.approx([0, 0, 3.0])
    assert vol.geometry.voxel_volume_mm3 == pytest.approx(3.0 * math.cos(t) * 0.5 * 0.75)
    assert any("gantry tilt" in w for w in vol.info.warnings)
    assert vol.geometry.index_to_lps([3, 0, 0]) == pytest.approx([-10.0, 20.0, 9.0])


def test_positions_off_a_line_refused(tmp_path: Path) -> None:
    """Slices whose positions zig-zag in-plane do not form one stack."""
    write_stack(tmp_path, [(0, 0, 0), (5, 0, 1), (0, 0, 2)])
    with pytest.raises(GeometryError, match="one line"):
        read_series(tmp_path, pixels=False)


def test_single_slice_uses_thickness_with_warning(tmp_path: Path) -> None:
    """A one-slice series takes its depth from SliceThickness and says so."""
    write_stack(tmp_path, _z(7.0), thickness=3.0)
    vol = read_series(tmp_path)
    assert vol.spacing_zyx_mm[0] == pytest.approx(3.0)
    assert any("single-slice" in w for w in vol.info.warnings)


def test_single_slice_without_thickness_refused(tmp_path: Path) -> None:
    """A one-slice series with no thickness or spacing has no depth: refused."""
    write_stack(tmp_path, _z(7.0), thickness=None)
    with pytest.raises(GeometryError, match="single-slice"):
        read_series(tmp_path, pixels=False)


@pytest.mark.parametrize(
    ("modality", "slope", "intercept", "signed", "dtype", "value"),
    [
        ("CT", 1.0, -1024.0, False, np.int16, 7 - 1024),
        ("CT", 1.0, 0.0, True, np.int16, 7),
        ("CT", 0.5, -1024.0, False, np.float32, 3.5 - 1024),
        ("CT", 1.0, -1024.5, False, np.float32, 7 - 1024.5),
        ("MR", None, None, False, np.uint16, 7),
        ("MR", 1.0, 0.0, True, np.int16, 7),
        ("MR", 2.0, 1.0, False, np.float32, 15.0),
    ],
    ids=[
        "ct-int16",
        "ct-signed",
        "ct-slope",
        "ct-fractional",
        "mr-raw",
        "mr-identity",
        "mr-rescale",
    ],
)
def test_pixel_values_and_dtype(
    tmp_path: Path,
    modality: str,
    slope: float | None,
    intercept: float | None,
    signed: bool,
    dtype: type,
    value: float,
) -> None:
    """CT becomes HU (int16 when the rescale is integral); MR stays as stored unless rescaled."""
    px = np.full((6, 5), 7, dtype=np.int16 if signed else np.uint16)
    for k in range(2):
        ds = slice_dataset(
            position=(0, 0, k), pixels=px, modality=modality, slope=slope, intercept=intercept
        )
        write(ds, tmp_path / f"s{k}")
    vol = read_series(tmp_path)
    assert vol.pixels is not None
    assert vol.pixels.dtype == dtype
    assert float(vol.pixels[1, 2, 3]) == pytest.approx(value)
    assert vol.info.modality == modality


def test_ct_values_beyond_int16_widen_to_float32(tmp_path: Path) -> None:
    """Unsigned 16-bit CT whose HU do not fit int16 is returned exactly as float32."""
    px = np.full((6, 5), 65000, dtype=np.uint16)
    write(slice_dataset(position=(0, 0, 0), pixels=px, intercept=0.0), tmp_path / "a")
    write(slice_dataset(position=(0, 0, 1), pixels=px, intercept=0.0), tmp_path / "b")
    vol = read_series(tmp_path)
    assert vol.pixels is not None
    assert vol.pixels.dtype == np.float32
    assert float(vol.pixels.max()) == 65000.0


def test_file_hashes_and_instance_uids(tmp_path: Path) -> None:
    """file_sha256 is the sorted SHA-256 of every file; SOP UIDs follow k order."""
    files = write_stack(tmp_path, _z(2.0, 0.0, 1.0))
    vol = read_series(tmp_path, pixels=False)
    want = sorted(hashlib.sha256(f.read_bytes()).hexdigest() for f in files)
    assert list(vol.info.file_sha256) == want
    from pydicom import dcmread

    by_z = sorted(files, key=lambda f: float(dcmread(f).ImagePositionPatient[2]))
    assert vol.info.sop_instance_uids == tuple(str(dcmread(f).SOPInstanceUID) for f in by_z)


def test_duplicate_file_of_one_instance_is_ignored(tmp_path: Path) -> None:
    """The same instance twice (a copied file) is read once, with a warning."""
    files = write_stack(tmp_path, _z(0.0, 1.0))
    shutil.copy(files[0], tmp_path / "copy-of-first")
    vol = read_series(tmp_path, pixels=False)
    assert vol.geometry.shape_zyx[0] == 2
    assert any("duplicates" in w for w in vol.info.warnings)

"""Putting label arrays from one grid onto another by patient coordinates (synthetic grids)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from dicomio._resample import (
    _resample_aligned,
    _resample_oblique,
    align_to_grid,
    covers_same_region,
    same_grid,
)
from dicomio.model import Geometry
from tests.dicomio._label_targets import geometry_from

SHAPE = (4, 6, 8)
SPACING = (2.0, 0.5, 0.75)
ORIGIN = (-10.0, 20.0, -30.0)


def _target() -> Geometry:
    return geometry_from(SHAPE, SPACING, ORIGIN)


def _labels(shape: tuple[int, int, int] = SHAPE) -> npt.NDArray[np.int16]:
    return np.arange(np.prod(shape), dtype=np.int16).reshape(shape)


def test_same_grid_returns_the_array_itself() -> None:
    """A label on exactly the target grid is used as is (no copy, no resampling)."""
    arr = _labels()
    assert align_to_grid(arr, _target(), _target()) is arr


@pytest.mark.parametrize(
    ("noise_mm", "same"),
    [(2e-13, True), (1e-4, True), (4e-4, True), (1e-2, False)],
    ids=["float-noise", "0.2permille-voxel", "0.8permille-voxel", "2percent-voxel"],
)
def test_same_grid_tolerance_is_a_thousandth_of_the_smallest_voxel(
    noise_mm: float, same: bool
) -> None:
    """Origins closer than 1e-3 of the smallest spacing (0.5 mm here) count as the same grid."""
    shifted = geometry_from(SHAPE, SPACING, (ORIGIN[0] + noise_mm, ORIGIN[1], ORIGIN[2]))
    assert same_grid(shifted, _target()) is same


def test_two_times_coarser_grid_over_the_same_region_is_upsampled_by_repetition() -> None:
    """A 2x coarser grid covering the same box gives each coarse voxel to its 2x2x2 fine voxels."""
    coarse_shape = (SHAPE[0] // 2, SHAPE[1] // 2, SHAPE[2] // 2)
    sz, sy, sx = SPACING
    # The coarse box starts where the fine one does: first centre half a fine voxel further.
    origin = (ORIGIN[0] + sx / 2, ORIGIN[1] + sy / 2, ORIGIN[2] + sz / 2)
    coarse = geometry_from(coarse_shape, (2 * sz, 2 * sy, 2 * sx), origin)
    arr = _labels(coarse_shape)
    out = align_to_grid(arr, coarse, _target())
    expected = arr.repeat(2, axis=0).repeat(2, axis=1).repeat(2, axis=2)
    assert out is not None
    np.testing.assert_array_equal(out, expected)


def test_two_times_finer_grid_takes_the_upper_voxel_of_each_tie() -> None:
    """Downsampling a 2x finer grid: centres fall half-way, and ties go to the higher index."""
    fine_shape = (SHAPE[0] * 2, SHAPE[1] * 2, SHAPE[2] * 2)
    sz, sy, sx = SPACING
    origin = (ORIGIN[0] - sx / 4, ORIGIN[1] - sy / 4, ORIGIN[2] - sz / 4)
    fine = geometry_from(fine_shape, (sz / 2, sy / 2, sx / 2), origin)
    arr = _labels(fine_shape)
    out = align_to_grid(arr, fine, _target())
    assert out is not None
    np.testing.assert_array_equal(out, arr[1::2, 1::2, 1::2])


@pytest.mark.parametrize("axis", [0, 1, 2], ids=["flip-z", "flip-y", "flip-x"])
def test_flipped_axis_is_unflipped_by_position(axis: int) -> None:
    """A grid stored with one axis reversed (origin at the far end) is flipped back by position."""
    target = _target()
    affine = target.affine.copy()  # affine column a steps along array axis a
    affine[:3, 3] = target.index_to_lps([SHAPE[a] - 1 if a == axis else 0 for a in range(3)])
    affine[:3, axis] = -affine[:3, axis]
    flipped = Geometry(shape_zyx=SHAPE, affine=affine)
    truth = _labels()
    stored = np.flip(truth, axis=axis)
    out = align_to_grid(stored, flipped, target)
    assert out is not None
    np.testing.assert_array_equal(out, truth)


@pytest.mark.parametrize(
    "perm", [(2, 1, 0), (1, 0, 2), (0, 2, 1), (1, 2, 0)], ids=["xyz", "yzx-swap01", "zxy", "cycle"]
)
def test_permuted_axes_are_put_back_in_order(perm: tuple[int, int, int]) -> None:
    """A grid whose array axes are a permutation of the target's is transposed back by position."""
    target = _target()
    affine = target.affine.copy()
    affine[:3, :3] = target.affine[:3, list(perm)]
    shape = (SHAPE[perm[0]], SHAPE[perm[1]], SHAPE[perm[2]])
    permuted = Geometry(shape_zyx=shape, affine=affine)
    truth = _labels()
    stored = np.transpose(truth, perm)
    out = align_to_grid(stored, permuted, target)
    assert out is not None
    np.testing.assert_array_equal(out, truth)


def test_oblique_path_agrees_with_the_axis_aligned_path() -> None:
    """The slice-by-slice (oblique) resampler gives the same voxels as the per-axis one."""
    target = _target()
    affine = target.affine.copy()
    affine[:3, :3] = target.affine[:3, [1, 0, 2]]
    affine[:3, 1] = -affine[:3, 1]
    affine[:3, 3] = target.index_to_lps([SHAPE[0] - 1, 0, 0])
    other = Geometry(shape_zyx=(SHAPE[1], SHAPE[0], SHAPE[2]), affine=affine)
    arr = _labels(other.shape_zyx)
    m = np.linalg.inv(other.affine) @ target.affine
    a = _resample_aligned(arr, m, [1, 0, 2], SHAPE)
    b = _resample_oblique(arr, m, SHAPE)
    np.testing.assert_array_equal(a, b)


def test_oblique_grid_is_resampled_to_the_nearest_source_voxel() -> None:
    """A rotated source grid gives each target voxel the value of its nearest source voxel."""
    target = geometry_from((3, 10, 10), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))
    theta = np.deg2rad(3.0)
    rot = np.array(
        [[np.cos(theta), -np.sin(theta), 0], [np.sin(theta), np.cos(theta), 0], [0, 0, 1.0]]
    )
    src_affine = np.eye(4)
    src_affine[:3, :3] = rot @ target.affine[:3, :3] * 0.5
    src_affine[:3, 3] = (-2.0, -2.0, -0.5)
    source = Geometry(shape_zyx=(8, 30, 30), affine=src_affine)
    arr = _labels(source.shape_zyx).astype(np.int32)
    m = np.linalg.inv(source.affine) @ target.affine
    out = _resample_oblique(arr, m, target.shape_zyx)
    for k, j, i in [(0, 0, 0), (1, 5, 7), (2, 9, 9), (1, 3, 8)]:
        idx = source.lps_to_index(target.index_to_lps([k, j, i]))
        nearest = tuple(int(np.floor(v + 0.5)) for v in idx)
        assert out[k, j, i] == arr[nearest]


@pytest.mark.parametrize(
    ("shape", "origin_shift_vox"),
    [
        ((4, 6, 8), (0, 0, 10)),
        ((5, 6, 8), (0, 0, 0)),
        ((4, 6, 7), (0, 0, 0)),
        ((4, 6, 8), (0.6, 0, 0)),
    ],
    ids=["shifted-10-columns", "one-slice-more", "one-column-less", "shifted-0.6-slice"],
)
def test_other_regions_are_refused(
    shape: tuple[int, int, int], origin_shift_vox: tuple[float, float, float]
) -> None:
    """A grid that does not cover the target's region (more, less, elsewhere) is not resampled."""
    target = _target()
    origin = target.index_to_lps(origin_shift_vox)
    other = geometry_from(shape, SPACING, (origin[0], origin[1], origin[2]))
    assert not covers_same_region(other, target)
    assert align_to_grid(np.zeros(shape, dtype=np.uint8), other, target) is None


def test_half_voxel_shift_still_covers_the_region() -> None:
    """Boxes that agree within half a voxel count as the same region (nearest neighbour applies)."""
    target = _target()
    o = target.index_to_lps((0.4, 0.4, -0.4))
    other = geometry_from(SHAPE, SPACING, (o[0], o[1], o[2]))
    arr = _labels()
    out = align_to_grid(arr, other, target)
    assert out is not None
    np.testing.assert_array_equal(out, arr)


def test_wrong_array_shape_is_a_programming_error() -> None:
    """The array must have the shape of its own grid."""
    with pytest.raises(ValueError, match="source grid"):
        align_to_grid(np.zeros((1, 2, 3)), _target(), _target())

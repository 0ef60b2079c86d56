"""Lesions as 26-connected components, and voxel-count volumes, on phantoms with analytic truth."""

from __future__ import annotations

import math

import numpy as np
import pytest

from volumetrics import (
    LesionVolume,
    MaskError,
    label_lesions,
    lesion_volumes,
    resolve_voxel_volume_mm3,
    volume_ml,
)


def _two_cubes(second_corner: tuple[int, int, int], size: int = 3) -> np.ndarray:
    """A 3-voxel cube at (1, 1, 1) and another one with its first voxel at ``second_corner``."""
    m = np.zeros((12, 12, 12), dtype=bool)
    m[1 : 1 + size, 1 : 1 + size, 1 : 1 + size] = True
    z, y, x = second_corner
    m[z : z + size, y : y + size, x : x + size] = True
    return m


@pytest.mark.parametrize(
    ("second_corner", "expected"),
    [
        pytest.param((4, 1, 1), 1, id="touching-by-face"),
        pytest.param((4, 4, 1), 1, id="touching-by-edge-only"),
        pytest.param((4, 4, 4), 1, id="touching-by-corner-only"),
        pytest.param((5, 1, 1), 2, id="separated-by-one-voxel-face"),
        pytest.param((5, 5, 5), 2, id="separated-by-one-voxel-diagonal"),
        pytest.param((4, 5, 4), 2, id="corner-offset-by-one-voxel"),
    ],
)
def test_lesions_are_26_connected_components(
    second_corner: tuple[int, int, int], expected: int
) -> None:
    """Voxels touching by face, edge or only a corner are one lesion; a one-voxel gap splits."""
    labels, n = label_lesions(_two_cubes(second_corner))
    assert n == expected
    assert labels.dtype == np.int32
    assert set(np.unique(labels).tolist()) == set(range(n + 1))


def test_single_voxels_touching_at_a_corner_are_one_lesion() -> None:
    """Two single voxels meeting only at a corner form one lesion of two voxels."""
    m = np.zeros((4, 4, 4), dtype=bool)
    m[1, 1, 1] = m[2, 2, 2] = True
    labels, n = label_lesions(m)
    assert n == 1
    assert int(np.count_nonzero(labels == 1)) == 2


def test_labels_follow_raster_order_and_keep_the_full_shape() -> None:
    """Labels are numbered in raster order of first voxel and returned on the full grid."""
    m = np.zeros((10, 20, 30), dtype=bool)
    m[7, 2, 2] = True
    m[1, 15, 25] = True
    m[1, 3, 28] = True
    labels, n = label_lesions(m)
    assert n == 3
    assert labels.shape == m.shape
    assert (labels[1, 3, 28], labels[1, 15, 25], labels[7, 2, 2]) == (1, 2, 3)


def test_empty_mask_has_no_lesions() -> None:
    """An empty tumour mask gives zero lesions and an all-zero label array."""
    labels, n = label_lesions(np.zeros((3, 4, 5), dtype=bool))
    assert n == 0
    assert not labels.any()


def test_label_lesions_accepts_integer_masks() -> None:
    """A uint8 0/1 (or 0/255) mask is read as non-zero inside."""
    m = np.zeros((5, 5, 5), dtype=np.uint8)
    m[1:3, 1:3, 1:3] = 255
    labels, n = label_lesions(m)
    assert n == 1
    assert int(np.count_nonzero(labels)) == 8


@pytest.mark.parametrize(
    "bad",
    [pytest.param(np.zeros((4, 4), bool), id="2d"), pytest.param(np.zeros((2,) * 4), id="4d")],
)
def test_label_lesions_rejects_non_3d_masks(bad: np.ndarray) -> None:
    """Masks must be 3-D (z, y, x)."""
    with pytest.raises(MaskError, match="3-D"):
        label_lesions(bad)


@pytest.mark.parametrize(
    ("spacing", "override", "expected"),
    [
        pytest.param((5.0, 0.7, 0.7), None, 5.0 * 0.7 * 0.7, id="anisotropic-product"),
        pytest.param((1.6, 0.743, 0.743), None, 1.6 * 0.743 * 0.743, id="ircadb-like"),
        pytest.param((2.0, 1.0, 1.0), 1.9318516525781366, 1.9318516525781366, id="sheared-det"),
    ],
)
def test_voxel_volume_is_spacing_product_unless_overridden(
    spacing: tuple[float, float, float], override: float | None, expected: float
) -> None:
    """The voxel volume is the spacing product, or the explicit |det(affine)| when given."""
    assert resolve_voxel_volume_mm3(spacing, override) == expected


@pytest.mark.parametrize(
    ("spacing", "override"),
    [
        pytest.param((1.0, 1.0), None, id="two-values"),
        pytest.param((1.0, 0.0, 1.0), None, id="zero"),
        pytest.param((1.0, -0.5, 1.0), None, id="negative"),
        pytest.param((1.0, math.nan, 1.0), None, id="nan"),
        pytest.param((1.0, math.inf, 1.0), None, id="inf"),
        pytest.param((1.0, 1.0, 1.0), 0.0, id="override-zero"),
        pytest.param((1.0, 1.0, 1.0), math.nan, id="override-nan"),
    ],
)
def test_bad_spacing_is_rejected(spacing: tuple[float, ...], override: float | None) -> None:
    """Spacing must be three finite values > 0, and an override a finite volume > 0."""
    with pytest.raises(MaskError):
        resolve_voxel_volume_mm3(spacing, override)


def test_volume_is_voxel_count_times_voxel_volume() -> None:
    """Volume = count x voxel volume / 1000 exactly, on 0.7 x 0.7 x 5 mm voxels."""
    m = np.zeros((6, 10, 10), dtype=bool)
    m[1:4, 2:6, 3:8] = True  # 3 x 4 x 5 = 60 voxels
    assert volume_ml(m, (5.0, 0.7, 0.7)) == 60 * (5.0 * 0.7 * 0.7) / 1000
    assert volume_ml(m, (5.0, 0.7, 0.7), voxel_volume_mm3=2.0) == 60 * 2.0 / 1000


def _ellipsoid(
    semi_axes_zyx_mm: tuple[float, float, float], spacing_zyx_mm: tuple[float, float, float]
) -> np.ndarray:
    """Voxels whose centres lie inside an ellipsoid centred on a voxel centre."""
    axes = [
        np.arange(-math.ceil(a / s) - 1, math.ceil(a / s) + 2) * s / a
        for a, s in zip(semi_axes_zyx_mm, spacing_zyx_mm, strict=True)
    ]
    z, y, x = np.meshgrid(*axes, indexing="ij", sparse=True)
    return np.asarray(z**2 + y**2 + x**2 <= 1.0)


@pytest.mark.parametrize(
    ("semi_axes", "spacing", "tolerance"),
    [
        pytest.param((10.0, 15.0, 20.0), (2.0, 2.0, 2.0), 0.02, id="iso-2mm"),
        pytest.param((10.0, 15.0, 20.0), (1.0, 1.0, 1.0), 0.015, id="iso-1mm"),
        pytest.param((10.0, 15.0, 20.0), (0.5, 0.5, 0.5), 0.004, id="iso-0.5mm"),
        pytest.param((10.0, 15.0, 20.0), (0.25, 0.25, 0.25), 0.0012, id="iso-0.25mm"),
        pytest.param((25.0, 15.0, 20.0), (5.0, 0.7, 0.7), 0.02, id="0.7x0.7x5mm"),
        pytest.param((25.0, 15.0, 20.0), (2.5, 0.7, 0.7), 0.004, id="0.7x0.7x2.5mm"),
        pytest.param((25.0, 15.0, 20.0), (1.25, 0.7, 0.7), 0.0012, id="0.7x0.7x1.25mm"),
    ],
)
def test_ellipsoid_volume_converges_to_analytic(
    semi_axes: tuple[float, float, float],
    spacing: tuple[float, float, float],
    tolerance: float,
) -> None:
    """An ellipsoid's voxel-count volume approaches 4/3 pi abc, more closely at finer spacing."""
    mask = _ellipsoid(semi_axes, spacing)
    analytic_ml = 4 / 3 * math.pi * math.prod(semi_axes) / 1000
    measured = volume_ml(mask, spacing)
    assert measured == int(mask.sum()) * math.prod(spacing) / 1000
    assert abs(measured - analytic_ml) / analytic_ml <= tolerance


def test_lesion_volumes_report_count_volume_and_bbox() -> None:
    """Each lesion's record has its voxel count, volume and bounding box in label order."""
    m = np.zeros((8, 8, 8), dtype=bool)
    m[0:2, 0:3, 0:4] = True  # 24 voxels, raster-first
    m[5:8, 5:7, 6:7] = True  # 6 voxels
    labels, n = label_lesions(m)
    spacing = (2.0, 0.5, 0.5)
    got = lesion_volumes(labels, n, spacing)
    assert got == (
        LesionVolume(1, 24, 24 * 0.5 / 1000, (slice(0, 2), slice(0, 3), slice(0, 4))),
        LesionVolume(2, 6, 6 * 0.5 / 1000, (slice(5, 8), slice(5, 7), slice(6, 7))),
    )


def test_lesion_volumes_reject_missing_label() -> None:
    """Every label 1..n must be present."""
    labels = np.zeros((3, 3, 3), dtype=np.int32)
    labels[0, 0, 0] = 2
    with pytest.raises(MaskError, match="label 1"):
        lesion_volumes(labels, 2, (1.0, 1.0, 1.0))


def test_lesion_crossing_a_missing_slice_stays_one_component() -> None:
    """Connectivity bridges slices that were never acquired, so a gap does not split a lesion."""
    from volumetrics.components import label_components

    mask = np.zeros((5, 6, 6), dtype=bool)
    mask[1, 2:4, 2:4] = True
    mask[3, 2:4, 2:4] = True  # slice 2 is the missing slice between them
    _, split = label_components(mask, 1.0)
    labels, bridged = label_components(mask, 1.0, bridge_slices=(2,))
    assert len(split) == 2
    assert len(bridged) == 1
    assert bridged[0].voxel_count == 8
    assert bridged[0].bbox_zyx[0] == slice(1, 4)
    assert set(np.unique(labels[mask])) == {1}


def test_missing_slice_with_tumour_voxels_is_refused() -> None:
    """A slice declared missing must be empty; tumour voxels there are an inconsistent input."""
    from volumetrics.components import label_components
    from volumetrics.errors import MaskError

    mask = np.zeros((3, 4, 4), dtype=bool)
    mask[1, 1, 1] = True
    with pytest.raises(MaskError, match="missing slice"):
        label_components(mask, 1.0, bridge_slices=(1,))


@pytest.mark.parametrize("seed", range(12))
def test_labelling_equals_the_scipy_reference_on_random_masks(seed: int) -> None:
    """Components, their numbering, voxel counts and boxes equal scipy.ndimage's 26-connected
    ``label`` + ``find_objects`` (the reference the module cites) on random sparse and dense masks.
    """
    from scipy import ndimage

    from volumetrics.components import label_components

    rng = np.random.default_rng(seed)
    shape = tuple(int(n) for n in rng.integers(2, 40, size=3))
    mask = rng.random(shape) < rng.uniform(0.01, 0.45)
    want, n = ndimage.label(mask, structure=np.ones((3, 3, 3), dtype=bool))
    labels, volumes = label_components(mask, 1.0)
    assert len(volumes) == n
    np.testing.assert_array_equal(labels, want)
    boxes = ndimage.find_objects(want)
    for lab, (vol, box) in enumerate(zip(volumes, boxes, strict=True), start=1):
        assert vol.label == lab
        assert vol.voxel_count == int(np.count_nonzero(want == lab))
        assert vol.bbox_zyx == box

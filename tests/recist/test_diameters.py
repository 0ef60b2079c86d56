"""Long and short axis on pixel-centre phantoms whose diameters are known analytically."""

from __future__ import annotations

import math

import numpy as np
import pytest

from recist.diameters import (
    Diameters,
    caliper_length_lps_mm,
    caliper_length_mm,
    measure_diameters,
    measure_lesions,
    slice_diameters,
)
from recist.errors import MeasurementError

TOL = 2e-9  # lengths are rounded to 1e-9 mm


def _rect(h: int, w: int, pad: int = 2) -> np.ndarray:
    m = np.zeros((h + 2 * pad, w + 2 * pad), dtype=bool)
    m[pad : pad + h, pad : pad + w] = True
    return m


def _dist_mm(p: tuple[float, float], q: tuple[float, float], sy: float, sx: float) -> float:
    return math.hypot((p[0] - q[0]) * sy, (p[1] - q[1]) * sx)


def _perpendicular(long_ep: tuple, short_ep: tuple, sy: float, sx: float) -> float:
    """Cosine of the angle between the long and short axis, in mm space."""
    (a, b), (c, d) = long_ep, short_ep
    u = ((b[0] - a[0]) * sy, (b[1] - a[1]) * sx)
    v = ((d[0] - c[0]) * sy, (d[1] - c[1]) * sx)
    nu, nv = math.hypot(*u), math.hypot(*v)
    return 0.0 if nv == 0 else (u[0] * v[0] + u[1] * v[1]) / (nu * nv)


@pytest.mark.parametrize(
    ("h", "w", "sy", "sx"),
    [
        pytest.param(5, 5, 1.0, 1.0, id="square-iso"),
        pytest.param(4, 10, 0.7, 0.7, id="4x10-0.7mm"),
        pytest.param(10, 4, 0.7, 0.7, id="10x4-0.7mm"),
        pytest.param(10, 4, 0.5, 0.8, id="10x4-sy0.5-sx0.8"),
        pytest.param(3, 20, 1.2, 0.6, id="3x20-sy1.2-sx0.6"),
        pytest.param(7, 7, 0.5, 1.5, id="square-pixels-anisotropic"),
        pytest.param(2, 2, 0.743, 0.743, id="2x2"),
    ],
)
def test_rectangle_long_axis_is_diagonal_and_short_axis_is_the_perpendicular_chord(
    h: int, w: int, sy: float, sx: float
) -> None:
    """An h x w block: long = centre diagonal, short = min(W, H) * D / max(W, H), perpendicular."""
    height, width = (h - 1) * sy, (w - 1) * sx
    diagonal = math.hypot(height, width)
    expected_short = min(height, width) * diagonal / max(height, width)
    long_mm, short_mm, long_ep, short_ep = slice_diameters(_rect(h, w), (sy, sx))
    assert long_mm == pytest.approx(diagonal, abs=TOL)
    assert short_mm == pytest.approx(expected_short, abs=1e-9)
    corners = {(2.0, 2.0), (2.0, 1.0 + w), (1.0 + h, 2.0), (1.0 + h, 1.0 + w)}
    assert set(long_ep) <= corners
    assert _dist_mm(*short_ep, sy, sx) == pytest.approx(short_mm, abs=1e-9)
    assert _perpendicular(long_ep, short_ep, sy, sx) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize(
    ("pixels", "sy", "sx", "expected_long"),
    [
        pytest.param([(0, c) for c in range(11)], 0.7, 0.7, 7.0, id="row-11px"),
        pytest.param([(r, 0) for r in range(11)], 0.5, 0.9, 5.0, id="column-11px-anisotropic"),
        pytest.param(
            [(i, i) for i in range(10)], 0.5, 0.8, 9 * math.hypot(0.5, 0.8), id="diagonal"
        ),
        pytest.param(
            [(i, 9 - i) for i in range(10)], 0.6, 0.6, 9 * 0.6 * math.sqrt(2), id="antidiagonal"
        ),
        pytest.param([(2 * i, i) for i in range(6)], 1.0, 1.0, 5 * math.sqrt(5), id="gap-line"),
    ],
)
def test_one_pixel_wide_lines_have_zero_short_axis(
    pixels: list[tuple[int, int]], sy: float, sx: float, expected_long: float
) -> None:
    """Collinear pixel centres (a degenerate hull) have their length as long axis and short 0."""
    m = np.zeros((25, 25), dtype=bool)
    for r, c in pixels:
        m[r + 1, c + 1] = True
    long_mm, short_mm, long_ep, short_ep = slice_diameters(m, (sy, sx))
    assert long_mm == pytest.approx(expected_long, abs=TOL)
    assert short_mm == 0.0
    assert short_ep[0] == short_ep[1]
    ends = {(float(r + 1), float(c + 1)) for r, c in (pixels[0], pixels[-1])}
    assert set(long_ep) == ends


def test_single_pixel_has_zero_axes_at_that_pixel() -> None:
    """A single-pixel lesion has long and short axis 0, with endpoints on the pixel."""
    mask = np.zeros((3, 6, 7), dtype=bool)
    mask[1, 4, 5] = True
    d = measure_diameters(mask, (5.0, 0.7, 0.7), offset_zyx=(10, 20, 30))
    assert d == Diameters(0.0, 0.0, 11, ((24.0, 35.0), (24.0, 35.0)), ((24.0, 35.0), (24.0, 35.0)))


def _disc(radius: int) -> np.ndarray:
    r = np.arange(-radius - 1, radius + 2)
    return np.asarray(r[:, None] ** 2 + r[None, :] ** 2 <= radius**2)


@pytest.mark.parametrize("radius", [1, 3, 5, 10, 25, 60])
@pytest.mark.parametrize("spacing", [0.5, 0.743, 1.0])
def test_disc_of_pixel_centres_has_both_axes_equal_to_the_diameter(
    radius: int, spacing: float
) -> None:
    """A lattice disc of radius R pixels: long = short = 2R x spacing (central symmetry)."""
    long_mm, short_mm, long_ep, _ = slice_diameters(_disc(radius), (spacing, spacing))
    assert long_mm == pytest.approx(2 * radius * spacing, abs=TOL)
    assert short_mm == pytest.approx(2 * radius * spacing, abs=1e-9)
    centre = (radius + 1.0, radius + 1.0)
    mid = tuple((a + b) / 2 for a, b in zip(*long_ep, strict=True))
    assert mid == pytest.approx(centre)


def _ellipse(a: int, b: int) -> np.ndarray:
    """Pixel centres with (col/a)^2 + (row/b)^2 <= 1, centred on a pixel centre."""
    rows = np.arange(-b - 1, b + 2)[:, None]
    cols = np.arange(-a - 1, a + 2)[None, :]
    return np.asarray(cols**2 * b**2 + rows**2 * a**2 <= a**2 * b**2)


@pytest.mark.parametrize(
    ("a", "b", "sy", "sx"),
    [
        pytest.param(20, 12, 0.7, 0.7, id="wide-iso"),
        pytest.param(12, 20, 0.7, 0.7, id="tall-iso"),
        pytest.param(10, 15, 0.5, 0.9, id="tall-in-pixels-wide-in-mm"),
        pytest.param(30, 8, 0.8, 0.6, id="wide-anisotropic"),
    ],
)
def test_ellipse_axes_are_its_principal_axes(a: int, b: int, sy: float, sx: float) -> None:
    """A lattice ellipse (semi-axes a cols, b rows): axes 2a*sx and 2b*sy, the longer is long."""
    long_mm, short_mm, long_ep, short_ep = slice_diameters(_ellipse(a, b), (sy, sx))
    major, minor = sorted((2 * a * sx, 2 * b * sy), reverse=True)
    assert long_mm == pytest.approx(major, abs=TOL)
    assert short_mm == pytest.approx(minor, abs=1e-9)
    assert _perpendicular(long_ep, short_ep, sy, sx) == pytest.approx(0.0, abs=1e-12)


def test_non_convex_lesion_uses_the_hull_chord() -> None:
    """A C-shape's short axis is the chord of its convex hull, across the notch."""
    m = _rect(9, 9, pad=0)
    m[3:6, 4:9] = False  # notch open to the right
    long_mm, short_mm, _, _ = slice_diameters(m, (1.0, 1.0))
    assert long_mm == pytest.approx(8 * math.sqrt(2), abs=TOL)
    assert short_mm == pytest.approx(8 * math.sqrt(2), abs=1e-9)


def _ellipsoid(semi_zyx_px: tuple[int, int, int]) -> np.ndarray:
    c, b, a = semi_zyx_px
    z = np.arange(-c, c + 1)[:, None, None] / c
    y = np.arange(-b - 1, b + 2)[None, :, None] / b
    x = np.arange(-a - 1, a + 2)[None, None, :] / a
    return np.asarray(z**2 + y**2 + x**2 <= 1.0)


def test_ellipsoid_on_thick_anisotropic_slices_is_measured_on_its_central_slice() -> None:
    """0.7 x 0.7 x 5 mm: the long axis is the central slice's major axis, 2 a sx."""
    mask = _ellipsoid((3, 14, 20))
    d = measure_diameters(mask, (5.0, 0.7, 0.7), offset_zyx=(40, 100, 200))
    assert d.slice_index == 43
    assert d.long_axis_mm == pytest.approx(2 * 20 * 0.7, abs=TOL)
    assert d.short_axis_mm == pytest.approx(2 * 14 * 0.7, abs=1e-9)
    assert set(d.long_axis_endpoints_rc) == {(115.0, 201.0), (115.0, 241.0)}
    assert d.short_axis_endpoints_rc[0][1] == pytest.approx(221.0)
    assert d.short_axis_endpoints_rc[1][1] == pytest.approx(221.0)


def test_equal_long_axes_on_several_slices_choose_the_lowest_slice() -> None:
    """Ties across slices go to the lowest slice index, whatever the shape on each slice."""
    mask = np.zeros((6, 20, 20), dtype=bool)
    mask[4, 5, 2:13] = True  # 10 mm horizontal line
    mask[2, 2:13, 7] = True  # 10 mm vertical line, lower slice
    mask[1, 5:10, 5:10] = True  # 4 * sqrt(2) mm square: smaller
    d = measure_diameters(mask, (3.0, 1.0, 1.0))
    assert (d.slice_index, d.long_axis_mm) == (2, 10.0)
    assert set(d.long_axis_endpoints_rc) == {(2.0, 7.0), (12.0, 7.0)}


def test_identical_slices_of_a_cylinder_choose_the_lowest_slice() -> None:
    """A cylinder of identical discs is measured on its first slice."""
    mask = np.repeat(_disc(8)[None], 5, axis=0)
    d = measure_diameters(mask, (2.5, 0.8, 0.8), offset_zyx=(7, 0, 0))
    assert d.slice_index == 7
    assert d.long_axis_mm == pytest.approx(16 * 0.8, abs=TOL)


def test_a_slice_with_a_larger_bounding_box_but_smaller_diameter_does_not_win() -> None:
    """A plus sign (diameter 40, box diagonal 56.6) loses to a diagonal line of 35 * sqrt(2)."""
    mask = np.zeros((3, 41, 41), dtype=bool)
    mask[0, 20, :] = True
    mask[0, :, 20] = True
    mask[1, np.arange(36), np.arange(36)] = True
    mask[2, 10:20, 10:20] = True
    d = measure_diameters(mask, (1.0, 1.0, 1.0))
    assert (d.slice_index, d.long_axis_mm) == (1, round(35 * math.sqrt(2), 9))
    assert slice_diameters(mask[0], (1.0, 1.0))[0] == 40.0


def test_offset_makes_crop_coordinates_full_volume_coordinates() -> None:
    """Measuring a crop with its offset equals measuring the full volume."""
    full = np.zeros((12, 60, 70), dtype=bool)
    blob = _ellipsoid((3, 14, 14))[:6, 1:31, 1:31] & np.tri(30, 30, 5, dtype=bool)
    full[3:9, 10:40, 20:50] = blob
    spacing = (2.0, 0.6, 0.9)
    whole = measure_diameters(full, spacing)
    crop = measure_diameters(full[3:9, 10:40, 20:50], spacing, offset_zyx=(3, 10, 20))
    assert crop == whole


def test_measure_lesions_measures_each_label_on_its_crop() -> None:
    """measure_lesions returns one Diameters per label 1..n, equal to measuring each mask."""
    labels = np.zeros((10, 50, 50), dtype=np.int32)
    labels[2, 5:10, 5:20] = 1
    labels[4:7, 30:45, 30:33] = 2
    labels[9, 0, 49] = 3
    spacing = (5.0, 0.7, 0.8)
    got = measure_lesions(labels, 3, spacing)
    assert got == [measure_diameters(labels == k, spacing) for k in (1, 2, 3)]
    assert got[0].long_axis_mm == pytest.approx(math.hypot(4 * 0.7, 14 * 0.8), abs=TOL)
    assert got[2].long_axis_mm == 0.0 and got[2].slice_index == 9
    assert measure_lesions(np.zeros((2, 2, 2), np.int32), 0, spacing) == []


@pytest.mark.parametrize(
    ("n_pixels", "pixel_mm", "thickness_mm", "measurable"),
    [
        pytest.param(13, 1.0, 7.0, False, id="12mm-on-7mm-slices"),
        pytest.param(15, 1.0, 7.0, True, id="14mm-on-7mm-slices"),
        pytest.param(21, 0.7, 7.0, True, id="14mm-from-0.7mm-pixels-on-7mm-slices"),
        pytest.param(11, 1.0, 5.0, True, id="10mm-on-5mm-slices"),
        pytest.param(10, 1.0, 5.0, False, id="9mm-on-5mm-slices"),
        pytest.param(11, 1.0, None, True, id="10mm-thickness-unknown"),
        pytest.param(11, 1.0, 1.6, True, id="10mm-on-thin-slices"),
    ],
)
def test_measurability_uses_the_long_axis_and_slice_thickness(
    n_pixels: int, pixel_mm: float, thickness_mm: float | None, measurable: bool
) -> None:
    """RECIST 1.1: >= 10 mm, and >= 2 x thickness when slices are thicker than 5 mm."""
    mask = np.zeros((1, 3, n_pixels + 2), dtype=bool)
    mask[0, 1, 1 : n_pixels + 1] = True
    d = measure_diameters(mask, (thickness_mm or 5.0, pixel_mm, pixel_mm))
    assert d.long_axis_mm == round((n_pixels - 1) * pixel_mm, 9)
    assert d.is_measurable(thickness_mm) is measurable


@pytest.mark.parametrize(
    ("mask", "spacing", "message"),
    [
        pytest.param(np.zeros((2, 3, 3), bool), (1.0, 1.0, 1.0), "empty", id="empty"),
        pytest.param(np.ones((3, 3), bool), (1.0, 1.0, 1.0), "3-D", id="2d-mask"),
        pytest.param(np.ones((2, 3, 3), bool), (1.0, 0.0, 1.0), "spacing", id="zero-spacing"),
        pytest.param(np.ones((2, 3, 3), bool), (1.0, 1.0), "spacing", id="two-spacings"),
        pytest.param(np.ones((2, 3, 3), bool), (1.0, math.nan, 1.0), "spacing", id="nan"),
        pytest.param(np.ones((2, 3, 3), "U1"), (1.0, 1.0, 1.0), "mask", id="string-array"),
    ],
)
def test_bad_masks_and_spacings_raise_measurement_error(
    mask: np.ndarray, spacing: tuple[float, ...], message: str
) -> None:
    """An empty or malformed mask, or a bad spacing, is a MeasurementError (a ValueError)."""
    with pytest.raises(MeasurementError, match=message):
        measure_diameters(mask, spacing)


def test_slice_diameters_rejects_empty_slice_and_bad_spacing() -> None:
    """slice_diameters needs a non-empty 2-D mask and two positive spacings."""
    with pytest.raises(MeasurementError, match="empty"):
        slice_diameters(np.zeros((4, 4), bool), (1.0, 1.0))
    with pytest.raises(MeasurementError, match="spacing"):
        slice_diameters(np.ones((4, 4), bool), (1.0, -1.0))


def test_measure_lesions_rejects_missing_labels_and_bad_counts() -> None:
    """Every label 1..n must be present, and n must be a count."""
    labels = np.zeros((2, 4, 4), dtype=np.int32)
    labels[0, 0, 0] = 2
    with pytest.raises(MeasurementError, match="label 1"):
        measure_lesions(labels, 2, (1.0, 1.0, 1.0))
    with pytest.raises(MeasurementError, match="n:"):
        measure_lesions(labels, -1, (1.0, 1.0, 1.0))
    with pytest.raises(MeasurementError, match="integer"):
        measure_lesions(labels.astype(float), 2, (1.0, 1.0, 1.0))


@pytest.mark.parametrize(
    ("p1", "p2", "spacing", "expected"),
    [
        pytest.param((0, 0), (3, 4), (1.0, 1.0), 5.0, id="3-4-5"),
        pytest.param((10, 10), (13, 14), (2.0, 0.5), math.hypot(6.0, 2.0), id="anisotropic"),
        pytest.param((1.5, 2.25), (1.5, 2.25), (0.7, 0.7), 0.0, id="zero-length"),
        pytest.param((0, 0), (20, 0), (0.7, 0.9), 14.0, id="rows-use-row-spacing"),
        pytest.param((0, 0), (0, 20), (0.9, 0.7), 14.0, id="cols-use-col-spacing"),
    ],
)
def test_caliper_length_uses_row_and_column_spacing(
    p1: tuple[float, float], p2: tuple[float, float], spacing: tuple[float, float], expected: float
) -> None:
    """A caliper between (row, col) points is hypot(drow * row spacing, dcol * col spacing)."""
    assert caliper_length_mm(p1, p2, spacing) == pytest.approx(expected, abs=1e-9)
    assert caliper_length_mm(p2, p1, spacing) == caliper_length_mm(p1, p2, spacing)


def test_caliper_between_mask_long_axis_endpoints_equals_the_long_axis() -> None:
    """The caliper of the reported long-axis endpoints reproduces the long axis."""
    long_mm, _, (a, b), _ = slice_diameters(_ellipse(17, 9), (0.5, 0.9))
    assert caliper_length_mm(a, b, (0.5, 0.9)) == long_mm


@pytest.mark.parametrize(
    ("p1", "p2", "expected"),
    [
        pytest.param((0.0, 0.0, 0.0), (1.0, 2.0, 2.0), 3.0, id="1-2-2"),
        pytest.param((-10.5, 3.0, 100.0), (-10.5, 3.0, 100.0), 0.0, id="same-point"),
        pytest.param((1.0, 1.0, -5.0), (1.0, 1.0, 9.0), 14.0, id="along-z"),
    ],
)
def test_caliper_length_lps(
    p1: tuple[float, float, float], p2: tuple[float, float, float], expected: float
) -> None:
    """A caliper between patient (LPS) points is their Euclidean distance in mm."""
    assert caliper_length_lps_mm(p1, p2) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize(
    ("p1", "p2", "spacing"),
    [
        pytest.param((0, 0), (1, math.nan), (1.0, 1.0), id="nan-point"),
        pytest.param((0, 0, 0), (1, 1), (1.0, 1.0), id="3d-point"),
        pytest.param((0, 0), (1, 1), (0.0, 1.0), id="zero-spacing"),
        pytest.param((0, 0), (1, 1), (1.0,), id="one-spacing"),
        pytest.param((0, 0), ("a", 1), (1.0, 1.0), id="not-a-number"),
    ],
)
def test_bad_caliper_input_raises(p1: tuple, p2: tuple, spacing: tuple) -> None:
    """Caliper points must be finite (row, col) pairs and the spacing two values > 0."""
    with pytest.raises(MeasurementError):
        caliper_length_mm(p1, p2, spacing)


def test_bad_lps_caliper_input_raises() -> None:
    """LPS caliper points must be three finite numbers."""
    with pytest.raises(MeasurementError):
        caliper_length_lps_mm((0.0, 0.0), (1.0, 1.0, 1.0))
    with pytest.raises(MeasurementError):
        caliper_length_lps_mm((0.0, 0.0, math.inf), (1.0, 1.0, 1.0))

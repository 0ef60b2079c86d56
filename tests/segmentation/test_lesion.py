"""A lesion from a click or a caliper line: analytic phantom truth and errors."""

from __future__ import annotations

import numpy as np
import pytest

from segmentation import (
    ImplausibleResultError,
    LesionContrast,
    LesionParameters,
    SeedError,
    SegmentationInputError,
    segment_lesion,
    segment_lesion_from_line,
)
from segmentation.lesion import _check_volume
from tests.segmentation._phantom import Phantom, dice, make_phantom


@pytest.fixture(scope="module")
def phantom() -> Phantom:
    return make_phantom()


@pytest.mark.parametrize("with_liver", [True, False], ids=["liver-mask", "no-liver-mask"])
def test_hypodense_sphere_matches_truth(phantom: Phantom, with_liver: bool) -> None:
    """A click at the centre of a 60 HU sphere in 100 HU liver recovers the sphere."""
    liver = phantom.liver if with_liver else None
    result = segment_lesion(phantom.image, phantom.spacing, phantom.lesion_centre, liver_mask=liver)
    assert result.contrast is LesionContrast.HYPODENSE
    assert dice(result.mask, phantom.lesion) >= 0.98
    assert result.background_hu == pytest.approx(100.0, abs=3.0)
    assert result.seed_hu == pytest.approx(60.0, abs=5.0)
    assert result.bounded_fraction == 0.0
    assert result.warnings == ()


def test_hyperdense_sphere_matches_truth() -> None:
    """A 160 HU sphere in 100 HU liver is found as hyperdense."""
    ph = make_phantom(lesion_hu=160.0)
    result = segment_lesion(ph.image, ph.spacing, ph.lesion_centre, liver_mask=ph.liver)
    assert result.contrast is LesionContrast.HYPERDENSE
    assert dice(result.mask, ph.lesion) >= 0.96


def test_line_gives_the_same_lesion(phantom: Phantom) -> None:
    """A caliper across the sphere's diameter (seed at its midpoint) bounds and finds it."""
    k, j, i = phantom.lesion_centre
    half = phantom.lesion_radius_mm / phantom.spacing[2]
    result = segment_lesion_from_line(
        phantom.image, phantom.spacing, (k, j, i - half), (k, j, i + half), liver_mask=phantom.liver
    )
    assert result.seed_zyx == phantom.lesion_centre
    assert result.max_radius_mm == pytest.approx(1.3 * phantom.lesion_radius_mm + 3.0)
    assert dice(result.mask, phantom.lesion) >= 0.98


def test_short_line_bounds_the_lesion(phantom: Phantom) -> None:
    """A caliper much shorter than the lesion bounds the result and warns."""
    k, j, i = phantom.lesion_centre
    result = segment_lesion_from_line(
        phantom.image, phantom.spacing, (k, j, i - 2), (k, j, i + 2), liver_mask=phantom.liver
    )
    extent = np.argwhere(result.mask)
    reach = np.sqrt((((extent - phantom.lesion_centre) * phantom.spacing) ** 2).sum(axis=1))
    assert reach.max() <= result.max_radius_mm + 1e-6
    assert result.bounded_fraction > 0.9
    assert "bound" in result.warnings[0]


def test_lesion_is_deterministic(phantom: Phantom) -> None:
    """Two runs on the same input give the same voxels."""
    a = segment_lesion(phantom.image, phantom.spacing, phantom.lesion_centre)
    b = segment_lesion(phantom.image, phantom.spacing, phantom.lesion_centre)
    assert np.array_equal(a.mask, b.mask)


def test_lesion_left_out_of_the_liver_mask_is_grown_by_intensity(phantom: Phantom) -> None:
    """A click in a lesion that the liver mask leaves out (within 20 mm of it) still finds the
    lesion, by intensity alone, and says so."""
    result = segment_lesion(
        phantom.image,
        phantom.spacing,
        phantom.lesion_centre,
        liver_mask=phantom.liver & ~phantom.lesion,
    )
    assert dice(result.mask, phantom.lesion) >= 0.98
    assert "outside the liver mask" in result.warnings[0]


def test_seed_far_outside_liver_mask_is_refused(phantom: Phantom) -> None:
    """A click 30 mm outside the given liver raises SeedError."""
    with pytest.raises(SeedError, match="outside the liver mask, more than 20 mm"):
        segment_lesion(phantom.image, phantom.spacing, phantom.body_point, liver_mask=phantom.liver)


@pytest.mark.parametrize(
    ("point", "needle"),
    [("air", "outside the body"), ("outside", "outside the image"), ("parenchyma", "less than")],
    ids=["air", "outside-image", "no-contrast"],
)
def test_bad_seeds_are_refused(phantom: Phantom, point: str, needle: str) -> None:
    """Seeds in air, off the image, or in plain parenchyma raise SeedError."""
    seed = {
        "air": phantom.air_point,
        "outside": (0, 0, 500),
        "parenchyma": phantom.liver_centre,
    }[point]
    with pytest.raises(SeedError, match=needle):
        segment_lesion(phantom.image, phantom.spacing, seed, liver_mask=phantom.liver)


def test_click_without_edge_is_implausible(phantom: Phantom) -> None:
    """Without a liver mask or a bound, a click in parenchyma finds no edge: an error, not 1 L."""
    with pytest.raises(ImplausibleResultError, match="no lesion edge found"):
        segment_lesion(phantom.image, phantom.spacing, phantom.liver_centre)


@pytest.mark.parametrize(
    ("start", "end", "needle"),
    [
        ((30, 80, 80), (30, 80, 80), "zero length"),
        ((30, 80, 80), (30, 80, 900), "outside the image"),
    ],
    ids=["zero-length", "end-outside"],
)
def test_bad_lines_are_refused(
    phantom: Phantom, start: tuple[int, ...], end: tuple[int, ...], needle: str
) -> None:
    """A degenerate caliper, or one leaving the image, raises SeedError."""
    with pytest.raises(SeedError, match=needle):
        segment_lesion_from_line(phantom.image, phantom.spacing, start, end)


@pytest.mark.parametrize(
    ("lesion_ml", "liver_voxels", "needle"),
    [
        (0.0, 1000, "no lesion found"),
        (6000.0, None, "at most 5000 mL"),
        (0.95, 1000, "fills 95 %"),
    ],
    ids=["empty", "huge", "fills-the-liver"],
)
def test_implausible_lesion_volumes_are_refused(
    lesion_ml: float, liver_voxels: int | None, needle: str
) -> None:
    """Empty lesions, lesions over 5 L and lesions filling >= 90 % of the liver are refused."""
    liver = None if liver_voxels is None else np.ones(liver_voxels, dtype=bool)
    with pytest.raises(ImplausibleResultError, match=needle):
        _check_volume(lesion_ml, (0, 0, 0), liver, 0.001, LesionParameters())


def test_liver_mask_on_another_grid_is_refused(phantom: Phantom) -> None:
    """A liver mask whose shape differs from the image raises SegmentationInputError."""
    with pytest.raises(SegmentationInputError, match="liver_mask"):
        segment_lesion(
            phantom.image, phantom.spacing, phantom.lesion_centre, liver_mask=phantom.liver[1:]
        )

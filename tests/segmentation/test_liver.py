"""The liver from one click: analytic phantom truth; errors for bad seeds and implausible sizes."""

from __future__ import annotations

import numpy as np
import pytest

from segmentation import (
    ImplausibleResultError,
    LiverParameters,
    SeedError,
    SegmentationError,
    SegmentationInputError,
    segment_liver,
)
from tests.segmentation._phantom import Phantom, dice, make_phantom


@pytest.fixture(scope="module")
def phantom() -> Phantom:
    return make_phantom()


def test_liver_phantom_matches_truth(phantom: Phantom) -> None:
    """A click inside a 100 HU ellipsoid in a 40 HU body recovers it, lesion included."""
    result = segment_liver(phantom.image, phantom.spacing, phantom.liver_centre)
    truth_ml = float(phantom.liver.sum()) * np.prod(phantom.spacing) / 1000.0
    assert dice(result.mask, phantom.liver) >= 0.985
    assert result.volume_ml == pytest.approx(truth_ml, rel=0.02)
    assert result.mask[phantom.lesion].mean() > 0.99  # the 60 HU lesion belongs to the liver
    assert result.seed_hu == pytest.approx(100.0, abs=5.0)
    assert result.seed_zyx == phantom.liver_centre
    assert not result.mask.flags.writeable


def test_liver_is_deterministic(phantom: Phantom) -> None:
    """Two runs on the same input give the same voxels."""
    a = segment_liver(phantom.image, phantom.spacing, phantom.liver_centre)
    b = segment_liver(phantom.image, phantom.spacing, np.asarray(phantom.liver_centre) + 0.3)
    assert np.array_equal(a.mask, b.mask)


@pytest.mark.parametrize(
    ("seed", "needle"),
    [
        ((-1, 80, 80), "outside the image"),
        ((30, 80, 160), "outside the image"),
        ((30.0, 80.0, float("nan")), "finite"),
        ((30, 80), "three"),
    ],
    ids=["negative-index", "past-last-column", "nan", "two-coordinates"],
)
def test_seed_outside_image_is_refused(
    phantom: Phantom, seed: tuple[float, ...], needle: str
) -> None:
    """A seed that is not a voxel of the image raises SeedError naming the problem."""
    with pytest.raises(SeedError, match=needle):
        segment_liver(phantom.image, phantom.spacing, seed)


def test_seed_in_air_is_refused(phantom: Phantom) -> None:
    """A click in air (outside the body) raises SeedError with the HU found."""
    with pytest.raises(SeedError, match="outside the body"):
        segment_liver(phantom.image, phantom.spacing, phantom.air_point)


def test_seed_in_body_gives_implausible_volume(phantom: Phantom) -> None:
    """A click in the 40 HU body grows the body, which is refused with the volume and range."""
    with pytest.raises(ImplausibleResultError, match=r"expected 500 to 5000 mL"):
        segment_liver(phantom.image, phantom.spacing, phantom.body_point)


def test_small_organ_is_implausible() -> None:
    """A 30 mm sphere of liver-like tissue (113 mL) is not accepted as a liver."""
    small = make_phantom(liver_semi_axes_mm=(30.0, 30.0, 30.0))
    centre = tuple(int(v) for v in np.argwhere(small.liver & ~small.lesion).mean(axis=0).round())
    centre = (centre[0], centre[1], centre[2] + 10)
    with pytest.raises(ImplausibleResultError, match=r"mL; expected 500"):
        segment_liver(small.image, small.spacing, centre)
    relaxed = segment_liver(small.image, small.spacing, centre, LiverParameters(min_volume_ml=50))
    assert dice(relaxed.mask, small.liver) > 0.9


@pytest.mark.parametrize(
    ("image", "spacing"),
    [
        (np.zeros((10, 10)), (1.0, 1.0, 1.0)),
        (np.zeros((4, 4, 4)), (1.0, 0.0, 1.0)),
        (np.zeros((4, 4, 4)), (1.0, 1.0)),
        (np.zeros((4, 4, 4), dtype=bool), (1.0, 1.0, 1.0)),
    ],
    ids=["2d", "zero-spacing", "two-spacings", "boolean-image"],
)
def test_bad_arrays_are_refused(image: np.ndarray, spacing: tuple[float, ...]) -> None:
    """Unusable images or spacings raise SegmentationInputError, also a ValueError."""
    with pytest.raises(SegmentationInputError) as info:
        segment_liver(image, spacing, (1, 1, 1))
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, SegmentationError)

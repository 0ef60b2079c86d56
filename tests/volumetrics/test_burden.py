"""Total liver volume, tumour volume, burden fraction and the trial's burden flags on phantoms."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from volumetrics import (
    BURDEN_HIGH_FRACTION,
    BURDEN_MAX_FRACTION,
    MEASURABLE_LESION_MIN_MM,
    MaskError,
    burden_flags,
    measure_burden,
)

SPACING = (5.0, 0.7, 0.7)
VOXEL_MM3 = 5.0 * 0.7 * 0.7


def _liver_with_tumour(
    liver_voxels: int, tumor_voxels: int, *, includes_tumor: bool
) -> tuple[np.ndarray, np.ndarray]:
    """A liver of ``liver_voxels`` voxels (tumour included) and a tumour of its first voxels.

    With ``includes_tumor`` the liver mask holds the tumour too (3D-IRCADb style); otherwise the
    liver mask is the parenchyma only (LiTS/MSD label-map style).
    """
    shape = (4, 30, 40)
    flat_liver = np.zeros(int(np.prod(shape)), dtype=bool)
    flat_liver[100 : 100 + liver_voxels] = True
    flat_tumor = np.zeros_like(flat_liver)
    flat_tumor[100 : 100 + tumor_voxels] = True
    liver = flat_liver.reshape(shape)
    tumor = flat_tumor.reshape(shape)
    return (liver if includes_tumor else liver & ~tumor), tumor


@pytest.mark.parametrize("includes_tumor", [True, False], ids=["liver-incl-tumour", "parenchyma"])
@pytest.mark.parametrize(
    ("liver_voxels", "tumor_voxels", "le_70", "gt_25"),
    [
        pytest.param(100, 70, True, True, id="exactly-70pct"),
        pytest.param(100, 71, False, True, id="70pct-plus-1-voxel"),
        pytest.param(102, 71, True, True, id="just-below-70pct"),
        pytest.param(90, 63, True, True, id="exactly-70pct-float-trap"),
        pytest.param(100, 25, True, False, id="exactly-25pct"),
        pytest.param(100, 26, True, True, id="25pct-plus-1-voxel"),
        pytest.param(100, 24, True, False, id="25pct-minus-1-voxel"),
        pytest.param(100, 0, True, False, id="no-tumour"),
        pytest.param(100, 100, False, True, id="all-tumour"),
    ],
)
def test_burden_flags_at_exact_boundaries_in_both_liver_conventions(
    includes_tumor: bool, liver_voxels: int, tumor_voxels: int, le_70: bool, gt_25: bool
) -> None:
    """Burden <= 70 % is inclusive and > 25 % strict, exactly, whichever liver convention."""
    liver, tumor = _liver_with_tumour(liver_voxels, tumor_voxels, includes_tumor=includes_tumor)
    result, _ = measure_burden(tumor, liver, SPACING)
    assert result.liver_voxels == liver_voxels
    assert result.tumor_voxels == tumor_voxels
    assert result.liver_volume_ml == liver_voxels * VOXEL_MM3 / 1000
    assert result.tumor_volume_ml == tumor_voxels * VOXEL_MM3 / 1000
    assert result.burden_fraction == tumor_voxels / liver_voxels
    assert (result.burden_le_70pct, result.burden_gt_25pct) == (le_70, gt_25)


def test_both_liver_conventions_give_identical_results() -> None:
    """A liver mask with or without its tumours gives the same total volume and burden."""
    liver_a, tumor_a = _liver_with_tumour(500, 123, includes_tumor=True)
    liver_b, tumor_b = _liver_with_tumour(500, 123, includes_tumor=False)
    assert int(liver_a.sum()) == 500 and int(liver_b.sum()) == 377
    with_tumor = measure_burden(tumor_a, liver_a, SPACING)
    parenchyma = measure_burden(tumor_b, liver_b, SPACING)
    assert with_tumor[0] == parenchyma[0]
    np.testing.assert_array_equal(with_tumor[1], parenchyma[1])


def test_tumour_partly_outside_the_liver_mask_counts_in_total_liver() -> None:
    """Total liver is the union: tumour voxels outside the liver mask enlarge the liver."""
    liver = np.zeros((2, 10, 10), dtype=bool)
    liver[0] = True  # 100 voxels
    tumor = np.zeros_like(liver)
    tumor[0, 0, :] = True  # 10 inside
    tumor[1, 0, :5] = True  # 5 outside
    result, _ = measure_burden(tumor, liver, (1.0, 1.0, 1.0))
    assert (result.liver_voxels, result.tumor_voxels) == (105, 15)


@pytest.mark.parametrize(
    ("tumor_voxels", "liver_voxels", "expected"),
    [
        pytest.param(7, 10, (True, True), id="70pct"),
        pytest.param(63, 90, (True, True), id="70pct-float-trap"),
        pytest.param(7_000_001, 10_000_000, (False, True), id="just-above-70pct"),
        pytest.param(1, 4, (True, False), id="25pct"),
        pytest.param(2_500_001, 10_000_000, (True, True), id="just-above-25pct"),
        pytest.param(0, 1, (True, False), id="zero"),
    ],
)
def test_burden_flags_are_exact_rationals(
    tumor_voxels: int, liver_voxels: int, expected: tuple[bool, bool]
) -> None:
    """The flags compare tumour/liver voxel counts as exact fractions, not floats."""
    assert burden_flags(tumor_voxels, liver_voxels) == expected


def test_naive_float_comparison_would_fail_the_float_trap_case() -> None:
    """The float-trap case really is a trap: 63 <= 0.7 * 90 is False in binary floating point."""
    assert not 63 <= 0.7 * 90
    assert burden_flags(63, 90)[0] is True


@pytest.mark.parametrize(
    ("tumor_voxels", "liver_voxels"),
    [
        pytest.param(1, 0, id="empty-liver"),
        pytest.param(11, 10, id="tumour-exceeds-liver"),
        pytest.param(-1, 10, id="negative"),
        pytest.param(True, 10, id="bool"),
        pytest.param(1.0, 10, id="float"),
    ],
)
def test_burden_flags_reject_impossible_counts(tumor_voxels: object, liver_voxels: int) -> None:
    """Counts must be integers >= 0 with a non-empty liver that contains the tumour."""
    with pytest.raises(MaskError):
        burden_flags(tumor_voxels, liver_voxels)  # type: ignore[arg-type]


def test_no_liver_gives_null_liver_figures() -> None:
    """Without a liver mask, liver volume, fraction and flags are None; lesions are measured."""
    tumor = np.zeros((3, 8, 8), dtype=bool)
    tumor[1, 2:4, 2:4] = True
    tumor[1, 6, 6] = True
    result, labels = measure_burden(tumor, None, (1.0, 1.0, 1.0))
    assert result.liver_voxels is None
    assert result.liver_volume_ml is None
    assert result.burden_fraction is None
    assert result.burden_le_70pct is None
    assert result.burden_gt_25pct is None
    assert result.tumor_voxels == 5
    assert [lv.voxel_count for lv in result.lesions] == [4, 1]
    assert int(labels.max()) == 2


def test_liver_without_tumour() -> None:
    """A liver with an empty tumour mask has zero burden and no lesions."""
    liver = np.ones((2, 3, 4), dtype=bool)
    result, labels = measure_burden(np.zeros_like(liver), liver, (2.0, 1.0, 1.0))
    assert (result.liver_voxels, result.tumor_voxels, result.burden_fraction) == (24, 0, 0.0)
    assert result.lesions == ()
    assert not labels.any()


def test_voxel_volume_override_is_used_for_all_volumes() -> None:
    """An explicit voxel volume (|det(affine)| of a sheared grid) replaces the spacing product."""
    liver, tumor = _liver_with_tumour(200, 50, includes_tumor=True)
    result, _ = measure_burden(tumor, liver, SPACING, voxel_volume_mm3=3.0)
    assert result.voxel_volume_mm3 == 3.0
    assert result.liver_volume_ml == 200 * 3.0 / 1000
    assert result.tumor_volume_ml == 50 * 3.0 / 1000
    assert result.lesions[0].volume_ml == 50 * 3.0 / 1000


def test_empty_liver_and_tumour_is_an_error() -> None:
    """A liver mask was given but nothing is segmented: no total liver volume exists."""
    empty = np.zeros((2, 2, 2), dtype=bool)
    with pytest.raises(MaskError, match="both empty"):
        measure_burden(empty, empty, (1.0, 1.0, 1.0))


def test_mismatched_shapes_are_an_error() -> None:
    """Liver and tumour masks must share the series grid."""
    with pytest.raises(MaskError, match="shape"):
        measure_burden(np.zeros((2, 2, 2), bool), np.zeros((2, 2, 3), bool), (1.0, 1.0, 1.0))


# --- Lesions given separately (distinct SEG segments) ---------------------------------------------


def _two_lesion_masks() -> tuple[np.ndarray, list[np.ndarray]]:
    shape = (4, 10, 10)
    a = np.zeros(shape, dtype=bool)
    a[1, 1:3, 1:3] = True  # 4 voxels
    a[1, 6, 6] = True  # a second, separate component of the same lesion
    b = np.zeros(shape, dtype=bool)
    b[2:4, 8, 8] = True  # 2 voxels
    return a | b, [a, b]


def test_lesion_masks_given_separately_are_one_lesion_each() -> None:
    """Each given mask is one lesion, even with several components; labels are 1, 2 in order."""
    tumor, masks = _two_lesion_masks()
    result, labels = measure_burden(tumor, None, (1.0, 1.0, 1.0), lesion_masks=masks)
    assert [(lv.label, lv.voxel_count) for lv in result.lesions] == [(1, 5), (2, 2)]
    assert result.lesions[0].bbox_zyx == (slice(1, 2), slice(1, 7), slice(1, 7))
    np.testing.assert_array_equal(labels == 1, masks[0])
    np.testing.assert_array_equal(labels == 2, masks[1])
    components, _ = measure_burden(tumor, None, (1.0, 1.0, 1.0))
    assert len(components.lesions) == 3


def test_overlapping_lesion_masks_keep_their_own_volumes() -> None:
    """Overlapping lesion masks each count their own voxels; the label array keeps the first."""
    a = np.zeros((1, 4, 4), dtype=bool)
    a[0, 0:2, 0:2] = True
    b = np.zeros_like(a)
    b[0, 1:3, 1:3] = True
    result, labels = measure_burden(a | b, None, (1.0, 1.0, 1.0), lesion_masks=[a, b])
    assert [lv.voxel_count for lv in result.lesions] == [4, 4]
    assert result.tumor_voxels == 7
    assert labels[0, 1, 1] == 1


@pytest.mark.parametrize(
    ("case", "message"),
    [
        pytest.param("empty", "empty", id="empty-lesion-mask"),
        pytest.param("outside", "outside the tumour", id="lesion-outside-tumour"),
        pytest.param("missing", "cover", id="tumour-not-covered"),
        pytest.param("shape", "shape", id="wrong-shape"),
    ],
)
def test_inconsistent_lesion_masks_are_rejected(case: str, message: str) -> None:
    """Lesion masks must be non-empty, on the grid, and together equal the tumour mask."""
    tumor, masks = _two_lesion_masks()
    if case == "empty":
        masks.append(np.zeros_like(tumor))
    elif case == "outside":
        masks[1] = masks[1].copy()
        masks[1][0, 0, 0] = True
    elif case == "missing":
        masks = masks[:1]
    else:
        masks[1] = np.zeros((4, 10, 11), dtype=bool)
    with pytest.raises(MaskError, match=message):
        measure_burden(tumor, None, (1.0, 1.0, 1.0), lesion_masks=masks)


def test_trial_thresholds_are_the_protocol_values() -> None:
    """RETNET inclusion: burden <= 70 %, high burden > 25 %, measurable lesion >= 10 mm."""
    assert (
        Decimal("0.70"),
        Decimal("0.25"),
        Decimal("10"),
    ) == (BURDEN_MAX_FRACTION, BURDEN_HIGH_FRACTION, MEASURABLE_LESION_MIN_MM)

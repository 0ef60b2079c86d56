"""Lesions followed from baseline to follow-up on phantom timelines the patient moved between.

Each visit is a generated CT study (DICOM) with its label map, measured by the real pipeline; at
the follow-up the whole body is shifted by up to 40 mm and rotated by up to 8 degrees
(:class:`phantoms.BodyPose`), and lesions shrink, grow, split, merge, disappear or appear. The
truth of every link is known by construction: each measured lesion is identified with the
generator's lesion by the voxels it covers.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.measure.masks import MeasuredMasks
from app.measure.pipeline import MeasureRequest, measure_series
from app.measure.tracking import align_visits, link_visits
from phantoms import (
    SMALL_ABDOMEN,
    BodyPose,
    LesionSpec,
    PhantomSpec,
    make_phantom,
    write_dicom_series,
    write_label_nifti,
)

BASE = dataclasses.replace(
    SMALL_ABDOMEN,
    shape_zyx=(60, 112, 112),
    liver_semi_axes_mm=(55.0, 45.0, 25.0),
    lesions=(
        LesionSpec((-40.0, -10.0, 0.0), (12.0, 10.0, 8.0)),  # 1: shrinks
        LesionSpec((15.0, 15.0, 5.0), (9.0, 8.0, 7.0)),  # 2: grows a little
        LesionSpec((-20.0, 25.0, -5.0), (11.0, 9.0, 8.0)),  # 3: splits in two
        LesionSpec((20.0, -20.0, -8.0), (5.0, 5.0, 5.0)),  # 4: merges with 5
        LesionSpec((34.0, -20.0, -8.0), (5.0, 5.0, 5.0)),  # 5
        LesionSpec((-45.0, 20.0, 10.0), (4.0, 4.0, 4.0)),  # 6: disappears
    ),
)
FOLLOW_LESIONS = (
    LesionSpec((-40.0, -10.0, 0.0), (7.2, 6.0, 4.8)),  # 1 at 60 %
    LesionSpec((15.0, 15.0, 5.0), (9.9, 8.8, 7.7)),  # 2 at 110 %
    LesionSpec((-26.0, 25.0, -5.0), (4.0, 4.0, 4.0)),  # 3a
    LesionSpec((-14.0, 25.0, -5.0), (4.0, 4.0, 4.0)),  # 3b
    LesionSpec((27.0, -20.0, -8.0), (14.0, 7.0, 7.0)),  # 4 + 5 coalesced
    LesionSpec((0.0, -30.0, 15.0), (6.0, 6.0, 6.0)),  # new
)
#: Generator lesion(s) of the follow-up (1-based in FOLLOW_LESIONS) per baseline lesion.
EXPECTED = {
    "matched": {(1,): (1,), (2,): (2,)},
    "split": {(3,): (3, 4)},
    "merged": {(4, 5): (5,)},
}


def _visit(folder: Path, spec: PhantomSpec) -> tuple[dict[str, Any], MeasuredMasks, Any]:
    phantom = make_phantom(spec)
    write_dicom_series(phantom, folder / "ct")
    labels = write_label_nifti(phantom, folder / "labels.nii.gz")
    measured = measure_series(MeasureRequest(series=folder / "ct", labels=labels))
    return measured.result.to_json(), measured.masks, phantom


def _generator_lesion(masks: MeasuredMasks, phantom: Any) -> dict[int, int]:
    """Measured lesion number -> the generator's lesion (1-based) covering most of its voxels."""
    numbers = masks.full_lesions()
    out = {}
    for k in range(1, masks.lesion_count + 1):
        votes = np.bincount(phantom.lesion_index[numbers == k].ravel())
        votes[0] = 0
        out[k] = int(votes.argmax())
    return out


def _follow_spec(pose: BodyPose, seed: int = 1) -> PhantomSpec:
    return dataclasses.replace(BASE, lesions=FOLLOW_LESIONS, pose=pose, seed=seed)


POSES = [
    pytest.param(BodyPose((3.0, -5.0, 6.0), (25.0, -20.0, 22.0)), id="rot8.4deg-shift39mm"),
    pytest.param(BodyPose((0.0, 0.0, -7.9), (-30.0, 12.0, -18.0)), id="rot7.9deg-z-shift37mm"),
    pytest.param(BodyPose((0.0, 0.0, 0.0), (0.0, 0.0, 0.0)), id="same-position"),
]


@pytest.mark.parametrize("pose", POSES)
def test_follow_up_links_every_lesion_right_after_the_patient_moved(
    tmp_path: Path, pose: BodyPose
) -> None:
    """Matched, split, merged, absent and new lesions are all recognised, whatever the pose."""
    base_result, base_masks, base_phantom = _visit(tmp_path / "base", BASE)
    fu_result, fu_masks, fu_phantom = _visit(tmp_path / "fu", _follow_spec(pose))
    base_gen = _generator_lesion(base_masks, base_phantom)
    fu_gen = _generator_lesion(fu_masks, fu_phantom)
    assert sorted(base_gen.values()) == [1, 2, 3, 4, 5, 6]
    assert sorted(fu_gen.values()) == [1, 2, 3, 4, 5, 6]

    tracked = link_visits(base_masks, base_result["lesions"], fu_masks, fu_result["lesions"])

    got: dict[str, dict[tuple[int, ...], tuple[int, ...]]] = {}
    for link in tracked.links.links:
        earlier = tuple(sorted(base_gen[n] for n in link.earlier))
        later = tuple(sorted(fu_gen[n] for n in link.later))
        got.setdefault(link.kind, {})[earlier] = later
        assert 0.0 <= link.confidence <= 1.0
        assert link.distance_mm < 15.0, link  # after alignment, lesions lie where they were
    assert got == EXPECTED
    assert [base_gen[n] for n in tracked.links.absent] == [6]
    assert [fu_gen[n] for n in tracked.links.new] == [6]


@pytest.mark.parametrize("pose", POSES[:2])
def test_alignment_recovers_the_patients_move(tmp_path: Path, pose: BodyPose) -> None:
    """The rigid alignment puts liver points within 2.5 mm of where the pose moved them."""
    _, base_masks, _ = _visit(tmp_path / "base", BASE)
    follow = dataclasses.replace(BASE, pose=pose, seed=1)  # same anatomy, moved
    _, fu_masks, _ = _visit(tmp_path / "fu", follow)

    alignment = align_visits(base_masks, fu_masks)

    assert alignment.organ == "liver"
    truth = np.asarray(pose.matrix())
    rng = np.random.default_rng(3)
    c = np.asarray(BASE.liver_center_lps_mm)
    points = c + rng.uniform(-1.0, 1.0, size=(200, 3)) * np.asarray(BASE.liver_semi_axes_mm)
    expected = points @ truth[:3, :3].T + truth[:3, 3]
    error = np.linalg.norm(alignment.apply(points) - expected, axis=1)
    assert float(error.max()) < 2.5, float(error.max())  # the alignment works on a 3 mm grid
    assert float(error.mean()) < 1.5, float(error.mean())
    # the phantom's liver is an ellipsoid: a turn about its own axes is weakly constrained
    # (a real liver is not); the points above are what the links depend on
    assert alignment.rotation_deg == pytest.approx(
        float(np.degrees(np.arccos((np.trace(truth[:3, :3]) - 1) / 2))), abs=2.0
    )
    assert np.linalg.norm(alignment.matrix[:3, 3] - truth[:3, 3]) < 1.0


def test_visits_without_anything_to_align_keep_the_identity(tmp_path: Path) -> None:
    """No liver and no tumour on one side: nothing to align, said as organ 'none'."""
    empty = np.zeros((4, 4, 4), dtype=np.int32)
    masks = MeasuredMasks((4, 4, 4), (0, 0, 0), empty, empty > 0, None)
    alignment = align_visits(masks, masks)
    assert alignment.organ == "none"
    np.testing.assert_array_equal(alignment.matrix, np.eye(4))


@pytest.mark.parametrize(
    ("shape", "pad", "block"),
    [
        ((37, 50, 61), (5, 7, 3), (1, 2, 3)),
        ((20, 33, 40), (4, 4, 4), (2, 2, 2)),
        ((9, 9, 9), (0, 1, 2), (3, 1, 2)),
    ],
)
def test_block_means_are_simpleitks_binshrink_of_the_padded_mask(
    shape: tuple[int, int, int], pad: tuple[int, int, int], block: tuple[int, int, int]
) -> None:
    """The alignment's coarse mask, made without the padded full-size float image, is what
    SimpleITK's BinShrink gives for that image (same blocks, partial ones dropped)."""
    import SimpleITK as sitk

    from app.measure.tracking import _block_means

    mask = np.random.default_rng(sum(shape)).random(shape) > 0.6
    padded = sitk.GetImageFromArray(np.pad(mask, [(p, p) for p in pad]).astype(np.float32))
    want = sitk.GetArrayFromImage(sitk.BinShrink(padded, list(block[::-1])))
    got = _block_means(mask, pad, np.asarray(block))
    assert got.shape == want.shape
    assert np.array_equal(got, want)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_lesions_moved_onto_the_later_box_are_a_full_nearest_neighbour_resample(seed: int) -> None:
    """Resampling only where the earlier lesions can land gives the whole box's answer, with
    lesions touching the box's faces and a turned, shifted, anisotropic later grid."""
    import SimpleITK as sitk

    from app.measure.tracking import Alignment, _earlier_on_later_grid

    rng = np.random.default_rng(seed)
    lesions = np.zeros((30, 40, 50), dtype=np.int32)
    lesions[0:6, 10:18, 20:30] = 1  # on the first slice
    lesions[12:20, 30:40, 40:50] = 2  # on two far faces
    lesions[20:24, 5:9, 5:9] = 3
    affine = np.array([[0, 0, 0.7, -10.0], [0, 0.8, 0, 5.0], [2.5, 0, 0, 30.0], [0, 0, 0, 1.0]])
    earlier = MeasuredMasks((40, 60, 70), (3, 4, 5), lesions, lesions > 0, None, affine)
    later_affine = affine.copy()
    later_affine[:3, :3] = affine[:3, :3] * [1.2, 0.9, 1.1]
    later = MeasuredMasks(
        (40, 60, 70),
        (2, 3, 1),
        np.zeros((32, 45, 52), np.int32),
        np.zeros((32, 45, 52), bool),
        None,
        later_affine,
    )
    angle = rng.uniform(-0.15, 0.15)
    turn = np.array(
        [[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]]
    )
    matrix = np.eye(4)
    matrix[:3, :3], matrix[:3, 3] = turn, rng.uniform(-6.0, 6.0, 3)
    alignment = Alignment(matrix, "tumour", 0.0)

    def image(array: np.ndarray, masks: MeasuredMasks) -> object:
        box = np.array(masks.affine, dtype=float)
        box[:3, 3] = box[:3, :3] @ np.asarray(masks.offset_zyx, float) + box[:3, 3]
        img = sitk.GetImageFromArray(array)
        spacing = np.linalg.norm(box[:3, :3], axis=0)[::-1]
        img.SetSpacing([float(v) for v in spacing])
        img.SetOrigin([float(v) for v in box[:3, 3]])
        img.SetDirection([float(v) for v in (box[:3, :3][:, ::-1] / spacing).ravel()])
        return img

    back = sitk.AffineTransform(3)
    inverse = np.linalg.inv(matrix)
    back.SetMatrix([float(v) for v in inverse[:3, :3].ravel()])
    back.SetTranslation([float(v) for v in inverse[:3, 3]])
    reference = image(np.zeros(later.lesions.shape, np.uint8), later)
    whole = sitk.Resample(
        image(lesions, earlier), reference, back, sitk.sitkNearestNeighbor, 0, sitk.sitkInt32
    )
    want = sitk.GetArrayFromImage(whole)
    got = _earlier_on_later_grid(earlier, later, alignment)
    assert set(np.unique(want)) >= {1, 2, 3}  # every lesion lands in the later box
    assert np.array_equal(got, want)

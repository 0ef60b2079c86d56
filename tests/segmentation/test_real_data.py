"""Accuracy on real CT pinned to what the method reaches (benchmarks/segmentation.py).

3D-IRCADb 1.17 has expert manual masks (README: liver 1860.623 mL incl. tumours; tumours 85.644
and 78.637 mL); the TotalSegmentator masks are model output (label 5 = liver). The reached
figures are pinned one Dice point (and one volume-percent point) below, so that a change that
loses accuracy fails here instead of passing silently. Seeds are chosen programmatically: the
deepest interior point of the liver mask, the centroid of each tumour.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage as ndi

import dicomio
from dicomio.labels import read_labels, read_mask
from segmentation import LiverParameters, segment_lesion, segment_lesion_from_line, segment_liver
from tests.segmentation._phantom import dice

IRCAD_LIVER_ML = 1860.623


def _deepest(mask: np.ndarray, spacing: tuple[float, float, float]) -> tuple[int, int, int]:
    dist = ndi.distance_transform_edt(np.pad(mask, 1), sampling=spacing)[1:-1, 1:-1, 1:-1]
    k, j, i = np.unravel_index(int(np.argmax(dist)), mask.shape)
    return int(k), int(j), int(i)


@pytest.fixture(scope="module")
def ircad(shared_data: Path) -> tuple[dicomio.ImageVolume, np.ndarray]:
    folder = shared_data / "3dircadb1.17-liver-tumors" / "nifti"
    volume = dicomio.read_series(folder / "ct.nii.gz")
    return volume, read_mask(folder / "liver.nii.gz", volume)


@pytest.mark.slow
def test_ircad_liver_from_one_click(ircad: tuple[dicomio.ImageVolume, np.ndarray]) -> None:
    """The liver from one click reaches Dice 0.93 and a volume within 3 % of the manual mask."""
    volume, liver = ircad
    assert volume.pixels is not None
    assert float(liver.sum()) * volume.geometry.voxel_volume_mm3 / 1000 == pytest.approx(
        IRCAD_LIVER_ML, abs=1e-3
    )
    result = segment_liver(
        volume.pixels, volume.spacing_zyx_mm, _deepest(liver, volume.spacing_zyx_mm)
    )
    error_pct = 100 * (result.volume_ml - IRCAD_LIVER_ML) / IRCAD_LIVER_ML
    assert dice(result.mask, liver) >= 0.9318 - 0.01  # reached 0.9318
    assert abs(error_pct) <= 2.01 + 0.99  # reached +2.01 % (goal: 3 %)


@pytest.mark.parametrize(
    ("number", "by_line", "reached"),
    [(1, False, 0.8040), (2, False, 0.8774), (1, True, 0.7856), (2, True, 0.8770)],
    ids=["tumour1-click", "tumour2-click", "tumour1-line", "tumour2-line"],
)
def test_ircad_tumour_with_manual_liver(
    shared_data: Path,
    ircad: tuple[dicomio.ImageVolume, np.ndarray],
    number: int,
    by_line: bool,
    reached: float,
) -> None:
    """Each tumour from a click at its centroid, or from its long-axis caliper, keeps its Dice."""
    volume, liver = ircad
    assert volume.pixels is not None
    sp = volume.spacing_zyx_mm
    folder = shared_data / "3dircadb1.17-liver-tumors" / "nifti"
    tumour = read_mask(folder / f"livertumor{number}.nii.gz", volume)
    if by_line:
        # The slice of the README's maximum axial diameter; its two farthest pixel centres.
        k = {1: 96, 2: 92}[number]
        pts = np.argwhere(tumour[k]) * np.asarray(sp[1:])
        hull = pts[ndi.binary_erosion(tumour[k])[tuple(np.argwhere(tumour[k]).T)] == 0]
        d2 = ((hull[:, None, :] - hull[None, :, :]) ** 2).sum(-1)
        a, b = np.unravel_index(int(np.argmax(d2)), d2.shape)
        assert np.sqrt(d2[a, b]) == pytest.approx({1: 64.99, 2: 77.56}[number], abs=0.01)
        start = np.r_[k, hull[a] / np.asarray(sp[1:])]
        end = np.r_[k, hull[b] / np.asarray(sp[1:])]
        result = segment_lesion_from_line(volume.pixels, sp, start, end, liver_mask=liver)
    else:
        centre = ndi.center_of_mass(tumour)
        result = segment_lesion(volume.pixels, sp, centre, liver_mask=liver)
    assert result.contrast.value == "hypodense"
    assert dice(result.mask, tumour) >= reached - 0.01


@pytest.mark.slow
def test_totalsegmentator_contrast_dicom_liver(shared_data: Path) -> None:
    """On the JPEG 2000 contrast CT slab the liver matches TotalSegmentator's (Dice 0.957)."""
    folder = shared_data / "totalsegmentator-example" / "ct_dicom_series"
    volume = dicomio.read_series(folder / "dicom")
    truth = read_labels(folder / "example_seg_dicom.nii.gz", volume).mask([5])
    assert volume.pixels is not None
    sp = volume.spacing_zyx_mm
    result = segment_liver(volume.pixels, sp, _deepest(truth, sp), LiverParameters())
    assert dice(result.mask, truth) >= 0.9567 - 0.01
    assert result.volume_ml == pytest.approx(699.440, rel=0.0118 + 0.01)


def test_totalsegmentator_non_contrast_liver_known_weakness(shared_data: Path) -> None:
    """Non-contrast CT (liver 45 HU like spleen and muscle) leaks: Dice 0.695 is pinned as is."""
    folder = shared_data / "totalsegmentator-example" / "ct_sm"
    volume = dicomio.read_series(folder / "example_ct_sm.nii.gz")
    truth = read_labels(folder / "example_seg.nii.gz", volume).mask([5])
    assert volume.pixels is not None
    sp = volume.spacing_zyx_mm
    result = segment_liver(
        volume.pixels, sp, _deepest(truth, sp), LiverParameters(min_volume_ml=100)
    )
    assert dice(result.mask, truth) >= 0.6954 - 0.01

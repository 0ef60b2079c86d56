"""Lesion tracking on real CT: 3D-IRCADb-01 patient 17 and a follow-up made from it.

The follow-up is the same CT placed elsewhere in patient space by a known rigid move (rotated
6 degrees, shifted by 38 mm: the patient lying differently), with tumour 1 eroded by 4 voxels and
tumour 2 dilated by 3 voxels (known changes, expert masks). Both tumours must be matched to the
right record lesion, carry the follow-up's own diameters, and give the RECIST response computed
by hand from those diameters. Reference figures: ../shared/data/3dircadb1.17-liver-tumors/README.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import ndimage

from app.measure.pipeline import MeasureRequest, measure_series
from app.measure.tracking import link_visits
from app.subjects.tracking import LesionRef, link_refs, propose_record
from recist import assess

IRCAD = "3dircadb1.17-liver-tumors/nifti"


def _rotation(axis: tuple[float, float, float], degrees: float) -> np.ndarray:
    k = np.asarray(axis, dtype=np.float64) / np.linalg.norm(axis)
    a = math.radians(degrees)
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + math.sin(a) * kx + (1 - math.cos(a)) * kx @ kx


def _write(
    array: np.ndarray, like: Any, path: Path, rotation: np.ndarray, shift: np.ndarray
) -> Path:
    import SimpleITK as sitk

    img = sitk.GetImageFromArray(array)
    img.SetSpacing(like.GetSpacing())
    direction = np.asarray(like.GetDirection()).reshape(3, 3)
    img.SetDirection(tuple((rotation @ direction).ravel()))
    img.SetOrigin(tuple(rotation @ np.asarray(like.GetOrigin()) + shift))
    sitk.WriteImage(img, str(path))
    return path


@pytest.fixture(scope="module")
def visits(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    import SimpleITK as sitk

    folder = shared_data / IRCAD
    out = tmp_path_factory.mktemp("ircad")
    ct = sitk.ReadImage(str(folder / "ct.nii.gz"))
    liver = sitk.GetArrayFromImage(sitk.ReadImage(str(folder / "liver.nii.gz"))) > 0
    t1 = sitk.GetArrayFromImage(sitk.ReadImage(str(folder / "livertumor1.nii.gz"))) > 0
    t2 = sitk.GetArrayFromImage(sitk.ReadImage(str(folder / "livertumor2.nii.gz"))) > 0
    t1_fu = ndimage.binary_erosion(t1, iterations=4)
    t2_fu = ndimage.binary_dilation(t2, iterations=3) & ~ndimage.binary_dilation(t1_fu)
    labels_fu = np.where(liver | t2_fu, 1, 0).astype(np.uint8)
    labels_fu[t1_fu | t2_fu] = 2
    rotation = _rotation((0.3, -0.2, 1.0), 6.0)
    shift = np.array([30.0, -18.0, 15.0])
    ct_fu = _write(sitk.GetArrayFromImage(ct), ct, out / "ct_fu.nii.gz", rotation, shift)
    lab_fu = _write(labels_fu, ct, out / "labels_fu.nii.gz", rotation, shift)
    base = measure_series(
        MeasureRequest(series=folder / "ct.nii.gz", labels=folder / "labels_liver1_tumor2.nii.gz")
    )
    fu = measure_series(MeasureRequest(series=ct_fu, labels=lab_fu))
    return {"base": base, "fu": fu, "t1": t1, "t2": t2, "t1_fu": t1_fu, "t2_fu": t2_fu}


def _which(masks: Any, truth: dict[str, np.ndarray]) -> dict[str, str]:
    """Measured lesion id -> the expert tumour ('t1'/'t2') it is, by its voxels."""
    numbers = masks.full_lesions()
    return {
        f"L{k}": max(truth, key=lambda name: int(np.count_nonzero(truth[name][numbers == k])))
        for k in range(1, masks.lesion_count + 1)
    }


def test_both_tumours_are_followed_to_their_follow_up_diameters(visits: dict[str, Any]) -> None:
    base, fu = visits["base"], visits["fu"]
    assert len(base.result.lesions) == 2 and len(fu.result.lesions) == 2
    # the baseline's diameters are the README's reference figures (pixel centres)
    long_axes = sorted(les.long_axis_mm for les in base.result.lesions)
    assert long_axes == pytest.approx([64.99, 77.56], abs=0.05)

    rows, base_readings, _ = propose_record(base.result.to_json(), base.masks)
    assert [(r.lesion_id, r.role, r.organ) for r in rows] == [
        ("T1", "target", "liver"),
        ("T2", "target", "liver"),
    ]
    base_of = _which(base.masks, {"t1": visits["t1"], "t2": visits["t2"]})
    fu_of = _which(fu.masks, {"t1": visits["t1_fu"], "t2": visits["t2_fu"]})
    refs = [LesionRef(_Rec(r.lesion_id, r.role), "base", r.measurement_lesion_id) for r in rows]
    readings: dict[str, Any] = {}
    link_refs(
        refs,
        {"base": (base.result.to_json(), base.masks)},
        fu.result.to_json(),
        fu.masks,
        readings,
        set(),
        True,
    )

    fu_size = {les.lesion_id: les.long_axis_mm for les in fu.result.lesions}
    for row in rows:
        reading = readings[row.lesion_id]
        assert reading.evidence["kind"] == "matched"
        assert fu_of[reading.source_lesion_id] == base_of[row.measurement_lesion_id]
        assert reading.diameter_mm == fu_size[reading.source_lesion_id]
        assert reading.evidence["distance_mm"] < 10.0
        assert reading.evidence["alignment"]["rotation_deg"] == pytest.approx(6.0, abs=1.0)

    # the response, computed by hand from the follow-up's own diameters of each tumour
    by_tumour = {fu_of[k]: v for k, v in fu_size.items()}
    base_by_tumour = {base_of[les.lesion_id]: les.long_axis_mm for les in base.result.lesions}
    change = sum(by_tumour.values()) / sum(base_by_tumour.values()) - 1.0
    expected = "PR" if change <= -0.30 else ("PD" if change >= 0.20 else "SD")
    doc = {
        "subject_id": "IRCAD17",
        "lesions": [
            {"lesion_id": r.lesion_id, "organ": "liver", "lymph_node": False, "role": r.role}
            for r in rows
        ],
        "timepoints": [
            {
                "date": "2009-05-27",
                "baseline": True,
                "measurements": [
                    {"lesion_id": r.lesion_id, "diameter_mm": r.diameter_mm} for r in base_readings
                ],
            },
            {
                "date": "2009-08-27",
                "baseline": False,
                "measurements": [
                    {"lesion_id": k, "diameter_mm": v.diameter_mm} for k, v in readings.items()
                ],
            },
        ],
    }
    result = assess(doc)
    assert result["timepoints"][1]["overall_response"] == expected
    assert result["timepoints"][1]["sum_mm"] == pytest.approx(sum(by_tumour.values()), abs=0.01)


class _Rec:
    def __init__(self, lesion_id: str, role: str) -> None:
        self.lesion_id, self.role, self.lymph_node = lesion_id, role, False
        self.organ = "liver"


def test_alignment_finds_the_known_move(visits: dict[str, Any]) -> None:
    tracked = link_visits(
        visits["base"].masks,
        visits["base"].result.to_json()["lesions"],
        visits["fu"].masks,
        visits["fu"].result.to_json()["lesions"],
    )
    assert tracked.alignment.organ == "liver"
    # the tumours help the alignment and, having changed on purpose, bias it a little
    assert tracked.alignment.rotation_deg == pytest.approx(6.0, abs=1.0)

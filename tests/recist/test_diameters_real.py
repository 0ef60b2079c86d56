"""Diameters on real lesion masks, pinned to the READMEs in ../shared/data.

SimpleITK is used here only to read the files; recist itself never imports it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage

from recist.diameters import measure_diameters, measure_lesions, slice_diameters

ABS = 5e-4  # the READMEs give 3 decimals


def _read(path: Path) -> tuple[np.ndarray, tuple[float, float, float]]:
    """Array (z, y, x) and spacing (z, y, x) of an image file."""
    image = sitk.ReadImage(str(path))
    sx, sy, sz = image.GetSpacing()
    return sitk.GetArrayFromImage(image), (sz, sy, sx)


PYRADIOMICS = {
    "lung1": {
        "voxels": 837,
        "long": 15.979,
        "slice": 34,
        "short": 9.942,
        "ends_xy": {(226, 349), (210, 372)},
        "per_slice": {32: 8.909, 33: 15.856, 34: 15.979},
    },
    "lung2": {
        "voxels": 24_644,
        "long": 55.247,
        "slice": 24,
        "short": 34.103,
        "ends_xy": {(325, 338), (403, 379)},
        "per_slice": {
            15: 35.648,
            16: 29.172,
            17: 34.248,
            18: 36.878,
            19: 38.449,
            20: 41.516,
            21: 44.408,
            22: 45.836,
            23: 47.686,
            24: 55.247,
            25: 30.302,
        },
    },
}


@pytest.mark.parametrize("case", sorted(PYRADIOMICS))
def test_pyradiomics_lung_tumour_diameters(shared_data: Path, case: str) -> None:
    """pyradiomics lung tumours: long axis, slice, endpoints and the hull-chord short axis."""
    ref = PYRADIOMICS[case]
    array, spacing = _read(shared_data / "pyradiomics-lung" / f"{case}_label.nrrd")
    mask = array > 0
    assert int(mask.sum()) == ref["voxels"]
    labels, n = ndimage.label(mask, structure=np.ones((3, 3, 3)))
    assert n == 1
    (d,) = measure_lesions(labels, n, spacing)
    assert d.long_axis_mm == pytest.approx(ref["long"], abs=ABS)
    assert d.slice_index == ref["slice"]
    assert d.short_axis_mm == pytest.approx(ref["short"], abs=ABS)
    assert {(int(c), int(r)) for r, c in d.long_axis_endpoints_rc} == ref["ends_xy"]
    assert d.is_measurable(5.0)


@pytest.mark.parametrize("case", sorted(PYRADIOMICS))
def test_pyradiomics_per_slice_long_axes(shared_data: Path, case: str) -> None:
    """pyradiomics lung tumours: every slice's centre-to-centre long axis as in the README."""
    ref = PYRADIOMICS[case]
    array, spacing = _read(shared_data / "pyradiomics-lung" / f"{case}_label.nrrd")
    mask = array > 0
    occupied = np.flatnonzero(mask.any(axis=(1, 2))).tolist()
    assert occupied == sorted(ref["per_slice"])
    got = {z: slice_diameters(mask[z], spacing[1:])[0] for z in occupied}
    assert got == {z: pytest.approx(v, abs=ABS) for z, v in ref["per_slice"].items()}


@pytest.mark.parametrize(
    ("name", "long_mm", "slice_index"),
    [
        pytest.param("livertumor1", 64.99, 96, id="tumour-1"),
        pytest.param("livertumor2", 77.56, 92, id="tumour-2"),
    ],
)
def test_ircadb_tumour_long_axes(
    shared_data: Path, name: str, long_mm: float, slice_index: int
) -> None:
    """3D-IRCADb patient 17: each tumour's long axis (pixel centres) and its slice."""
    array, spacing = _read(shared_data / "3dircadb1.17-liver-tumors" / "nifti" / f"{name}.nii.gz")
    mask = array > 0
    box = ndimage.find_objects(mask.astype(np.uint8))[0]
    d = measure_diameters(mask[box], spacing, offset_zyx=(box[0].start, box[1].start, box[2].start))
    assert d.long_axis_mm == pytest.approx(long_mm, abs=5e-3)  # README gives 2 decimals
    assert d.slice_index == slice_index
    assert d == measure_diameters(mask, spacing)
    assert 0 < d.short_axis_mm <= d.long_axis_mm
    assert d.is_measurable(1.6)

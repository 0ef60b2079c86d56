"""Volumes, components and burden on real data, pinned to the READMEs in ../shared/data.

SimpleITK is used here only to read the files; volumetrics itself never imports it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from volumetrics import BurdenResult, label_lesions, measure_burden, volume_ml

IRCADB = "3dircadb1.17-liver-tumors/nifti"
TOTALSEG = "totalsegmentator-example"


def _read(path: Path) -> tuple[np.ndarray, tuple[float, float, float]]:
    """Array (z, y, x) and spacing (z, y, x) of an image file."""
    image = sitk.ReadImage(str(path))
    sx, sy, sz = image.GetSpacing()
    return sitk.GetArrayFromImage(image), (sz, sy, sx)


@pytest.fixture(scope="module")
def ircadb(shared_data: Path) -> dict[str, np.ndarray | tuple[float, float, float]]:
    """The 3D-IRCADb patient 17 masks as boolean arrays, plus the label map and spacing."""
    folder = shared_data / IRCADB
    out: dict[str, np.ndarray | tuple[float, float, float]] = {}
    for name in ("liver", "livertumor1", "livertumor2", "labels_liver1_tumor2"):
        array, spacing = _read(folder / f"{name}.nii.gz")
        out[name] = array
        out["spacing"] = spacing
    return out


def _check_ircadb(result: BurdenResult) -> None:
    assert result.liver_voxels == 2_106_497
    assert result.tumor_voxels == 185_990
    assert result.liver_volume_ml == pytest.approx(1860.623, abs=5e-4)
    assert result.tumor_volume_ml == pytest.approx(164.281, abs=5e-4)
    assert result.burden_fraction == pytest.approx(0.08829, abs=5e-6)
    assert (result.burden_le_70pct, result.burden_gt_25pct) == (True, False)


def test_ircadb_liver_mask_including_tumours(ircadb: dict) -> None:
    """3D-IRCADb: the liver mask that includes its tumours gives the README's figures."""
    tumor = (ircadb["livertumor1"] > 0) | (ircadb["livertumor2"] > 0)
    result, labels = measure_burden(tumor, ircadb["liver"] > 0, ircadb["spacing"])
    _check_ircadb(result)
    assert len(result.lesions) == 2
    by_size = sorted(result.lesions, key=lambda lv: -lv.voxel_count)
    assert [lv.voxel_count for lv in by_size] == [96_961, 89_029]
    assert [lv.volume_ml for lv in by_size] == [
        pytest.approx(85.644, abs=5e-4),
        pytest.approx(78.637, abs=5e-4),
    ]
    np.testing.assert_array_equal(labels == by_size[0].label, ircadb["livertumor1"] > 0)
    assert by_size[0].bbox_zyx[0] == slice(84, 114)
    assert by_size[1].bbox_zyx[0] == slice(78, 106)


def test_ircadb_label_map_with_parenchyma_gives_the_same_figures(ircadb: dict) -> None:
    """3D-IRCADb: the LiTS-style label map (1 = parenchyma, 2 = tumour) gives the same figures."""
    labels_map = ircadb["labels_liver1_tumor2"]
    result, _ = measure_burden(labels_map == 2, labels_map == 1, ircadb["spacing"])
    _check_ircadb(result)
    assert sorted(lv.voxel_count for lv in result.lesions) == [89_029, 96_961]
    assert volume_ml(labels_map == 1, ircadb["spacing"]) == pytest.approx(1696.342, abs=5e-4)


def test_ircadb_lesions_given_separately(ircadb: dict) -> None:
    """3D-IRCADb: the two tumour masks given as separate lesions keep their own volumes."""
    masks = [ircadb["livertumor1"] > 0, ircadb["livertumor2"] > 0]
    result, _ = measure_burden(
        masks[0] | masks[1], ircadb["liver"], ircadb["spacing"], lesion_masks=masks
    )
    _check_ircadb(result)
    assert [(lv.label, lv.voxel_count) for lv in result.lesions] == [(1, 96_961), (2, 89_029)]
    assert result.lesions[0].volume_ml == pytest.approx(85.644, abs=5e-4)
    assert result.lesions[1].volume_ml == pytest.approx(78.637, abs=5e-4)


@pytest.mark.parametrize(
    ("relpath", "voxels", "volume", "components"),
    [
        pytest.param("ct_sm/example_seg.nii.gz", 38_634, 1043.118, [38_634], id="ct-total"),
        pytest.param(
            "ct_sm/example_seg_roi_subset.nii.gz", 38_631, 1043.037, [38_631], id="ct-roi-subset"
        ),
        pytest.param("mr_sm/example_seg_mr.nii.gz", 18_480, 498.960, [17_638, 842], id="mr-total"),
        pytest.param(
            "mr_sm/example_seg_roi_subset_mr.nii.gz",
            17_910,
            483.570,
            [17_289, 621],
            id="mr-roi-subset",
        ),
    ],
)
def test_totalsegmentator_liver_volumes(
    shared_data: Path, relpath: str, voxels: int, volume: float, components: list[int]
) -> None:
    """TotalSegmentator liver (label 5): volume and 26-connected components as in the README."""
    array, spacing = _read(shared_data / TOTALSEG / relpath)
    liver = array == 5
    result, _ = measure_burden(np.zeros_like(liver), liver, spacing)
    assert result.liver_voxels == voxels
    assert result.liver_volume_ml == pytest.approx(volume, abs=5e-4)
    assert result.burden_fraction == 0.0
    labels, n = label_lesions(liver)
    sizes = sorted(np.bincount(labels.ravel())[1:].tolist(), reverse=True)
    assert (n, sizes) == (len(components), components)


@pytest.mark.parametrize(
    ("case", "voxels", "volume_ml_ref"),
    [
        pytest.param("lung1", 837, 1.3612, id="lung1"),
        pytest.param("lung2", 24_644, 48.4341, id="lung2"),
    ],
)
def test_pyradiomics_lung_tumour_volumes(
    shared_data: Path, case: str, voxels: int, volume_ml_ref: float
) -> None:
    """pyradiomics lung tumours (no liver): one lesion, volume = voxels x stored spacing."""
    array, spacing = _read(shared_data / "pyradiomics-lung" / f"{case}_label.nrrd")
    result, labels = measure_burden(array > 0, None, spacing)
    assert result.tumor_voxels == voxels
    assert result.tumor_volume_ml == pytest.approx(volume_ml_ref, abs=5e-5)
    assert len(result.lesions) == 1
    assert result.lesions[0].voxel_count == voxels
    assert (result.liver_volume_ml, result.burden_fraction, result.burden_le_70pct) == (
        None,
        None,
        None,
    )
    assert int(labels.max()) == 1

"""The measurement pipeline on generated phantoms, against the generator's analytic truth.

Each case writes a small synthetic CT (DICOM) with its label map, runs the same
``run_measurement`` that ``liverburden measure``, the batch runner and the service call, and
compares every number with the truth computed independently by brute force in the generator.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLSLossless,
    RLELossless,
)

from app.measure.pipeline import MeasureRequest, run_measurement
from phantoms import (
    LesionSpec,
    PhantomSpec,
    make_phantom,
    write_dicom_series,
    write_label_nifti,
    write_seg,
)

SMALL = {
    "shape_zyx": (24, 72, 72),
    "liver_center_lps_mm": (0.0, 0.0, 0.0),
    "body_semi_axes_xy_mm": (200.0, 200.0),
}


def _spec(**kw: Any) -> PhantomSpec:
    return PhantomSpec(**{**SMALL, **kw})


def _measure(
    tmp: Path,
    spec: PhantomSpec,
    *,
    ts: str = ExplicitVRLittleEndian,
    seg: bool = False,
    labels_array: np.ndarray | None = None,
) -> tuple[dict[str, Any], Any]:
    phantom = make_phantom(spec)
    files = write_dicom_series(phantom, tmp / "ct", transfer_syntax=ts)
    if seg:
        labels = write_seg(phantom, files, tmp / "seg.dcm")
    else:
        labels = write_label_nifti(phantom, tmp / "labels.nii.gz", array=labels_array)
    out = run_measurement(MeasureRequest(series=tmp / "ct", labels=labels))
    return out, phantom


def _assert_matches_truth(out: dict[str, Any], truth: dict[str, Any]) -> None:
    assert out["liver_volume_ml"] == pytest.approx(truth["liver_volume_ml"], rel=1e-9)
    assert out["tumor_volume_ml"] == pytest.approx(truth["tumor_volume_ml"], rel=1e-9)
    assert out["burden_fraction"] == pytest.approx(truth["burden_fraction"], rel=1e-9)
    assert len(out["lesions"]) == len(truth["lesions"])
    for got, want in zip(out["lesions"], truth["lesions"], strict=True):
        assert got["volume_ml"] == pytest.approx(want["volume_ml"], rel=1e-9)
        assert got["long_axis_mm"] == pytest.approx(want["long_axis_mm"], abs=1e-6)
        lo, hi = want["short_axis_range_mm"]
        assert lo - 1e-6 <= got["short_axis_mm"] <= hi + 1e-6
        assert got["slice_index"] in want["slices_with_long_axis"]
        assert got["measurable"] is want["measurable"]


GEOMETRIES = [
    pytest.param(
        {
            "spacing_zyx_mm": (2.5, 1.5, 1.5),
            "lesions": (
                LesionSpec((10.0, 5.0, 0.0), (12.0, 9.0, 8.0)),
                LesionSpec((-25.0, -20.0, 5.0), (4.0, 4.0, 4.0)),
            ),
        },
        id="axial-2.5mm-two-lesions",
    ),
    pytest.param(
        {
            "spacing_zyx_mm": (5.0, 1.1, 0.7),
            "lesions": (LesionSpec((0.0, 0.0, 0.0), (11.0, 7.0, 10.0)),),
        },
        id="anisotropic-in-plane-0.7x1.1-5mm",
    ),
    pytest.param(
        {
            "shape_zyx": (12, 72, 72),
            "spacing_zyx_mm": (7.0, 2.0, 2.0),
            "lesions": (
                LesionSpec((-20.0, 0.0, 0.0), (6.5, 6.5, 8.0)),
                LesionSpec((25.0, 5.0, 0.0), (11.0, 8.0, 8.0)),
            ),
        },
        id="thick-7mm-slices-measurability",
    ),
    pytest.param(
        {
            "spacing_zyx_mm": (3.0, 2.0, 2.0),
            "orientation": ((0.8660254037844387, 0.5, 0.0), (-0.5, 0.8660254037844387, 0.0)),
            "lesions": (LesionSpec((5.0, 5.0, 0.0), (10.0, 6.0, 7.0)),),
        },
        id="oblique-30deg-in-plane",
    ),
]


@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_phantom_geometries_match_truth(tmp_path: Path, geometry: dict[str, Any]) -> None:
    """Volumes, burden, diameters and measurability equal the generator's truth on each grid."""
    out, phantom = _measure(tmp_path, _spec(**geometry))
    _assert_matches_truth(out, phantom.truth)
    assert out["series"]["spacing_mm"] == pytest.approx(list(phantom.spec.spacing_zyx_mm))


def test_thick_slices_apply_the_twice_thickness_rule(tmp_path: Path) -> None:
    """RECIST 1.1 §3.1.1: on 7 mm slices a lesion must reach 14 mm to be measurable."""
    geometry = GEOMETRIES[2].values[0]
    out, _ = _measure(tmp_path, _spec(**geometry))
    small = [les for les in out["lesions"] if les["long_axis_mm"] < 14.0]
    big = [les for les in out["lesions"] if les["long_axis_mm"] >= 14.0]
    assert small and big
    assert all(les["long_axis_mm"] >= 10.0 for les in small)  # measurable on thin slices...
    assert not any(les["measurable"] for les in small)  # ...but not on 7 mm slices
    assert all(les["measurable"] for les in big)


@pytest.mark.parametrize(
    "ts",
    [
        ImplicitVRLittleEndian,
        DeflatedExplicitVRLittleEndian,
        ExplicitVRBigEndian,
        RLELossless,
        JPEGLSLossless,
        JPEG2000Lossless,
    ],
    ids=["implicit", "deflate", "big-endian", "rle", "jpeg-ls", "jpeg2000"],
)
def test_transfer_syntaxes_give_identical_results(tmp_path: Path, ts: str) -> None:
    """The encoding of the series changes nothing in the numbers."""
    spec = _spec(
        spacing_zyx_mm=(2.5, 1.5, 1.5), lesions=(LesionSpec((0.0, 0.0, 0.0), (9.0, 7.0, 6.0)),)
    )
    out, phantom = _measure(tmp_path, spec, ts=ts)
    _assert_matches_truth(out, phantom.truth)


def test_seg_and_labelmap_agree_with_truth(tmp_path: Path) -> None:
    """A DICOM SEG with one segment per lesion gives the truth, lesions kept as given."""
    spec = _spec(
        spacing_zyx_mm=(2.5, 1.5, 1.5),
        lesions=(
            LesionSpec((12.0, 0.0, 0.0), (8.0, 6.0, 6.0)),
            LesionSpec((-15.0, 10.0, 0.0), (5.0, 5.0, 5.0)),
        ),
    )
    out, phantom = _measure(tmp_path, spec, seg=True)
    _assert_matches_truth(out, phantom.truth)
    assert sorted(les["segment"] for les in out["lesions"]) == ["Tumor 1", "Tumor 2"]


@pytest.mark.parametrize(
    ("second_offset", "lesions"),
    [((3, 3, 3), 1), ((3, 3, 0), 1), ((3, 0, 0), 1), ((4, 0, 0), 2)],
    ids=["corner-touch", "edge-touch", "face-touch", "one-voxel-gap"],
)
def test_lesions_touching_diagonally_are_one(
    tmp_path: Path, second_offset: tuple[int, int, int], lesions: int
) -> None:
    """Lesions are 26-connected components: touching only at a corner or an edge makes one."""
    spec = _spec(spacing_zyx_mm=(2.5, 1.5, 1.5), lesions=())
    phantom = make_phantom(spec)
    labels = np.array(phantom.labels)
    k, j, i = 10, 30, 30
    labels[k : k + 3, j : j + 3, i : i + 3] = 2
    dk, dj, di = second_offset
    labels[k + dk : k + dk + 3, j + dj : j + dj + 3, i + di : i + di + 3] = 2
    out, _ = _measure(tmp_path, spec, labels_array=labels)
    assert len(out["lesions"]) == lesions
    assert out["tumor_voxels"] == int(np.count_nonzero(labels == 2))


def test_liver_mask_conventions_agree(tmp_path: Path) -> None:
    """Liver masks with and without their tumours give the same total liver volume and burden."""
    spec = _spec(
        spacing_zyx_mm=(2.5, 1.5, 1.5), lesions=(LesionSpec((0.0, 0.0, 0.0), (10.0, 8.0, 8.0)),)
    )
    phantom = make_phantom(spec)
    write_dicom_series(phantom, tmp_path / "ct")
    liver_excl = write_label_nifti(
        phantom, tmp_path / "liver_excl.nii.gz", array=(phantom.labels == 1).astype(np.uint8)
    )
    liver_incl = write_label_nifti(
        phantom, tmp_path / "liver_incl.nii.gz", array=(phantom.labels > 0).astype(np.uint8)
    )
    tumor = write_label_nifti(
        phantom, tmp_path / "tumor.nii.gz", array=(phantom.labels == 2).astype(np.uint8)
    )
    a = run_measurement(
        MeasureRequest(series=tmp_path / "ct", liver_mask=liver_excl, tumor_masks=(tumor,))
    )
    b = run_measurement(
        MeasureRequest(series=tmp_path / "ct", liver_mask=liver_incl, tumor_masks=(tumor,))
    )
    assert (
        a["liver_volume_ml"]
        == b["liver_volume_ml"]
        == pytest.approx(phantom.truth["liver_volume_ml"])
    )
    assert a["burden_fraction"] == b["burden_fraction"]


def test_result_records_input_hashes_and_version(tmp_path: Path) -> None:
    """A result names its inputs' hashes and the algorithm version; a changed file changes them."""
    spec = _spec(spacing_zyx_mm=(2.5, 1.5, 1.5), lesions=(LesionSpec((0.0, 0.0, 0.0), (6, 6, 6)),))
    out, phantom = _measure(tmp_path, spec)
    inputs = out["inputs"]
    assert len(inputs["series_sha256"]) == 64 and inputs["series_files"] == spec.shape_zyx[0]
    assert len(inputs["labels_sha256"]) == 1
    assert out["algorithm_version"]
    labels = np.array(phantom.labels)
    labels[0, 0, 0] = 1
    write_label_nifti(phantom, tmp_path / "labels.nii.gz", array=labels)
    again = run_measurement(
        MeasureRequest(series=tmp_path / "ct", labels=tmp_path / "labels.nii.gz")
    )
    assert again["inputs"]["series_sha256"] == inputs["series_sha256"]
    assert again["inputs"]["input_sha256"] != inputs["input_sha256"]


def test_missing_slice_inside_the_labelled_box_still_bridges_a_lesion(tmp_path: Path) -> None:
    """The pipeline measures inside the labelled box; a missing slice inside it is mapped there.

    A 9-slice cube lesion (slices 8-16, no liver) whose middle slice (12) was never acquired: one
    lesion of 8 x 100 voxels, reported in grid coordinates, not two lesions, and no error.
    """
    phantom = make_phantom(_spec())
    files = write_dicom_series(phantom, tmp_path / "ct")
    assert len(files) == 24
    files[12].unlink()  # the file of slice 12 (files are written in slice order)
    arr = np.zeros(phantom.spec.shape_zyx, dtype=np.uint8)
    arr[8:17, 30:40, 30:40] = 2
    arr[12] = 0  # nothing can be labelled on a slice that was not acquired
    labels = write_label_nifti(phantom, tmp_path / "labels.nii.gz", array=arr)
    out = run_measurement(MeasureRequest(series=tmp_path / "ct", labels=labels, liver_label="none"))
    assert out["series"]["missing_slices"] == [12]
    assert out["lesion_count"] == 1
    (lesion,) = out["lesions"]
    assert lesion["voxels"] == 8 * 100
    assert 8 <= lesion["slice_index"] <= 16 and lesion["slice_index"] != 12
    rows = [p[0] for p in lesion["long_axis_endpoints_rc"]]
    cols = [p[1] for p in lesion["long_axis_endpoints_rc"]]
    assert min(rows) >= 30 and max(rows) <= 39 and min(cols) >= 30 and max(cols) <= 39

"""``liverburden measure`` end to end: the contract's JSON on real and synthetic data.

Reference figures come from each ``../shared/data`` folder's README; the sample's from its truth
file written by the generator.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SAMPLE_DICOM

CLI = [sys.executable, "-m", "app.cli"]


def run_cli(*args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [*CLI, *map(str, args)], capture_output=True, text=True, timeout=300, check=False
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}: {proc.stderr}")
    return proc


def measure_json(*args: str | Path) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(run_cli("measure", *args, "--json").stdout)
    return out


def test_sample_seg_matches_generator_truth() -> None:
    """The bundled sample measured through its DICOM SEG equals the generator's analytic truth."""
    truth = json.loads((SAMPLE_DICOM / "truth.json").read_text())
    out = measure_json("--series", SAMPLE_DICOM / "ct", "--labels", SAMPLE_DICOM / "seg.dcm")
    assert out["liver_volume_ml"] == pytest.approx(truth["liver_volume_ml"], abs=1e-3)
    assert out["tumor_volume_ml"] == pytest.approx(truth["tumor_volume_ml"], abs=1e-3)
    assert out["burden_fraction"] == pytest.approx(truth["burden_fraction"], abs=1e-5)
    got = sorted((les["long_axis_mm"], les["short_axis_mm"]) for les in out["lesions"])
    want = sorted((les["long_axis_mm"], les["short_axis_mm"]) for les in truth["lesions"])
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g == pytest.approx(w, abs=1e-3)
    assert [les["lesion_id"] for les in out["lesions"]] == [
        f"L{i}" for i in range(1, len(out["lesions"]) + 1)
    ]
    longs = [les["long_axis_mm"] for les in out["lesions"]]
    assert longs == sorted(longs, reverse=True)


def test_sample_labelmap_and_seg_agree() -> None:
    """The NIfTI label map and the DICOM SEG of the sample give the same volumes and diameters."""
    a = measure_json("--series", SAMPLE_DICOM / "ct", "--labels", SAMPLE_DICOM / "labels.nii.gz")
    b = measure_json("--series", SAMPLE_DICOM / "ct", "--labels", SAMPLE_DICOM / "seg.dcm")
    assert a["liver_volume_ml"] == pytest.approx(b["liver_volume_ml"], abs=1e-9)
    assert a["tumor_volume_ml"] == pytest.approx(b["tumor_volume_ml"], abs=1e-9)
    assert [x["long_axis_mm"] for x in a["lesions"]] == pytest.approx(
        [x["long_axis_mm"] for x in b["lesions"]]
    )


def test_contract_keys_present() -> None:
    """The JSON has every key that contracts/measure.md requires, with the documented types."""
    out = measure_json("--series", SAMPLE_DICOM / "ct", "--labels", SAMPLE_DICOM / "labels.nii.gz")
    assert set(out) >= {
        "series",
        "liver_volume_ml",
        "tumor_volume_ml",
        "burden_fraction",
        "eligibility",
        "lesions",
        "algorithm_version",
    }
    assert set(out["series"]) >= {
        "series_instance_uid",
        "modality",
        "slices",
        "spacing_mm",
        "slice_thickness_mm",
    }
    assert len(out["series"]["spacing_mm"]) == 3
    assert set(out["eligibility"]) >= {
        "burden_le_70pct",
        "burden_gt_25pct",
        "measurable_liver_lesion",
    }
    for les in out["lesions"]:
        assert set(les) >= {
            "lesion_id",
            "volume_ml",
            "long_axis_mm",
            "short_axis_mm",
            "slice_index",
            "measurable",
        }
        assert isinstance(les["long_axis_mm"], float)


IRCAD = "3dircadb1.17-liver-tumors/nifti"


def _check_ircad(out: dict[str, Any]) -> None:
    assert out["liver_volume_ml"] == pytest.approx(1860.623, abs=1e-3)
    assert out["tumor_volume_ml"] == pytest.approx(164.281, abs=1e-3)
    assert out["burden_fraction"] == pytest.approx(0.08829, abs=5e-6)
    assert out["eligibility"] == {
        **out["eligibility"],
        "burden_le_70pct": True,
        "burden_gt_25pct": False,
        "measurable_liver_lesion": True,
    }
    les = out["lesions"]
    assert len(les) == 2
    assert les[0]["long_axis_mm"] == pytest.approx(77.56, abs=5e-3)
    assert les[0]["volume_ml"] == pytest.approx(78.637, abs=1e-3)
    assert les[0]["slice_index"] == 92
    assert les[1]["long_axis_mm"] == pytest.approx(64.99, abs=5e-3)
    assert les[1]["volume_ml"] == pytest.approx(85.644, abs=1e-3)
    assert les[1]["slice_index"] == 96


def test_ircadb_labelmap_matches_reference(shared_data: Path) -> None:
    """3D-IRCADb label map (liver parenchyma 1, tumour 2) reproduces the README's figures."""
    d = shared_data / IRCAD
    _check_ircad(
        measure_json("--series", d / "ct.nii.gz", "--labels", d / "labels_liver1_tumor2.nii.gz")
    )


def test_ircadb_separate_masks_liver_including_tumours(shared_data: Path) -> None:
    """3D-IRCADb with a liver mask that includes its tumours gives the same figures."""
    d = shared_data / IRCAD
    _check_ircad(
        measure_json(
            "--series",
            d / "ct.nii.gz",
            "--liver-mask",
            d / "liver.nii.gz",
            "--tumor-mask",
            d / "livertumor1.nii.gz",
            "--tumor-mask",
            d / "livertumor2.nii.gz",
        )
    )


@pytest.mark.parametrize(
    ("case", "volume_ml", "long_mm", "short_mm"),
    [("lung1", 1.3612, 15.979, 9.942), ("lung2", 48.4341, 55.247, 34.103)],
    ids=["lung1", "lung2"],
)
def test_pyradiomics_lung_tumour_without_liver(
    shared_data: Path, case: str, volume_ml: float, long_mm: float, short_mm: float
) -> None:
    """A tumour of another organ with --liver-label none: README diameters, no burden."""
    d = shared_data / "pyradiomics-lung"
    out = measure_json(
        "--series",
        d / f"{case}_image.nrrd",
        "--labels",
        d / f"{case}_label.nrrd",
        "--liver-label",
        "none",
        "--tumor-label",
        "1",
    )
    assert out["liver_volume_ml"] is None
    assert out["burden_fraction"] is None
    assert out["eligibility"]["burden_le_70pct"] is None
    assert out["tumor_volume_ml"] == pytest.approx(volume_ml, abs=1e-4)
    (les,) = out["lesions"]
    assert les["long_axis_mm"] == pytest.approx(long_mm, abs=1e-3)
    assert les["short_axis_mm"] == pytest.approx(short_mm, abs=1e-3)
    assert les["measurable"] is True


def test_dcmqi_liver_seg_uses_slice_spacing_not_thickness(shared_data: Path) -> None:
    """dcmqi liver SEG on 3 CT slices: 70.362 mL (1.0 mm spacing, not 1.25 mm thickness)."""
    d = shared_data / "dcmqi-liver-seg/segmentations"
    out = measure_json(
        "--series", d / "ct-3slice", "--labels", d / "liver.dcm", "--tumor-label", "none"
    )
    assert out["liver_volume_ml"] == pytest.approx(70.362, abs=1e-3)
    assert out["tumor_volume_ml"] == 0.0
    assert out["burden_fraction"] == 0.0
    assert out["lesions"] == []
    assert out["series"]["slice_thickness_mm"] == pytest.approx(1.25)
    assert out["series"]["spacing_mm"][0] == pytest.approx(1.0)


def test_totalsegmentator_jpeg2000_series_with_flipped_mask(shared_data: Path) -> None:
    """The y-flipped NIfTI mask lands on the JPEG 2000 series by position: 699.440 mL of liver."""
    d = shared_data / "totalsegmentator-example/ct_dicom_series"
    out = measure_json(
        "--series",
        d / "dicom",
        "--labels",
        d / "example_seg_dicom.nii.gz",
        "--liver-label",
        "5",
        "--tumor-label",
        "none",
    )
    assert out["liver_volume_ml"] == pytest.approx(699.440, abs=1e-3)
    assert out["series"]["spacing_mm"][0] == pytest.approx(2.0)
    assert out["series"]["slice_thickness_mm"] == pytest.approx(3.0)


@pytest.mark.parametrize(
    ("roi", "volume_ml"),
    [("aorta", 4.9810), ("heart_myocardium", 21.6261), ("lung_lower_lobe_right", 179.1799)],
    ids=["aorta", "myocardium-with-hole", "lung-lobe-two-contours"],
)
def test_aide_rtstruct_roi_volumes(shared_data: Path, roi: str, volume_ml: float) -> None:
    """RTSTRUCT ROIs on the AIDE series (a missing slice) give the README's method-A volumes."""
    d = shared_data / "totalsegmentator-aide-rtstruct"
    out = measure_json(
        "--series",
        d / "dcm",
        "--labels",
        d / "rtstruct/rt-struct-test-data-81-100.dcm",
        "--liver-label",
        "none",
        "--tumor-label",
        roi,
    )
    assert out["tumor_volume_ml"] == pytest.approx(volume_ml, abs=1e-3)
    assert out["series"]["spacing_mm"][0] == pytest.approx(0.8, abs=1e-3)
    assert out["series"]["missing_slices"] == [1]


def test_aide_aorta_is_one_lesion_across_the_missing_slice(shared_data: Path) -> None:
    """A structure crossing a missing (never acquired) slice stays one 26-connected lesion."""
    d = shared_data / "totalsegmentator-aide-rtstruct"
    out = measure_json(
        "--series",
        d / "dcm",
        "--labels",
        d / "rtstruct/rt-struct-test-data-81-100.dcm",
        "--liver-label",
        "none",
        "--tumor-label",
        "aorta",
    )
    assert len(out["lesions"]) == 1
    assert out["lesions"][0]["voxels"] == 13347


def test_dicom_zip_input_gives_same_result(tmp_path: Path) -> None:
    """A zip of the sample series measures exactly like the folder."""
    import zipfile

    zpath = tmp_path / "series.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for f in sorted((SAMPLE_DICOM / "ct").iterdir()):
            zf.write(f, arcname=f"study/{f.name}")
    a = measure_json("--series", zpath, "--labels", SAMPLE_DICOM / "labels.nii.gz")
    b = measure_json("--series", SAMPLE_DICOM / "ct", "--labels", SAMPLE_DICOM / "labels.nii.gz")
    assert a["tumor_volume_ml"] == b["tumor_volume_ml"]
    assert a["lesions"] == b["lesions"]


def test_text_output_is_human_readable() -> None:
    """Without --json the command prints a readable summary with volumes and lesions."""
    proc = run_cli(
        "measure", "--series", SAMPLE_DICOM / "ct", "--labels", SAMPLE_DICOM / "labels.nii.gz"
    )
    assert "liver" in proc.stdout and "mL" in proc.stdout and "L1" in proc.stdout

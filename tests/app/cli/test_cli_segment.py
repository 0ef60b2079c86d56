"""``liverburden segment`` (contracts/segment.md): LPS seeds, label map or DICOM SEG out, exit 2."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import SimpleITK
from typer.testing import CliRunner

import dicomio
from app.cli.segment import app
from dicomio.labels import read_labels, read_mask
from dicomio.labelwrite import write_label_image
from tests.conftest import SAMPLE_DICOM
from tests.segmentation._phantom import dice, make_phantom

#: SimpleITK has no type hints; an Any-typed handle keeps mypy --strict quiet.
sitk: Any = SimpleITK

CT = SAMPLE_DICOM / "ct"
TRUTH = json.loads((SAMPLE_DICOM / "truth.json").read_text(encoding="utf-8"))
#: Deepest point of the sample liver, and the centre of lesion L1, in LPS mm.
LIVER_SEED = "-51.75,-3.75,-1.25"
L1_SEED = ",".join(str(v) for v in TRUTH["lesions"][0]["center_lps_mm"])


@pytest.fixture(scope="module")
def sample() -> tuple[dicomio.ImageVolume, np.ndarray, np.ndarray]:
    volume = dicomio.read_series(CT)
    labels = read_labels(SAMPLE_DICOM / "labels.nii.gz", volume)
    return volume, labels.mask([1, 2]), labels.mask([2])


def _run(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


def _l1(volume: dicomio.ImageVolume, tumours: np.ndarray) -> np.ndarray:
    from scipy import ndimage as ndi

    labels, _ = ndi.label(tumours)
    k, j, i = np.floor(volume.geometry.lps_to_index(TRUTH["lesions"][0]["center_lps_mm"]) + 0.5)
    return np.asarray(labels == labels[int(k), int(j), int(i)])


def test_liver_to_nifti(
    tmp_path: Path, sample: tuple[dicomio.ImageVolume, np.ndarray, np.ndarray]
) -> None:
    """A click in the sample liver writes a 0/1 NIfTI on the series grid matching the truth."""
    volume, liver, _ = sample
    out = tmp_path / "liver.nii.gz"
    code, stdout, stderr = _run("liver", "--series", CT, "--seed", LIVER_SEED, "--out", out)
    assert code == 0, stderr
    assert "liver" in stdout and "mL" in stdout
    image = sitk.ReadImage(str(out))
    assert set(np.unique(sitk.GetArrayFromImage(image))) == {0, 1}
    assert dice(read_mask(out, volume), liver) >= 0.98
    assert dicomio.read_series(out).geometry.same_grid(volume.geometry)


@pytest.fixture(scope="module")
def liver_seg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample liver written as a DICOM SEG by the command (once per module)."""
    out = tmp_path_factory.mktemp("seg") / "liver.dcm"
    code, _, stderr = _run("liver", "--series", CT, "--seed", LIVER_SEED, "--out", out)
    assert code == 0, stderr
    return out


def test_liver_to_dicom_seg(
    liver_seg: Path, sample: tuple[dicomio.ImageVolume, np.ndarray, np.ndarray]
) -> None:
    """With ``.dcm`` the liver is a DICOM SEG referencing the series, read back on its grid."""
    volume, liver, _ = sample
    seg = read_labels(liver_seg, volume)
    assert [s.name for s in seg.segments] == ["Liver"]
    assert dice(seg.mask([seg.segments[0].number]), liver) >= 0.98


@pytest.mark.parametrize(
    "liver_kind", ["nifti", "seg", "none"], ids=["liver-nifti", "liver-seg", "no-liver"]
)
def test_lesion_from_seed(
    tmp_path: Path,
    sample: tuple[dicomio.ImageVolume, np.ndarray, np.ndarray],
    liver_seg: Path,
    liver_kind: str,
) -> None:
    """A click at L1's centre segments L1, with a NIfTI or SEG liver mask or none."""
    volume, liver, tumours = sample
    args: list[str | Path] = []
    if liver_kind == "nifti":
        write_label_image(liver, volume.geometry, tmp_path / "liver.nii.gz")
        args = ["--liver", tmp_path / "liver.nii.gz"]
    elif liver_kind == "seg":
        args = ["--liver", liver_seg]
    out = tmp_path / "lesion.nrrd"
    code, stdout, stderr = _run("lesion", "--series", CT, "--seed", L1_SEED, *args, "--out", out)
    assert code == 0, stderr
    assert "hypodense" in stdout
    assert dice(read_mask(out, volume), _l1(volume, tumours)) >= 0.95


def test_lesion_from_line_to_seg(
    tmp_path: Path, sample: tuple[dicomio.ImageVolume, np.ndarray, np.ndarray]
) -> None:
    """L1's long-axis caliper (truth end points) gives L1 as a one-segment DICOM SEG."""
    volume, _, tumours = sample
    lesion = TRUTH["lesions"][0]
    k = lesion["slice_index"]
    sy, sx = volume.spacing_zyx_mm[1:]
    ends = [
        volume.geometry.index_to_lps([k, r / sy, c / sx])
        for r, c in lesion["long_axis_endpoints_rc_mm"]
    ]
    line = ":".join(",".join(f"{v:.4f}" for v in p) for p in ends)
    out = tmp_path / "lesion.dcm"
    code, _, stderr = _run("lesion", "--series", CT, "--line", line, "--out", out)
    assert code == 0, stderr
    seg = read_labels(out, volume)
    assert [s.name for s in seg.segments] == ["L1"]
    assert dice(seg.mask([seg.segments[0].number]), _l1(volume, tumours)) >= 0.95


def test_nifti_seed_in_lps_respects_a_flipped_grid(tmp_path: Path) -> None:
    """On a RAS-stored NIfTI the LPS seed SimpleITK reports lands on the lesion, and the output
    label map has the input's geometry (so a y-flip is never silently mirrored)."""
    ph = make_phantom()
    image = sitk.GetImageFromArray(ph.image)
    image.SetSpacing(tuple(reversed(ph.spacing)))
    image.SetDirection((-1.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 1.0))
    image.SetOrigin((100.0, 120.0, -60.0))
    sitk.WriteImage(image, str(tmp_path / "ct.nii.gz"))
    k, j, i = ph.lesion_centre
    seed = image.TransformIndexToPhysicalPoint((i, j, k))
    out = tmp_path / "lesion.nii.gz"
    code, _, stderr = _run(
        "lesion",
        "--series",
        tmp_path / "ct.nii.gz",
        "--seed",
        ",".join(map(str, seed)),
        "--out",
        out,
    )
    assert code == 0, stderr
    written = sitk.ReadImage(str(out))
    assert written.GetDirection() == pytest.approx(image.GetDirection())
    assert written.GetOrigin() == pytest.approx(image.GetOrigin())
    assert dice(sitk.GetArrayFromImage(written).astype(bool), ph.lesion) >= 0.98


def _assert_clean_failure(code: int, stdout: str, stderr: str, needle: str) -> None:
    assert code == 2, (code, stderr)
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in stderr
    assert needle.lower() in lines[0].lower(), lines[0]
    assert stdout == ""


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["liver", "--seed", "-500,0,0"], "outside the image"),
        (["liver", "--seed", "-185,-185,0"], "outside the body"),
        (["liver", "--seed", "12,34"], "X,Y,Z"),
        (["liver", "--seed", "a,b,c"], "X,Y,Z"),
        (["lesion"], "exactly one of --seed"),
        (["lesion", "--seed", L1_SEED, "--line", "0,0,0:1,1,1"], "exactly one of --seed"),
        (["lesion", "--line", "0,0,0"], "X1,Y1,Z1:X2,Y2,Z2"),
        (["lesion", "--seed", LIVER_SEED], "no lesion edge found"),
        (["lesion", "--seed", L1_SEED, "--liver", "{tmp}/missing.nii.gz"], "missing.nii.gz"),
    ],
    ids=[
        "seed-outside-image",
        "seed-in-air",
        "two-coordinates",
        "not-numbers",
        "no-seed-no-line",
        "seed-and-line",
        "line-one-point",
        "click-in-liver-without-mask",
        "missing-liver-file",
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path: Path, args: list[str], needle: str) -> None:
    """Bad seeds, lines and files end with exit status 2 and one ``error:`` line."""
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    code, stdout, stderr = _run(*args, "--series", CT, "--out", tmp_path / "out.nii.gz")
    _assert_clean_failure(code, stdout, stderr, needle)
    assert not (tmp_path / "out.nii.gz").exists()


def test_bad_outputs_exit_2(tmp_path: Path) -> None:
    """An unknown output type, or a SEG for a NIfTI series, is refused before any work."""
    code, stdout, stderr = _run(
        "liver", "--series", CT, "--seed", LIVER_SEED, "--out", tmp_path / "x.png"
    )
    _assert_clean_failure(code, stdout, stderr, ".nii.gz")
    write_label_image(np.zeros((4, 5, 6)), _grid(), tmp_path / "img.nii.gz")
    code, stdout, stderr = _run(
        "liver", "--series", tmp_path / "img.nii.gz", "--seed", "0,0,0", "--out", tmp_path / "x.dcm"
    )
    _assert_clean_failure(code, stdout, stderr, "needs a DICOM series")


def test_implausible_liver_exits_2(tmp_path: Path) -> None:
    """A click in the body (not the liver) grows an implausible organ: exit 2 with the range."""
    ph = make_phantom()
    image = sitk.GetImageFromArray(ph.image)
    image.SetSpacing(tuple(reversed(ph.spacing)))
    sitk.WriteImage(image, str(tmp_path / "ct.nii.gz"))
    k, j, i = ph.body_point
    seed = image.TransformIndexToPhysicalPoint((i, j, k))
    code, stdout, stderr = _run(
        "liver",
        "--series",
        tmp_path / "ct.nii.gz",
        "--seed",
        ",".join(map(str, seed)),
        "--out",
        tmp_path / "x.nii.gz",
    )
    _assert_clean_failure(code, stdout, stderr, "expected 500 to 5000 mL")


def _grid() -> dicomio.Geometry:
    """A 4x5x6 grid of 2 mm slices along z and 1 mm pixels (affine columns: k, j, i steps)."""
    affine = np.eye(4)
    affine[:3, :3] = [[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [2.0, 0.0, 0.0]]
    return dicomio.Geometry((4, 5, 6), affine)


@pytest.mark.parametrize(
    "affine_cols",
    [
        [[0, 0, 2.5], [0, -0.8, 0], [-0.8, 0, 0]],
        [[0, 0, 3.0], [0.7, 0, 0], [0, 0.7, 0]],
    ],
    ids=["flipped-x-y", "rows-along-x"],
)
def test_label_writer_round_trip(tmp_path: Path, affine_cols: list[list[float]]) -> None:
    """write_label_image keeps the grid: reading it back gives the same geometry and voxels."""
    affine = np.eye(4)
    affine[:3, :3] = np.asarray(affine_cols, dtype=float)
    affine[:3, 3] = (10.0, -20.0, 30.0)
    geometry = dicomio.Geometry((4, 5, 6), affine)
    mask = np.zeros((4, 5, 6), dtype=bool)
    mask[1, 2, 3] = mask[3, 0, 5] = True
    out = tmp_path / "m.nii.gz"
    write_label_image(mask, geometry, out)
    back = dicomio.read_series(out)
    assert back.geometry.same_grid(geometry, tol_mm=1e-4)
    assert back.pixels is not None
    assert np.array_equal(np.asarray(back.pixels) != 0, mask)

"""The synthetic-study generator: geometry, values, truth, DICOM/NIfTI/SEG output, the sample."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import highdicom as hd
import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLSLossless,
    RLELossless,
)

from dicomio.model import Phase
from phantoms import (
    SAMPLE_SPEC,
    LesionSpec,
    Phantom,
    PhantomSpec,
    main,
    make_phantom,
    phantom_uids,
    write_dicom_series,
    write_label_nifti,
    write_multiframe,
    write_seg,
)
from phantoms.truth import slice_diameters
from tests.conftest import SAMPLE_DICOM

OBLIQUE = ((0.8, 0.6, 0.0), (0.0, 0.0, -1.0))
SMALL = PhantomSpec(
    shape_zyx=(12, 64, 64),
    spacing_zyx_mm=(3.0, 2.0, 2.0),
    liver_center_lps_mm=(0.0, 0.0, 0.0),
    liver_semi_axes_mm=(40.0, 30.0, 12.0),
    lesions=(
        LesionSpec((10.0, 4.0, 1.5), (9.0, 7.0, 5.0)),
        LesionSpec((-20.0, -10.0, -1.5), (4.0, 4.0, 4.0), hu=150.0),
    ),
    body_semi_axes_xy_mm=(55.0, 50.0),
    noise_sigma=0.0,
    seed=3,
)


def _hu(ds: pydicom.Dataset) -> np.ndarray[Any, np.dtype[np.int32]]:
    arr = ds.pixel_array.astype(np.int32)
    return arr * int(ds.get("RescaleSlope", 1)) + int(ds.get("RescaleIntercept", 0))


@pytest.fixture(scope="module")
def small() -> Phantom:
    return make_phantom(SMALL)


@pytest.fixture(scope="module")
def small_series(small: Phantom, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return write_dicom_series(small, tmp_path_factory.mktemp("small"))


# --- truth of one slice (brute force, independent of the product) -------------------------------


def _pixels(rows_cols: list[tuple[int, int]]) -> np.ndarray[Any, np.dtype[np.bool_]]:
    mask = np.zeros((8, 8), dtype=bool)
    for r, c in rows_cols:
        mask[r, c] = True
    return mask


SQUARE = [(r, c) for r in range(3) for c in range(3)]
DIAMOND = [(r, c) for r in range(5) for c in range(5) if abs(r - 2) + abs(c - 2) <= 2]
TRIANGLE = [(r, c) for r in range(5) for c in range(5) if r >= c]


@pytest.mark.parametrize(
    ("cells", "spacing", "long_mm", "short_mm"),
    [
        ([(3, 3)], (1.0, 1.0), 0.0, 0.0),
        ([(2, c) for c in range(5)], (1.0, 2.0), 8.0, 0.0),
        ([(r, 1) for r in range(3)], (0.5, 3.0), 1.0, 0.0),
        (SQUARE, (1.0, 1.0), 2 * math.sqrt(2), 2 * math.sqrt(2)),
        (DIAMOND, (1.0, 1.0), 4.0, 4.0),
        (TRIANGLE, (1.0, 1.0), 4 * math.sqrt(2), 2 * math.sqrt(2)),
        ([(0, 0), (0, 4), (2, 2)], (1.0, 1.0), 4.0, 2.0),
    ],
    ids=[
        "one-pixel",
        "row-anisotropic",
        "column-anisotropic",
        "square",
        "diamond-tied",
        "right-triangle",
        "sparse-triangle",
    ],
)
def test_slice_diameters_of_known_shapes(
    cells: list[tuple[int, int]], spacing: tuple[float, float], long_mm: float, short_mm: float
) -> None:
    """Long axis: max distance of pixel centres; short axis: longest perpendicular chord."""
    d = slice_diameters(_pixels(cells), spacing)
    assert d.long_axis_mm == pytest.approx(long_mm, abs=1e-9)
    assert d.short_axis_mm == pytest.approx(short_mm, abs=1e-9)
    assert d.short_axis_range_mm == pytest.approx((short_mm, short_mm), abs=1e-9)


# --- the phantom itself -------------------------------------------------------------------------


def test_truth_volumes_are_voxel_counts_times_voxel_volume(small: Phantom) -> None:
    """Liver (incl. tumours), tumour and lesion volumes are voxel counts x voxel volume."""
    voxel_ml = 3.0 * 2.0 * 2.0 / 1000.0
    t = small.truth
    assert set(np.unique(small.labels)) == {0, 1, 2}
    assert np.array_equal(small.labels == 2, small.lesion_index > 0)
    assert t["liver_volume_ml"] == pytest.approx(np.count_nonzero(small.labels) * voxel_ml)
    assert t["tumor_volume_ml"] == pytest.approx(np.count_nonzero(small.labels == 2) * voxel_ml)
    assert t["burden_fraction"] == pytest.approx(t["tumor_volume_ml"] / t["liver_volume_ml"])
    for lesion in t["lesions"]:
        count = np.count_nonzero(small.lesion_index == lesion["spec_index"])
        assert lesion["voxel_count"] == count
        assert lesion["volume_ml"] == pytest.approx(count * voxel_ml)
    assert sum(x["volume_ml"] for x in t["lesions"]) == pytest.approx(t["tumor_volume_ml"])


def test_sample_volumes_approach_the_analytic_ellipsoids() -> None:
    """Voxelised volumes of the sample's liver and large lesion are within 2 % of 4/3 pi abc."""
    truth = json.loads((SAMPLE_DICOM / "truth.json").read_text())
    assert truth["liver_volume_ml"] == pytest.approx(truth["liver_analytic_volume_ml"], rel=0.02)
    big = truth["lesions"][0]
    assert big["volume_ml"] == pytest.approx(big["analytic_volume_ml"], rel=0.02)


def test_lesions_are_ordered_and_named_like_the_measure_output(small: Phantom) -> None:
    """Lesions are sorted by long axis, largest first, with ids L1, L2, ...."""
    lesions = small.truth["lesions"]
    assert [x["lesion_id"] for x in lesions] == ["L1", "L2"]
    assert lesions[0]["long_axis_mm"] >= lesions[1]["long_axis_mm"]


@pytest.mark.parametrize(
    ("thickness_mm", "semi_axis_mm", "measurable"),
    [(2.5, 4.0, False), (2.5, 7.0, True), (7.0, 6.0, False), (7.0, 8.0, True)],
    ids=["thin-small", "thin-large", "thick-under-2x", "thick-over-2x"],
)
def test_truth_measurability_follows_recist(
    thickness_mm: float, semi_axis_mm: float, measurable: bool
) -> None:
    """A lesion is measurable at >= 10 mm, and >= 2x the slice thickness above 5 mm."""
    spec = PhantomSpec(
        shape_zyx=(9, 49, 49),
        spacing_zyx_mm=(thickness_mm, 1.0, 1.0),
        liver_center_lps_mm=(0.0, 0.0, 0.0),
        liver_semi_axes_mm=(20.0, 20.0, 20.0),
        lesions=(LesionSpec((0.0, 0.0, 0.0), (semi_axis_mm, semi_axis_mm, 3.0)),),
        noise_sigma=0.0,
    )
    lesion = make_phantom(spec).truth["lesions"][0]
    assert lesion["long_axis_mm"] == pytest.approx(2 * semi_axis_mm)
    assert lesion["measurable"] is measurable


@pytest.mark.parametrize(
    "lesions",
    [
        (
            LesionSpec((0.0, 0.0, 0.0), (5.0, 5.0, 5.0)),
            LesionSpec((6.0, 0.0, 0.0), (5.0, 5.0, 5.0)),
        ),
        (
            LesionSpec((0.0, 0.0, 0.0), (3.0, 3.0, 3.0)),
            LesionSpec((6.0, 6.0, 0.0), (3.0, 3.0, 3.0)),
        ),
        (LesionSpec((500.0, 0.0, 0.0), (3.0, 3.0, 3.0)),),
    ],
    ids=["overlapping", "touching-diagonally", "outside-grid"],
)
def test_lesions_that_would_merge_or_vanish_are_refused(lesions: tuple[LesionSpec, ...]) -> None:
    """Lesions must stay separate 26-connected components with at least one voxel each."""
    spec = PhantomSpec(
        shape_zyx=(9, 33, 33),
        spacing_zyx_mm=(2.0, 2.0, 2.0),
        liver_center_lps_mm=(0.0, 0.0, 0.0),
        liver_semi_axes_mm=(25.0, 25.0, 8.0),
        lesions=lesions,
        noise_sigma=0.0,
    )
    with pytest.raises(ValueError, match="lesion"):
        make_phantom(spec)


def test_generation_is_deterministic_and_seeded() -> None:
    """Same spec, same voxels; another series number changes the noise and series UID only."""
    a, b = make_phantom(SAMPLE_SPEC), make_phantom(SAMPLE_SPEC)
    assert np.array_equal(a.hu, b.hu)
    other = PhantomSpec(
        **{**{f: getattr(SAMPLE_SPEC, f) for f in SAMPLE_SPEC.__slots__}, "series_number": 2}
    )
    c = make_phantom(other)
    assert not np.array_equal(a.hu, c.hu)
    assert np.array_equal(a.labels, c.labels)
    ua, uc = phantom_uids(SAMPLE_SPEC), phantom_uids(other)
    assert (ua.study, ua.frame_of_reference) == (uc.study, uc.frame_of_reference)
    assert ua.series != uc.series


def test_noise_has_the_requested_sigma() -> None:
    """Liver voxels of the sample have mean 100 HU and standard deviation near 10 HU."""
    p = make_phantom(SAMPLE_SPEC)
    liver = p.hu[p.labels == 1].astype(np.float64)
    assert liver.mean() == pytest.approx(100.0, abs=0.2)
    assert liver.std() == pytest.approx(10.0, rel=0.03)


# --- DICOM series -------------------------------------------------------------------------------


@pytest.mark.parametrize("orientation", [SMALL.orientation, OBLIQUE], ids=["axial", "oblique"])
def test_positions_step_by_the_spacing_along_the_normal(
    orientation: tuple[tuple[float, float, float], tuple[float, float, float]], tmp_path: Path
) -> None:
    """Slice k sits at origin + k x spacing x (row x column cosines); plane tags as specified."""
    spec = PhantomSpec(
        **{
            **{f: getattr(SMALL, f) for f in SMALL.__slots__},
            "orientation": orientation,
            "origin_lps_mm": (10.0, -20.0, 30.0),
            "lesions": (),
        }
    )
    files = write_dicom_series(make_phantom(spec), tmp_path)
    normal = np.cross(orientation[0], orientation[1])
    for k, f in enumerate(files):
        ds = pydicom.dcmread(f, stop_before_pixels=True)
        expected = np.array([10.0, -20.0, 30.0]) + k * 3.0 * normal
        assert np.allclose(np.asarray(ds.ImagePositionPatient, float), expected, atol=1e-6)
        assert np.allclose(
            np.asarray(ds.ImageOrientationPatient, float), [*orientation[0], *orientation[1]]
        )
        assert [float(v) for v in ds.PixelSpacing] == [2.0, 2.0]
        assert float(ds.SliceThickness) == 3.0
        assert ds.InstanceNumber == k + 1


def test_sitk_reads_the_geometry_of_the_affine(tmp_path: Path) -> None:
    """An independent reader (SimpleITK) finds the phantom's origin, spacing and directions."""
    spec = PhantomSpec(
        **{**{f: getattr(SMALL, f) for f in SMALL.__slots__}, "orientation": OBLIQUE}
    )
    p = make_phantom(spec)
    files = write_dicom_series(p, tmp_path)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames([str(f) for f in files])
    image = reader.Execute()
    assert np.allclose(image.GetOrigin(), p.affine[:3, 3], atol=1e-5)
    assert np.allclose(image.GetSpacing(), (2.0, 2.0, 3.0))
    direction = np.asarray(image.GetDirection()).reshape(3, 3)
    assert np.allclose(direction, p.affine[:3, [2, 1, 0]] / [2.0, 2.0, 3.0], atol=1e-6)
    assert np.array_equal(sitk.GetArrayFromImage(image), p.hu)


def test_hu_values_where_expected(small: Phantom, small_series: list[Path]) -> None:
    """Without noise: air -1000, body 40, liver 100, lesions 60 or their own value."""
    t = small.truth
    hu = np.stack([_hu(pydicom.dcmread(f)) for f in small_series])
    assert np.array_equal(hu, small.hu)
    geo = np.linalg.inv(small.affine)

    def at(lps: tuple[float, float, float]) -> int:
        k, j, i = np.rint(geo[:3, :3] @ np.asarray(lps) + geo[:3, 3]).astype(int)
        return int(hu[k, j, i])

    assert hu[0, 0, 0] == -1000
    assert at((-50.0, 0.0, 1.5)) == 40
    assert at((0.0, 20.0, 1.5)) == 100
    assert at((10.0, 4.0, 1.5)) == 60
    assert at((-20.0, -10.0, -1.5)) == 150
    assert t["series"]["series_instance_uid"] == pydicom.dcmread(small_series[0]).SeriesInstanceUID


@pytest.mark.parametrize(
    "transfer_syntax",
    [
        ImplicitVRLittleEndian,
        ExplicitVRLittleEndian,
        DeflatedExplicitVRLittleEndian,
        ExplicitVRBigEndian,
        RLELossless,
        JPEGLSLossless,
        JPEG2000Lossless,
    ],
    ids=lambda uid: str(uid.name),
)
@pytest.mark.parametrize("signed", [False, True], ids=["unsigned", "signed"])
def test_every_transfer_syntax_round_trips(
    transfer_syntax: pydicom.uid.UID, signed: bool, tmp_path: Path
) -> None:
    """Each supported transfer syntax decodes back to the phantom's HU, signed or unsigned."""
    spec = PhantomSpec(
        shape_zyx=(3, 32, 32),
        spacing_zyx_mm=(2.0, 4.0, 4.0),
        liver_center_lps_mm=(0.0, 0.0, 0.0),
        liver_semi_axes_mm=(30.0, 30.0, 4.0),
    )
    p = make_phantom(spec)
    files = write_dicom_series(p, tmp_path, transfer_syntax=transfer_syntax, signed=signed)
    for k, f in enumerate(files):
        ds = pydicom.dcmread(f)
        assert ds.file_meta.TransferSyntaxUID == transfer_syntax
        assert ds.PixelRepresentation == int(signed)
        assert np.array_equal(_hu(ds), p.hu[k])


@pytest.mark.parametrize(
    ("phase", "agent"),
    [
        (Phase.NON_CONTRAST, False),
        (Phase.ARTERIAL, True),
        (Phase.PORTAL_VENOUS, True),
        (Phase.DELAYED, True),
    ],
    ids=lambda v: str(v),
)
def test_phase_sets_contrast_tags_and_acquisition_order(
    phase: Phase, agent: bool, tmp_path: Path
) -> None:
    """Contrast phases carry the bolus agent and start time; acquisition times follow the phase."""
    spec = PhantomSpec(
        shape_zyx=(1, 16, 16),
        liver_center_lps_mm=(0.0, 0.0, 0.0),
        liver_semi_axes_mm=(10.0, 10.0, 10.0),
        phase=phase,
    )
    ds = pydicom.dcmread(write_dicom_series(make_phantom(spec), tmp_path)[0])
    assert ("ContrastBolusAgent" in ds) is agent
    assert ("ContrastBolusStartTime" in ds) is agent
    order = [Phase.NON_CONTRAST, Phase.ARTERIAL, Phase.PORTAL_VENOUS, Phase.DELAYED]
    assert ds.AcquisitionTime == ["095500", "100035", "100110", "100300"][order.index(phase)]
    assert ds.SeriesDescription == "PHANTOM LIVER " + phase.replace("_", " ").upper()
    assert ds.PatientName == "PHANTOM^LIVER"


def test_mr_is_written_as_mr_without_rescale(tmp_path: Path) -> None:
    """An MR phantom is MR Image Storage, stored as the signal, with no rescale."""
    spec = PhantomSpec(
        shape_zyx=(2, 16, 16),
        modality="MR",
        liver_center_lps_mm=(0.0, 0.0, 0.0),
        liver_semi_axes_mm=(10.0, 10.0, 10.0),
        noise_sigma=0.0,
    )
    p = make_phantom(spec)
    ds = pydicom.dcmread(write_dicom_series(p, tmp_path)[0])
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.4"
    assert "RescaleIntercept" not in ds
    assert np.array_equal(ds.pixel_array, p.hu[0])
    assert int(ds.pixel_array.max()) == 500


def test_multiframe_holds_every_slice(
    small: Phantom, small_series: list[Path], tmp_path: Path
) -> None:
    """The legacy converted multi-frame CT has one frame per slice, each with its slice's HU."""
    ds = pydicom.dcmread(write_multiframe(small, small_series, tmp_path / "mf.dcm"))
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.2.2"
    frames = ds.pixel_array.astype(np.int32) - 1024
    z0 = small.affine[2, 3]
    for f, group in enumerate(ds.PerFrameFunctionalGroupsSequence):
        z = float(group.PlanePositionSequence[0].ImagePositionPatient[2])
        assert np.array_equal(frames[f], small.hu[round((z - z0) / 3.0)])


# --- labels: NIfTI and SEG ----------------------------------------------------------------------


def test_nifti_labels_share_the_series_geometry(
    small: Phantom, small_series: list[Path], tmp_path: Path
) -> None:
    """The label NIfTI read back by SimpleITK lies on the DICOM series' grid, same labels."""
    labels = sitk.ReadImage(str(write_label_nifti(small, tmp_path / "labels.nii.gz")))
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames([str(f) for f in small_series])
    image = reader.Execute()
    assert np.allclose(labels.GetOrigin(), image.GetOrigin(), atol=1e-4)
    assert np.allclose(labels.GetDirection(), image.GetDirection(), atol=1e-6)
    assert np.allclose(labels.GetSpacing(), image.GetSpacing())
    assert np.array_equal(sitk.GetArrayFromImage(labels), small.labels)


@pytest.mark.parametrize(
    ("includes", "single"),
    [(True, False), (False, False), (False, True)],
    ids=["liver-includes-tumours", "liver-parenchyma", "single-tumour-segment"],
)
def test_seg_segments_match_the_truth(
    small: Phantom, small_series: list[Path], tmp_path: Path, includes: bool, single: bool
) -> None:
    """SEG segments reference the series and hold the liver and lesions' voxels."""
    path = write_seg(
        small,
        small_series,
        tmp_path / "seg.dcm",
        liver_includes_tumors=includes,
        single_tumor_segment=single,
    )
    seg = hd.seg.segread(path)
    labels = [d.SegmentLabel for d in seg.SegmentSequence]
    assert labels == (["Liver", "Tumor"] if single else ["Liver", "Tumor 1", "Tumor 2"])
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == phantom_uids(SMALL).series
    sop_order = [pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID for f in small_series]
    masks = seg.get_pixels_by_source_instance(sop_order, ignore_spatial_locations=True)
    liver = small.labels > 0 if includes else small.labels == 1
    assert np.array_equal(masks[..., 0] > 0, liver)
    if single:
        assert np.array_equal(masks[..., 1] > 0, small.labels == 2)
    else:
        for n, lesion in enumerate(small.truth["lesions"], start=1):
            assert np.count_nonzero(masks[..., n]) == lesion["voxel_count"]


# --- the bundled sample -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fresh_sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sample")
    assert main([str(out)]) == 0
    return out


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _files(root: Path) -> list[str]:
    return sorted(
        str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and p.name != "README.md"
    )


def test_committed_sample_equals_a_fresh_regeneration(fresh_sample: Path) -> None:
    """sample_dicom/ holds exactly what `python -m phantoms` writes (tags and pixels)."""
    assert _files(SAMPLE_DICOM) == _files(fresh_sample)
    assert (SAMPLE_DICOM / "truth.json").read_bytes() == (fresh_sample / "truth.json").read_bytes()
    old = sitk.GetArrayFromImage(sitk.ReadImage(str(SAMPLE_DICOM / "labels.nii.gz")))
    new = sitk.GetArrayFromImage(sitk.ReadImage(str(fresh_sample / "labels.nii.gz")))
    assert np.array_equal(old, new)
    for name in _files(SAMPLE_DICOM):
        if name.endswith(".dcm"):
            a, b = pydicom.dcmread(SAMPLE_DICOM / name), pydicom.dcmread(fresh_sample / name)
            assert np.array_equal(a.pixel_array, b.pixel_array), name
            for ds in (a, b):
                del ds.PixelData
                ds.pop("ContributingEquipmentSequence", None)  # names the highdicom version
            assert a == b, name


def test_sample_is_byte_reproducible(fresh_sample: Path, tmp_path: Path) -> None:
    """Two regenerations give byte-identical files (no clock, no random UIDs)."""
    assert main([str(tmp_path)]) == 0
    for name in _files(fresh_sample):
        assert _sha(fresh_sample / name) == _sha(tmp_path / name), name


def test_sample_is_small_and_has_the_intended_lesions() -> None:
    """The sample is under 5 MB with a >= 30 mm, a ~15 mm and a non-measurable lesion."""
    size = sum((SAMPLE_DICOM / n).stat().st_size for n in _files(SAMPLE_DICOM))
    assert size < 5_000_000
    truth = json.loads((SAMPLE_DICOM / "truth.json").read_text())
    l1, l2, l3 = truth["lesions"]
    assert l1["long_axis_mm"] >= 30.0 and 12.0 <= l2["long_axis_mm"] <= 18.0
    assert (l1["measurable"], l2["measurable"], l3["measurable"]) == (True, True, False)
    assert 0.01 < truth["burden_fraction"] < 0.05
    for lesion in truth["lesions"]:
        assert lesion["slices_with_long_axis"] == [lesion["slice_index"]]
        lo, hi = lesion["short_axis_range_mm"]
        assert hi - lo < 1e-9


def test_sample_truth_matches_its_files() -> None:
    """truth.json agrees with the voxel counts of labels.nii.gz and the CT series' UID and size."""
    truth = json.loads((SAMPLE_DICOM / "truth.json").read_text())
    labels = sitk.GetArrayFromImage(sitk.ReadImage(str(SAMPLE_DICOM / "labels.nii.gz")))
    voxel_ml = math.prod(truth["series"]["spacing_mm"]) / 1000.0
    assert truth["liver_volume_ml"] == pytest.approx(np.count_nonzero(labels) * voxel_ml)
    assert truth["tumor_volume_ml"] == pytest.approx(np.count_nonzero(labels == 2) * voxel_ml)
    files = sorted((SAMPLE_DICOM / "ct").glob("*.dcm"))
    assert len(files) == truth["series"]["slices"] == labels.shape[0]
    ds = pydicom.dcmread(files[0], stop_before_pixels=True)
    assert ds.SeriesInstanceUID == truth["series"]["series_instance_uid"]
    assert ds.file_meta.TransferSyntaxUID == JPEGLSLossless

"""read_series on the real data in ../shared/data, pinned to each folder's README figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import SimpleITK as sitk
from pydicom import dcmread

from dicomio import GeometryError, read_series
from dicomio._sitk_image import sitk_geometry

IRCAD = "3dircadb1.17-liver-tumors"
DCMQI = "dcmqi-liver-seg/segmentations"
TSEG = "totalsegmentator-example/ct_dicom_series/dicom"
AIDE = "totalsegmentator-aide-rtstruct/dcm"


def _sitk_series(folder: Path) -> Any:
    reader: Any = getattr(sitk, "ImageSeriesReader")()  # noqa: B009 - untyped library
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    return reader.Execute()


def test_ircadb_two_original_slices_match_nifti(shared_data: Path) -> None:
    """The 2 IRCAD slices (no extension, no FoR UID) give 1.6 x 0.743 mm and the NIfTI's HU."""
    vol = read_series(shared_data / IRCAD / "dicom-original-sample/PATIENT_DICOM")
    assert vol.geometry.shape_zyx == (2, 512, 512)
    assert vol.spacing_zyx_mm == pytest.approx((1.6, 0.743, 0.743), abs=1e-6)
    assert vol.info.slice_thickness_mm == pytest.approx(1.6)
    assert vol.info.frame_of_reference_uid is None
    nii = read_series(shared_data / IRCAD / "nifti/ct.nii.gz")
    assert nii.pixels is not None and vol.pixels is not None
    assert np.array_equal(vol.pixels, nii.pixels[95:97])
    assert vol.geometry.index_to_lps([0, 0, 0]) == pytest.approx(
        nii.geometry.index_to_lps([95, 0, 0]), abs=1e-4
    )


def test_ircadb_nifti_header_only(shared_data: Path) -> None:
    """ct.nii.gz read with pixels=False gives 119 slices of 1.6 x 0.743 x 0.743 mm, no pixels."""
    vol = read_series(shared_data / IRCAD / "nifti/ct.nii.gz", pixels=False)
    assert vol.pixels is None
    assert vol.geometry.shape_zyx == (119, 512, 512)
    assert vol.spacing_zyx_mm == pytest.approx((1.6, 0.743, 0.743), abs=1e-6)
    assert vol.info.source_format == "nifti"
    assert len(vol.info.file_sha256) == 1


def test_dcmqi_three_slices_spacing_not_thickness(shared_data: Path) -> None:
    """ct-3slice: spacing 1.0 mm (thickness 1.25), +z from -128.69, same grid as the NRRD."""
    vol = read_series(shared_data / DCMQI / "ct-3slice")
    assert vol.spacing_zyx_mm == pytest.approx((1.0, 0.810547, 0.810547), abs=1e-6)
    assert vol.info.slice_thickness_mm == pytest.approx(1.25)
    assert vol.geometry.directions[:, 0] == pytest.approx([0, 0, 1])
    assert vol.geometry.origin_lps_mm[2] == pytest.approx(-128.69)
    files = [shared_data / DCMQI / "ct-3slice" / f for f in ("03.dcm", "02.dcm", "01.dcm")]
    assert vol.info.sop_instance_uids == tuple(str(dcmread(f).SOPInstanceUID) for f in files)
    nrrd = read_series(shared_data / DCMQI / "liver_seg.nrrd", pixels=False)
    assert vol.geometry.same_grid(nrrd.geometry)


def test_totalsegmentator_jpeg2000_series_with_empty_uids(shared_data: Path) -> None:
    """20 JPEG 2000 slices with empty UIDs: one series, 2.0 mm spacing, thickness 3.0, SITK HU."""
    folder = shared_data / TSEG
    vol = read_series(folder)
    assert vol.geometry.shape_zyx == (20, 512, 512)
    assert vol.spacing_zyx_mm == pytest.approx((2.0, 0.9765625, 0.9765625), abs=1e-6)
    assert vol.info.slice_thickness_mm == pytest.approx(3.0)
    assert vol.info.series_instance_uid is None
    assert all(uid.startswith("1.") for uid in vol.info.sop_instance_uids)
    assert len(set(vol.info.sop_instance_uids)) == 20
    ref = _sitk_series(folder)
    assert vol.geometry.same_grid(sitk_geometry(ref))
    assert vol.pixels is not None and vol.pixels.dtype == np.int16
    assert np.array_equal(vol.pixels, sitk.GetArrayFromImage(ref))


def test_aide_missing_slice_gives_21_slice_grid(shared_data: Path) -> None:
    """AIDE: InstanceNumber 82 is missing -> 21 slices of 0.8 mm, slot 1 empty, rest in z order."""
    folder = shared_data / AIDE
    vol = read_series(folder)
    assert vol.geometry.shape_zyx == (21, 512, 512)
    assert vol.spacing_zyx_mm[0] == pytest.approx(0.8, abs=1e-3)
    assert vol.info.missing_slices == (1,)
    assert vol.geometry.origin_lps_mm[2] == pytest.approx(-821.001)
    assert vol.pixels is not None
    assert int(vol.pixels[1].max()) == -1024
    by_z = sorted(
        (dcmread(f) for f in folder.iterdir()), key=lambda d: float(d.ImagePositionPatient[2])
    )
    kept = [k for k in range(21) if k != 1]
    for k, ds in zip(kept, by_z, strict=True):
        assert vol.info.sop_instance_uids[k] == str(ds.SOPInstanceUID)
    assert np.array_equal(vol.pixels[kept[5]], by_z[5].pixel_array)
    assert vol.info.file_sha256 and len(vol.info.file_sha256) == 20


def test_gantry_tilt_variable_spacing_refused(shared_data: Path) -> None:
    """The GE gantry-tilt series (gaps 1.08 to 7.0 mm along the normal) is refused."""
    with pytest.raises(GeometryError, match=r"spacing varies from 1\.08 to 7 mm"):
        read_series(shared_data / "dcm-qa-ct-gantry-tilt/GE", pixels=False)


def test_oblique_anisotropic_series_matches_simpleitk(shared_data: Path) -> None:
    """rt-utils oriented_data: the oblique affine and the rescaled values equal SimpleITK's."""
    folder = shared_data / "rt-utils-testdata/oriented_data"
    vol = read_series(folder)
    ref = _sitk_series(folder)
    assert vol.geometry.same_grid(sitk_geometry(ref), tol_mm=1e-4)
    assert vol.spacing_zyx_mm[1:] == pytest.approx((3.5, 2.5))
    assert vol.pixels is not None and vol.pixels.dtype == np.float32
    assert np.allclose(vol.pixels, sitk.GetArrayFromImage(ref), atol=1e-4)
    first = dcmread(folder / "0.dcm")
    ipps = [dcmread(f).ImagePositionPatient for f in sorted(folder.glob("*.dcm"))]
    assert any(
        vol.geometry.index_to_lps([0, 0, 0]) == pytest.approx([float(v) for v in p]) for p in ipps
    )
    assert first.ImageOrientationPatient is not None


@pytest.mark.parametrize("size", ["23x38x3", "24x38x3"])
def test_legacy_multiframe_equals_single_frames(shared_data: Path, size: str) -> None:
    """A Legacy Converted Enhanced CT has the grid and pixels of its single-frame source."""
    mf = read_series(shared_data / DCMQI / size / "multiframe/mf.dcm")
    sf = read_series(shared_data / DCMQI / size / "image")
    assert mf.geometry.same_grid(sf.geometry)
    assert mf.pixels is not None and sf.pixels is not None
    assert np.array_equal(mf.pixels, sf.pixels)
    assert mf.info.sop_instance_uids == ()


def test_enhanced_ct_two_frames(shared_data: Path) -> None:
    """eCT_Supplemental: geometry from functional groups, 2 frames 10 mm apart, HU."""
    vol = read_series(shared_data / "pydicom-data/ct/eCT_Supplemental.dcm")
    assert vol.geometry.shape_zyx == (2, 512, 512)
    assert vol.spacing_zyx_mm == pytest.approx((10.0, 0.388672, 0.388672), abs=1e-6)
    assert vol.pixels is not None and vol.pixels.dtype == np.int16


def test_enhanced_mr_without_frame_positions_refused(shared_data: Path) -> None:
    """emri_small has no per-frame functional groups: refused, not stacked at a guess."""
    with pytest.raises(GeometryError, match="per-frame plane position"):
        read_series(shared_data / "pydicom-data/mr/emri_small.dcm", pixels=False)


def test_series_without_uid_selectable_by_derived_key(shared_data: Path) -> None:
    """A series whose UID is empty can be chosen by the derived key that discover() lists."""
    from dicomio import discover

    folder = shared_data / TSEG
    (summary,) = discover(folder)
    vol = read_series(folder, summary.key, pixels=False)
    assert vol.geometry.shape_zyx == (20, 512, 512)
    assert any(summary.key in w for w in vol.info.warnings)


def test_sample_series_info() -> None:
    """The bundled sample carries study, frame of reference, phase, thickness and 60 hashes."""
    from tests.conftest import SAMPLE_DICOM

    info = read_series(SAMPLE_DICOM / "ct", pixels=False).info
    assert info.study_instance_uid and info.frame_of_reference_uid and info.series_instance_uid
    assert info.modality == "CT" and info.instance_count == 60
    assert info.slice_thickness_mm == pytest.approx(2.5)
    assert len(info.file_sha256) == 60 and len(info.sop_instance_uids) == 60
    assert info.missing_slices == () and info.warnings == ()

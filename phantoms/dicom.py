"""Write a phantom as DICOM (single-frame CT/MR series, legacy multi-frame, SEG) and NIfTI/NRRD.

Every byte is reproducible: UIDs come from the spec's seed, dates and times are fixed, and the
file meta names this generator, not the installed pydicom version.

References
----------
DICOM PS3.3 A.3 (CT Image IOD), A.4 (MR Image IOD), A.51 (Segmentation IOD), C.7.6.2 (Image
Plane Module), C.7.6.4 (Contrast/Bolus Module); PS3.5 Annex B (UID encoding; 2.25 UUID form) and
8.2 (encapsulated transfer syntaxes); PS3.10 7.1 (File Meta Information).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pydicom
import SimpleITK as sitk
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.pixels.encoders.base import RLELosslessEncoder
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from dicomio.model import Phase
from phantoms.uids import PhantomUids, name_uid, phantom_uids

if TYPE_CHECKING:
    from phantoms.model import Phantom
    from phantoms.spec import PhantomSpec

__all__ = [
    "write_dicom_series",
    "write_label_nifti",
    "write_multiframe",
    "write_seg",
]

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
_UNCOMPRESSED = (
    ImplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
)
STUDY_DATE = "20240115"
STUDY_TIME = "100000"
BOLUS_START_TIME = "100000"
#: Acquisition time by phase: seconds after the bolus start (non-contrast: before it).
_PHASE_DELAY_S = {
    Phase.NON_CONTRAST: -300,
    Phase.ARTERIAL: 35,
    Phase.PORTAL_VENOUS: 70,
    Phase.DELAYED: 180,
    Phase.UNKNOWN: 600,
}
_CT_INTERCEPT = -1024


IMPLEMENTATION_CLASS_UID = name_uid("implementation", "0.1")
IMPLEMENTATION_VERSION_NAME = "LIVERBURDEN_01"


def _time(delay_s: int) -> str:
    base = int(BOLUS_START_TIME[:2]) * 3600 + int(BOLUS_START_TIME[2:4]) * 60
    t = base + delay_s
    return f"{t // 3600:02d}{t % 3600 // 60:02d}{t % 60:02d}"


def _file_meta(sop_class: str, sop_instance: str, transfer_syntax: str) -> FileMetaDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(sop_class)
    meta.MediaStorageSOPInstanceUID = UID(sop_instance)
    meta.TransferSyntaxUID = UID(transfer_syntax)
    meta.ImplementationClassUID = UID(IMPLEMENTATION_CLASS_UID)
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
    return meta


def _patient_study(ds: Dataset, spec: PhantomSpec, uids: PhantomUids) -> None:
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.PatientName = "PHANTOM^LIVER"
    ds.PatientID = "PHANTOM-001"
    ds.PatientBirthDate = ""
    ds.PatientSex = "O"
    ds.StudyInstanceUID = uids.study
    ds.StudyDate = STUDY_DATE
    ds.StudyTime = STUDY_TIME
    ds.StudyID = "1"
    ds.AccessionNumber = ""
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = "SYNTHETIC LIVER PHANTOM"
    ds.FrameOfReferenceUID = uids.frame_of_reference
    ds.PositionReferenceIndicator = ""
    ds.Manufacturer = "liverburden phantom"
    ds.ManufacturerModelName = "dicomio.phantom"  # data value of the bundled sample; kept
    ds.SoftwareVersions = "0.1"


def _slice_dataset(
    phantom: Phantom, k: int, uids: PhantomUids, description: str, signed: bool
) -> tuple[Dataset, npt.NDArray[np.generic]]:
    spec = phantom.spec
    ct = spec.modality == "CT"
    sop_class = CT_IMAGE_STORAGE if ct else MR_IMAGE_STORAGE
    ds = Dataset()
    _patient_study(ds, spec, uids)
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = uids.instance(k + 1)
    ds.InstanceCreationDate = STUDY_DATE
    ds.InstanceCreationTime = STUDY_TIME
    ds.Modality = spec.modality
    ds.SeriesInstanceUID = uids.series
    ds.SeriesNumber = spec.series_number
    ds.SeriesDescription = description
    ds.PatientPosition = "HFS"
    acq_time = _time(_PHASE_DELAY_S[spec.phase])
    ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = STUDY_DATE
    ds.SeriesTime = ds.AcquisitionTime = ds.ContentTime = acq_time
    if spec.phase not in (Phase.NON_CONTRAST, Phase.UNKNOWN):
        ds.ContrastBolusAgent = "IOPAMIDOL 370"
        ds.ContrastBolusRoute = "IV"
        ds.ContrastBolusVolume = 100
        ds.ContrastBolusStartTime = BOLUS_START_TIME
    ds.InstanceNumber = k + 1
    ds.AcquisitionNumber = 1
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    affine = phantom.affine
    sz, sy, sx = spec.spacing_zyx_mm
    position = affine[:3, 3] + k * affine[:3, 0]
    normal = affine[:3, 0] / sz
    ds.ImagePositionPatient = [f"{v:.6f}" for v in position]
    ds.ImageOrientationPatient = [f"{v:.6f}" for v in (*spec.orientation[0], *spec.orientation[1])]
    ds.PixelSpacing = [f"{sy:.6g}", f"{sx:.6g}"]
    ds.SliceThickness = f"{spec.slice_thickness:.6g}"
    ds.SpacingBetweenSlices = f"{sz:.6g}"
    ds.SliceLocation = f"{float(position @ normal):.6f}"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = spec.shape_zyx[1], spec.shape_zyx[2]
    ds.BitsAllocated = 16
    plane = phantom.hu[k]
    if ct:
        ds.KVP = 120
        ds.RescaleSlope = 1
        ds.RescaleType = "HU"
        ds.WindowCenter, ds.WindowWidth = 60, 400
    if ct and not signed:
        ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 12, 11, 0
        ds.RescaleIntercept = _CT_INTERCEPT
        stored: npt.NDArray[np.generic] = (plane.astype(np.int32) - _CT_INTERCEPT).astype(np.uint16)
    elif signed:
        ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 15, 1
        if ct:
            ds.RescaleIntercept = 0
        stored = plane.astype(np.int16)
    else:
        ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 15, 0
        ds.ScanningSequence, ds.SequenceVariant, ds.ScanOptions = "GR", "SP", ""
        ds.MRAcquisitionType, ds.EchoTrainLength = "3D", 1
        ds.RepetitionTime, ds.EchoTime, ds.MagneticFieldStrength = 4.0, 2.0, 1.5
        stored = plane.astype(np.uint16)
    return ds, stored


def _set_pixels(ds: Dataset, stored: npt.NDArray[np.generic], transfer_syntax: str) -> None:
    if transfer_syntax in _UNCOMPRESSED:
        big = transfer_syntax == ExplicitVRBigEndian
        ds.PixelData = stored.astype(stored.dtype.newbyteorder(">" if big else "<")).tobytes()
        return
    plugin = ""
    if transfer_syntax == pydicom.uid.RLELossless:
        # Pin the encoder: valid RLE streams differ between encoders, and the bytes must not.
        plugin = "pylibjpeg" if "pylibjpeg" in RLELosslessEncoder.available_plugins else "pydicom"
    try:
        ds.compress(transfer_syntax, stored, encoding_plugin=plugin, generate_instance_uid=False)
    except (RuntimeError, ValueError, NotImplementedError) as exc:
        raise ValueError(
            f"cannot encode the phantom with transfer syntax {UID(transfer_syntax).name}: {exc}"
        ) from exc


def write_dicom_series(
    phantom: Phantom,
    out_dir: Path | str,
    *,
    transfer_syntax: str = ExplicitVRLittleEndian,
    series_description: str | None = None,
    signed: bool = False,
    uids: PhantomUids | None = None,
    file_prefix: str = "IM",
) -> list[Path]:
    """Write one CT/MR Image Storage file per slice; return the paths in slice (k) order.

    Parameters
    ----------
    phantom
        What to write.
    out_dir
        Folder, created if needed; files are ``{file_prefix}0001.dcm``, ... by slice index k.
    transfer_syntax
        Implicit/Explicit VR Little Endian, Deflated, Explicit VR Big Endian, or any encapsulated
        syntax pydicom can encode here (RLE Lossless; JPEG-LS via pyjpegls; JPEG 2000 via
        pylibjpeg-openjpeg).
    series_description
        Overrides the spec's description.
    signed
        CT stored as signed HU with intercept 0 (default: unsigned 12-bit with intercept -1024);
        MR stored signed instead of unsigned.
    uids
        Overrides the UIDs derived from the spec (e.g. to write a second, conflicting series).
    file_prefix
        File name prefix.

    Raises
    ------
    ValueError
        When the transfer syntax cannot be encoded with the installed plugins.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    uids = uids or phantom_uids(phantom.spec)
    description = phantom.spec.description if series_description is None else series_description
    paths = []
    for k in range(phantom.spec.shape_zyx[0]):
        ds, stored = _slice_dataset(phantom, k, uids, description, signed)
        _set_pixels(ds, stored, transfer_syntax)
        ds.file_meta = _file_meta(ds.SOPClassUID, ds.SOPInstanceUID, transfer_syntax)
        path = out / f"{file_prefix}{k + 1:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def write_label_nifti(
    phantom: Phantom, path: Path | str, *, array: npt.NDArray[np.generic] | None = None
) -> Path:
    """Write ``phantom.labels`` (or ``array`` on the same grid) as NIfTI/NRRD with its geometry.

    The format follows the suffix (``.nii.gz``, ``.nii``, ``.nrrd``); SimpleITK turns the LPS
    geometry into the file's convention (RAS qform/sform for NIfTI).
    """
    data = phantom.labels if array is None else np.asarray(array)
    if data.shape != phantom.labels.shape:
        raise ValueError(f"expected an array of shape {phantom.labels.shape}, got {data.shape}")
    if data.dtype == np.bool_:
        data = data.astype(np.uint8)
    image: Any = sitk.GetImageFromArray(np.ascontiguousarray(data))
    sz, sy, sx = phantom.spacing_zyx_mm
    image.SetSpacing((sx, sy, sz))
    image.SetOrigin(tuple(float(v) for v in phantom.affine[:3, 3]))
    a = phantom.affine[:3, :3]
    direction = np.column_stack([a[:, 2] / sx, a[:, 1] / sy, a[:, 0] / sz])
    image.SetDirection(tuple(float(v) for v in direction.ravel()))
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(image, str(out), True)
    return out


def _sorted_sources(series_files: Sequence[Path | str]) -> list[Dataset]:
    datasets = [pydicom.dcmread(p) for p in series_files]
    normal = np.cross(
        np.asarray(datasets[0].ImageOrientationPatient[:3], dtype=float),
        np.asarray(datasets[0].ImageOrientationPatient[3:], dtype=float),
    )
    return sorted(datasets, key=lambda d: float(np.asarray(d.ImagePositionPatient, float) @ normal))


def _fix_times_and_uids(ds: Dataset, seed_uid: str) -> None:
    """Replace the times highdicom takes from the clock and the UIDs it draws at random."""
    ds.InstanceCreationDate = STUDY_DATE
    ds.InstanceCreationTime = STUDY_TIME
    dim_uid = name_uid("dimension-organization", seed_uid)

    def fix(dataset: Dataset, elem: pydicom.DataElement) -> None:
        if elem.keyword == "DimensionOrganizationUID":
            elem.value = dim_uid
        elif elem.keyword == "ContributionDateTime":
            elem.value = STUDY_DATE + "110000"

    ds.walk(fix)


def write_seg(
    phantom: Phantom,
    series_files: Sequence[Path | str],
    path: Path | str,
    *,
    liver_includes_tumors: bool = True,
    single_tumor_segment: bool = False,
    series_number: int = 100,
) -> Path:
    """Write a BINARY DICOM SEG of the liver and the lesions, referencing the written series.

    Segment 1 is "Liver" (SCT 10200004); then either one segment per lesion, "Tumor 1",
    "Tumor 2", ... in the truth's lesion order (L1 = longest, tracking ids "L1", ...), or one
    "Tumor" segment (SCT 108369006 Neoplasm). With ``liver_includes_tumors`` the liver segment
    covers its tumours too (segments overlap); otherwise parenchyma only.
    """
    import highdicom as hd

    from phantoms.seg import segment_descriptions, segment_masks

    sources = _sorted_sources(series_files)
    if len(sources) != phantom.spec.shape_zyx[0]:
        raise ValueError(f"expected {phantom.spec.shape_zyx[0]} source files, got {len(sources)}")
    masks = segment_masks(phantom, liver_includes_tumors, single_tumor_segment)
    uids = phantom_uids(phantom.spec)
    seg_series = name_uid("seg-series", uids.series, series_number)
    descriptions = segment_descriptions(phantom, single_tumor_segment, seg_series)
    seg = hd.seg.Segmentation(
        source_images=sources,
        pixel_array=masks,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=seg_series,
        series_number=series_number,
        sop_instance_uid=name_uid("seg-instance", seg_series),
        instance_number=1,
        manufacturer="liverburden phantom",
        manufacturer_model_name="dicomio.phantom",
        software_versions="0.1",
        device_serial_number="0",
        series_description="PHANTOM LIVER SEG",
        content_label="PHANTOM",
        content_date=STUDY_DATE,
        content_time="110000",
        series_date=STUDY_DATE,
        series_time="110000",
    )
    _fix_times_and_uids(seg, seg_series)
    seg.file_meta = _file_meta(seg.SOPClassUID, seg.SOPInstanceUID, ExplicitVRLittleEndian)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    seg.save_as(out, enforce_file_format=True)
    return out


def write_multiframe(
    phantom: Phantom,
    series_files: Sequence[Path | str],
    path: Path | str,
    *,
    transfer_syntax: str = ExplicitVRLittleEndian,
) -> Path:
    """Write the series as one Legacy Converted Enhanced CT/MR multi-frame file (highdicom).

    The file gets its own series and instance UIDs. highdicom chooses the frame order; each frame
    carries its ImagePositionPatient in the per-frame functional groups.
    """
    import highdicom as hd

    sources = _sorted_sources(series_files)
    uids = phantom_uids(phantom.spec)
    mf_series = name_uid("multiframe-series", uids.series)
    cls = (
        hd.legacy.LegacyConvertedEnhancedCTImage
        if phantom.spec.modality == "CT"
        else hd.legacy.LegacyConvertedEnhancedMRImage
    )
    mf = cls(
        sources,
        series_instance_uid=mf_series,
        series_number=phantom.spec.series_number + 1000,
        sop_instance_uid=name_uid("multiframe-instance", mf_series),
        instance_number=1,
        transfer_syntax_uid=transfer_syntax,
    )
    _fix_times_and_uids(mf, mf_series)
    mf.file_meta = _file_meta(mf.SOPClassUID, mf.SOPInstanceUID, transfer_syntax)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    mf.save_as(out, enforce_file_format=True)
    return out


def sha256_of(path: Path | str) -> str:
    """Hex SHA-256 of a file (used by the sample's reproducibility check)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()

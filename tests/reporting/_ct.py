"""A tiny synthetic CT study for the reporting tests: DICOM datasets, masks and a measure JSON.

The liver is an ellipsoid and the lesions are spheres inside it, classified by voxel centre; the
measure JSON is computed with the project's own diameter code, so its endpoints are real.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from pydicom import Dataset
from pydicom.dataset import FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

from recist.diameters import measure_diameters

PATIENT_NAME = "Doe^Jane"
PATIENT_ID = "PID-0042"


@dataclass(frozen=True, eq=False)
class TinyCT:
    """Source datasets in slice order, HU volume, masks and the measure JSON of the study."""

    datasets: list[Dataset]
    hu: npt.NDArray[np.int16]
    liver: npt.NDArray[np.bool_]
    lesion_labels: npt.NDArray[np.int32]
    affine: npt.NDArray[np.float64]
    measurement: dict[str, Any]

    @property
    def tumor(self) -> npt.NDArray[np.bool_]:
        return np.asarray(self.lesion_labels > 0)


def _uid(*parts: object) -> str:
    return str(generate_uid(entropy_srcs=[str(p) for p in ("tinyct", *parts)]))


def _affine(
    spacing: tuple[float, float, float],
    origin: tuple[float, float, float],
    row_dir: tuple[float, float, float],
    col_dir: tuple[float, float, float],
) -> npt.NDArray[np.float64]:
    r = np.asarray(row_dir, dtype=float)
    c = np.asarray(col_dir, dtype=float)
    n = np.cross(r, c)
    a = np.eye(4)
    a[:3, 0] = n * spacing[0]
    a[:3, 1] = c * spacing[1]
    a[:3, 2] = r * spacing[2]
    a[:3, 3] = origin
    return a


def _datasets(
    hu: npt.NDArray[np.int16],
    affine: npt.NDArray[np.float64],
    seed: str,
    row_dir: tuple[float, float, float],
    col_dir: tuple[float, float, float],
    spacing: tuple[float, float, float],
) -> list[Dataset]:
    study, series, frame = _uid(seed, "study"), _uid(seed, "series"), _uid(seed, "for")
    out = []
    for k in range(hu.shape[0]):
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
        sop = _uid(seed, "sop", k)
        ds.file_meta.MediaStorageSOPInstanceUID = sop
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = sop
        ds.PatientName = PATIENT_NAME
        ds.PatientID = PATIENT_ID
        ds.PatientBirthDate = "19600101"
        ds.PatientSex = "F"
        ds.StudyInstanceUID = study
        ds.StudyID = "1"
        ds.StudyDate = "20200101"
        ds.StudyTime = "120000"
        ds.AccessionNumber = "A1"
        ds.ReferringPhysicianName = ""
        ds.Modality = "CT"
        ds.Manufacturer = "tests"
        ds.SeriesInstanceUID = series
        ds.SeriesNumber = 3
        ds.InstanceNumber = k + 1
        ds.FrameOfReferenceUID = frame
        ds.PositionReferenceIndicator = ""
        ds.ImagePositionPatient = [float(v) for v in affine[:3, 3] + affine[:3, 0] * k]
        ds.ImageOrientationPatient = [*map(float, row_dir), *map(float, col_dir)]
        ds.PixelSpacing = [spacing[1], spacing[2]]
        ds.SliceThickness = spacing[0]
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows, ds.Columns = hu.shape[1], hu.shape[2]
        ds.BitsAllocated = 16
        ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 1
        ds.RescaleIntercept = 0
        ds.RescaleSlope = 1
        ds.RescaleType = "HU"
        ds.PixelData = np.ascontiguousarray(hu[k]).tobytes()
        out.append(ds)
    return out


def make_tiny_ct(
    *,
    shape: tuple[int, int, int] = (10, 64, 64),
    spacing: tuple[float, float, float] = (2.5, 0.8, 0.8),
    lesion_centres_radii: tuple[tuple[tuple[float, float, float], float], ...] = (
        ((5.0, 30.0, 26.0), 9.0),
        ((4.0, 38.0, 44.0), 5.0),
    ),
    row_dir: tuple[float, float, float] = (1.0, 0.0, 0.0),
    col_dir: tuple[float, float, float] = (0.0, 1.0, 0.0),
    origin: tuple[float, float, float] = (-25.0, -30.0, 100.0),
    seed: str = "a",
) -> TinyCT:
    """Liver ellipsoid with spherical lesions (centres in voxel index k, j, i; radii in mm)."""
    kk, jj, ii = np.indices(shape, dtype=float)
    sz, sy, sx = spacing
    cz, cy, cx = (shape[0] - 1) / 2, (shape[1] - 1) / 2, (shape[2] - 1) / 2
    liver = (
        ((kk - cz) * sz / 14.0) ** 2 + ((jj - cy) * sy / 20.0) ** 2 + ((ii - cx) * sx / 22.0) ** 2
    ) <= 1.0
    labels = np.zeros(shape, dtype=np.int32)
    for n, (centre, radius) in enumerate(lesion_centres_radii, start=1):
        d2 = (
            ((kk - centre[0]) * sz) ** 2
            + ((jj - centre[1]) * sy) ** 2
            + ((ii - centre[2]) * sx) ** 2
        )
        labels[(d2 <= radius**2) & (labels == 0)] = n
    hu = np.full(shape, -1000, dtype=np.int16)
    body = (((jj - cy) * sy / 24.0) ** 2 + ((ii - cx) * sx / 25.0) ** 2) <= 1.0
    hu[body] = 40
    hu[liver] = 100
    hu[labels > 0] = 30
    affine = _affine(spacing, origin, row_dir, col_dir)
    datasets = _datasets(hu, affine, seed, row_dir, col_dir, spacing)
    voxel_ml = sz * sy * sx / 1000.0
    lesions = []
    for n in range(1, len(lesion_centres_radii) + 1):
        mask = labels == n
        d = measure_diameters(mask, spacing)
        lesions.append(
            {
                "lesion_id": "",
                "label": n,
                "volume_ml": float(mask.sum() * voxel_ml),
                "long_axis_mm": d.long_axis_mm,
                "short_axis_mm": d.short_axis_mm,
                "slice_index": d.slice_index,
                "measurable": d.long_axis_mm >= 10.0,
                "long_axis_endpoints_rc": [list(p) for p in d.long_axis_endpoints_rc],
                "short_axis_endpoints_rc": [list(p) for p in d.short_axis_endpoints_rc],
            }
        )
    lesions.sort(key=lambda r: -r["long_axis_mm"])
    relabel = np.zeros(len(lesions) + 1, dtype=np.int32)
    for i, rec in enumerate(lesions, start=1):
        rec["lesion_id"] = f"L{i}"
        relabel[rec.pop("label")] = i
    labels = relabel[labels]
    liver_ml = float((liver | (labels > 0)).sum() * voxel_ml)
    tumor_ml = float((labels > 0).sum() * voxel_ml)
    measurement = {
        "series": {
            "series_instance_uid": datasets[0].SeriesInstanceUID,
            "study_instance_uid": datasets[0].StudyInstanceUID,
            "modality": "CT",
            "slices": shape[0],
            "spacing_mm": list(spacing),
            "slice_thickness_mm": spacing[0],
        },
        "liver_volume_ml": liver_ml,
        "tumor_volume_ml": tumor_ml,
        "burden_fraction": tumor_ml / liver_ml,
        "eligibility": {
            "burden_le_70pct": True,
            "burden_gt_25pct": False,
            "measurable_liver_lesion": True,
        },
        "lesions": lesions,
        "inputs": {"input_sha256": "ab" * 32},
        "algorithm_version": "0.1.0",
    }
    return TinyCT(datasets, hu, liver, labels, affine, measurement)


def assessment_input(
    subject_id: str = "S-001",
    sums: tuple[float, ...] = (30.0, 20.0, 36.0),
    start: dt.date = dt.date(2020, 1, 1),
) -> dict[str, Any]:
    """A RECIST input with one liver target lesion (T1), a node (N1) and a non-target (NT1)."""
    timepoints = []
    for n, total in enumerate(sums):
        date = start + dt.timedelta(days=56 * n)
        timepoints.append(
            {
                "date": date.isoformat(),
                "baseline": n == 0,
                "measurements": [
                    {"lesion_id": "T1", "diameter_mm": total - 16.0},
                    {"lesion_id": "N1", "diameter_mm": 16.0},
                    {"lesion_id": "NT1", "status": "present"},
                ],
                "new_lesions": [],
            }
        )
    return {
        "subject_id": subject_id,
        "reference_date": start.isoformat(),
        "lesions": [
            {"lesion_id": "T1", "organ": "liver", "lymph_node": False, "role": "target"},
            {"lesion_id": "N1", "organ": "lymph node", "lymph_node": True, "role": "target"},
            {"lesion_id": "NT1", "organ": "liver", "lymph_node": False, "role": "non_target"},
        ],
        "timepoints": timepoints,
    }

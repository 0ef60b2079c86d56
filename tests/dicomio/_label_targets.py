"""Target ImageVolumes for the segmentation tests, built from DICOM headers or geometry alone.

Independent of :func:`dicomio.read_series` on purpose: the segmentation readers are checked against
a grid computed here from ImagePositionPatient / ImageOrientationPatient / PixelSpacing with plain
pydicom and numpy. Slices are sorted along the normal; the slice spacing is the smallest gap and
larger gaps that are whole multiples of it become empty (missing) slots, as the series reader does.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pydicom

from dicomio.model import Geometry, ImageVolume, SeriesInfo


def geometry_from(
    shape_zyx: tuple[int, int, int],
    spacing_zyx: tuple[float, float, float] = (1.0, 1.0, 1.0),
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0),
    directions: npt.ArrayLike | None = None,
) -> Geometry:
    """Grid with the given shape, spacing, origin and unit axis columns (slice, row, column)."""
    d = np.eye(3)[:, ::-1] if directions is None else np.asarray(directions, dtype=np.float64)
    affine = np.eye(4)
    affine[:3, :3] = d * np.asarray(spacing_zyx, dtype=np.float64)
    affine[:3, 3] = origin
    return Geometry(shape_zyx=shape_zyx, affine=affine)


def volume_on(
    geometry: Geometry,
    *,
    uids: Iterable[str] = (),
    frame_of_reference_uid: str | None = None,
    source_format: str = "dicom",
) -> ImageVolume:
    """Header-only ImageVolume on ``geometry``."""
    info = SeriesInfo(
        series_instance_uid="1.2.3",
        modality="CT",
        frame_of_reference_uid=frame_of_reference_uid,
        source_format=source_format,
        sop_instance_uids=tuple(uids),
        instance_count=geometry.shape_zyx[0],
    )
    return ImageVolume(geometry=geometry, info=info)


def dicom_target(files: Iterable[Path]) -> ImageVolume:
    """Header-only ImageVolume of single-frame DICOM slices (missing slots get UID "")."""
    headers = [pydicom.dcmread(f, stop_before_pixels=True) for f in files]
    iop = np.asarray(headers[0].ImageOrientationPatient, dtype=np.float64)
    row_cos, col_cos = iop[:3], iop[3:]
    normal = np.cross(row_cos, col_cos)
    positions = np.array([[float(v) for v in h.ImagePositionPatient] for h in headers])
    along = positions @ normal
    order = np.argsort(along)
    headers = [headers[i] for i in order]
    positions, along = positions[order], along[order]
    if len(headers) > 1:
        gaps = np.diff(along)
        spacing = float(gaps.min())
        slots = np.rint((along - along[0]) / spacing).astype(int)
        step = (positions[-1] - positions[0]) / slots[-1]
    else:
        spacing = float(headers[0].get("SpacingBetweenSlices", headers[0].SliceThickness))
        slots = np.array([0])
        step = normal * spacing
    dr, dc = (float(v) for v in headers[0].PixelSpacing)
    affine = np.eye(4)
    affine[:3, 0] = step
    affine[:3, 1] = col_cos * dr
    affine[:3, 2] = row_cos * dc
    affine[:3, 3] = positions[0]
    n = int(slots[-1]) + 1
    uids = [""] * n
    for slot, h in zip(slots, headers, strict=True):
        uids[int(slot)] = str(h.SOPInstanceUID)
    geometry = Geometry(shape_zyx=(n, int(headers[0].Rows), int(headers[0].Columns)), affine=affine)
    return volume_on(
        geometry, uids=uids, frame_of_reference_uid=str(headers[0].FrameOfReferenceUID)
    )

"""Read a DICOM RT Structure Set onto a series grid: one boolean mask per ROI.

- Every ROI of the StructureSetROISequence becomes a :class:`~dicomio.model.Segment` with
  ``number`` = ROINumber and ``name`` = ROIName. ROIs without a ContourSequence (70 of the 104
  TotalSegmentator-AIDE ROIs) are segments with an empty mask.
- Only CLOSED_PLANAR (and CLOSEDPLANAR_XOR) contours have an area; POINT and OPEN_* contours are
  skipped with a warning.
- A contour goes to the slice its ContourImageSequence references (never to the nearest z: the
  TotalSegmentator-AIDE contours lie up to 0.76 mm off their image plane). Without a reference, it
  goes to the nearest slice plane within half a slice, provided the frames of reference agree (see
  :mod:`dicomio._label_dicom`). A contour whose referenced image is not in the series is an error
  naming how many such images there are. A contour that is not parallel to the slices (its points
  spread over more than half a slice along the slice normal) is an error.
- Rasterisation reproduces ``cv2.fillPoly`` on vertices rounded to pixels, as rt-utils does
  (:mod:`dicomio._raster`): contour vertices written from masks are the centres of the mask's
  boundary pixels, so boundary pixels are inside; nested contours are combined even-odd (holes).
  This is the "voxel-centre rule" applied to the vertices such writers produce: a voxel is inside
  when its centre is inside the rounded contour or on its 8-connected rasterised boundary. It
  reproduces the TotalSegmentator-AIDE source masks voxel for voxel, where a strict centre-inside
  fill loses 1-9 % of each structure. Contours reaching beyond the image are cut exactly at its
  border and reported in a warning (``cv2.fillPoly`` re-rounds clipped edges, so for such contours
  the two can differ along the clipped edges).

References
----------
.. [1] DICOM PS3.3 C.8.8.5 (Structure Set Module), C.8.8.6 (ROI Contour Module), C.8.8.6.1
   (Contour Geometric Type), C.8.8.6.3 (Representing inner and outer contours).
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

import numpy as np
import numpy.typing as npt

from dicomio._label_dicom import (
    SliceLocator,
    malformed_as_corrupt,
)
from dicomio._label_names import is_single_lesion_name
from dicomio._raster import fill_contours, round_vertices
from dicomio.errors import CorruptFileError, LabelError
from dicomio.model import ImageVolume, LabelMap, Segment

__all__ = ["RTSTRUCT_SOP_CLASS_UID", "labelmap_from_rtstruct"]

logger = logging.getLogger(__name__)

RTSTRUCT_SOP_CLASS_UID = "1.2.840.10008.5.1.4.1.1.481.3"
_AREA_TYPES = ("CLOSED_PLANAR", "CLOSEDPLANAR_XOR")
#: Largest spread of one contour's points along the slice normal, in slices.
_PLANAR_TOL_SLICES = 0.5
_CONTOUR_DATA = 0x30060050
#: Largest |coordinate| of ContourData taken as real, in mm (as for image positions).
_MAX_COORDINATE_MM = 1e6
#: Vertices farther outside the image than this many image sizes are moved to that distance:
#: the cut at the image border is unchanged (to a tiny fraction of a pixel) and the rasteriser's
#: work stays bounded (it walks every pixel of every edge).
_FAR_IMAGES = 4


def _contour_points(contour: Any, where: str) -> npt.NDArray[np.float64]:
    """ContourData as an ``(n, 3)`` array, parsed from the raw bytes when still raw (fast)."""
    elem = contour.get_item(_CONTOUR_DATA)
    if elem is None:
        raise CorruptFileError(f"{where} has no ContourData; expected x/y/z triplets")
    value = elem.value
    try:
        if isinstance(value, bytes | bytearray):
            text = bytes(value).decode("ascii").strip(" \x00")
            flat = np.array(text.split("\\"), dtype=np.float64) if text else np.zeros(0)
        else:
            flat = np.asarray(contour.ContourData, dtype=np.float64).ravel()
    except ValueError as exc:
        raise CorruptFileError(f"{where} has non-numeric ContourData") from exc
    if flat.size == 0 or flat.size % 3 or not np.all(np.isfinite(flat)):
        raise CorruptFileError(
            f"{where} has {flat.size} ContourData values; expected x/y/z triplets of numbers"
        )
    if np.max(np.abs(flat)) > _MAX_COORDINATE_MM:
        raise CorruptFileError(
            f"{where} has ContourData coordinates beyond {_MAX_COORDINATE_MM:g} mm; expected "
            "patient coordinates in mm"
        )
    return flat.reshape(-1, 3)


def _roi_table(ds: Any) -> tuple[dict[int, str], set[str]]:
    names: dict[int, str] = {}
    frames: set[str] = set()
    for item in ds.get("StructureSetROISequence", []):
        number = int(item.ROINumber)
        names[number] = str(item.get("ROIName", "") or "").strip()
        uid = str(item.get("ReferencedFrameOfReferenceUID", "") or "")
        if uid:
            frames.add(uid)
    for item in ds.get("ReferencedFrameOfReferenceSequence", []):
        uid = str(item.get("FrameOfReferenceUID", "") or "")
        if uid:
            frames.add(uid)
    return names, frames


def _contour_refs(contour: Any) -> list[str]:
    return [
        str(ci.get("ReferencedSOPInstanceUID", "") or "")
        for ci in contour.get("ContourImageSequence", [])
    ]


def _collect(
    ds: Any, locator: SliceLocator, tally: Counter[str]
) -> dict[int, dict[int, list[npt.NDArray[np.int64]]]]:
    """Return the rounded in-plane vertices of each area contour, by ROI number and slice."""
    geometry = locator.geometry
    per_roi: dict[int, dict[int, list[npt.NDArray[np.int64]]]] = {}
    for item in ds.get("ROIContourSequence", []):
        number = int(item.ReferencedROINumber)
        slices = per_roi.setdefault(number, {})
        for c_idx, contour in enumerate(item.get("ContourSequence", []), start=1):
            where = f"contour {c_idx} of ROI {number}"
            gtype = str(contour.get("ContourGeometricType", "") or "").upper()
            if gtype not in _AREA_TYPES:
                tally[gtype or "(no type)"] += 1
                continue
            idx = geometry.lps_to_index(_contour_points(contour, where))
            spread = float(np.ptp(idx[:, 0]))
            if spread > _PLANAR_TOL_SLICES:
                raise LabelError(
                    f"RTSTRUCT {where} is not parallel to the series' slices (its points spread "
                    f"{spread * locator.slice_spacing_mm:.3g} mm along the slice normal); "
                    "expected contours drawn on the series' image planes"
                )
            k = locator.locate(_contour_refs(contour), float(np.mean(idx[:, 0])), where)
            if k is None:
                continue
            size = np.asarray(geometry.shape_zyx[1:], dtype=np.float64)
            far_lo, far_hi = -_FAR_IMAGES * size, (_FAR_IMAGES + 1) * size
            vertices = round_vertices(np.clip(idx[:, 1:], far_lo, far_hi))
            if np.any(vertices < 0) or np.any(vertices >= np.asarray(geometry.shape_zyx[1:])):
                tally["beyond the image"] += 1
            slices.setdefault(k, []).append(vertices)
    return per_roi


def labelmap_from_rtstruct(
    ds: Any,
    target: ImageVolume,
    *,
    file_sha256: tuple[str, ...] = (),
    file_name: str = "RTSTRUCT",
) -> LabelMap:
    """Rasterise an RT Structure Set dataset onto ``target``'s grid (see the module docstring).

    Raises
    ------
    LabelError
        Contours reference images that are not in the series, contours are not parallel to the
        slices, or (placement by position) the frames of reference differ.
    CorruptFileError
        ContourData or another element is malformed (library errors on malformed data are
        wrapped).
    """
    with malformed_as_corrupt("RTSTRUCT", file_name):
        return _rasterise(ds, target, file_sha256)


def _rasterise(ds: Any, target: ImageVolume, file_sha256: tuple[str, ...]) -> LabelMap:
    for keyword in ("StructureSetROISequence", "ROIContourSequence"):
        if keyword not in ds:  # Type 1: missing in a file cut short, or not a structure set
            raise CorruptFileError(
                f"RTSTRUCT has no {keyword}; expected a complete RT Structure Set (truncated?)"
            )
    names, frames = _roi_table(ds)
    locator = SliceLocator(target, "RTSTRUCT", "contour")
    tally: Counter[str] = Counter()
    per_roi = _collect(ds, locator, tally)
    locator.raise_if_missing()
    series_for = target.info.frame_of_reference_uid or ""
    object_for = series_for if series_for in frames else next(iter(sorted(frames)), "")
    warnings = locator.frame_of_reference_warnings(object_for)
    warnings += locator.off_plane_warnings()
    beyond = tally.pop("beyond the image", 0)
    if beyond:
        warnings.append(
            f"{beyond} RTSTRUCT contour(s) reach beyond the image; cut at the image border"
        )
    if tally:
        kinds = ", ".join(f"{n} {t}" for t, n in sorted(tally.items()))
        warnings.append(f"RTSTRUCT contours without an area were skipped: {kinds}")

    shape = target.geometry.shape_zyx
    empty = np.zeros(shape, dtype=bool)  # shared, read-only, by every ROI without contours
    masks: dict[int, npt.NDArray[np.bool_]] = {}
    segments: list[Segment] = []
    numbers = list(names) + [n for n in per_roi if n not in names]
    for number in numbers:
        name = names.get(number, "")
        slices = per_roi.get(number, {})
        if slices:
            mask = np.zeros(shape, dtype=bool)
            for k, polygons in slices.items():
                mask[k] = fill_contours(polygons, (shape[1], shape[2]))
            masks[number] = mask
        else:
            masks[number] = empty
        segments.append(
            Segment(number=number, name=name, single_lesion=is_single_lesion_name(name))
        )
    logger.info(
        "RTSTRUCT: %d ROIs (%d with contours), %d contours by reference, %d by position",
        len(segments),
        sum(1 for n in numbers if per_roi.get(n)),
        locator.by_reference,
        locator.by_position,
    )
    return LabelMap(
        geometry=target.geometry,
        segments=tuple(segments),
        masks=masks,
        source_kind="rtstruct",
        file_sha256=file_sha256,
        warnings=tuple(warnings),
    )

"""Read a DICOM Segmentation (SEG) onto a series grid.

Both SOP classes are read: Segmentation Storage (BINARY and FRACTIONAL) and Label Map Segmentation
Storage (LABELMAP). highdicom decodes the frames (after :mod:`dicomio._seg_decode` for the
encodings it does not read); the placement of each frame on the series grid is done here, from the
per-frame functional groups, and checked:

- Slice: by the frame's referenced source image (DerivationImageSequence / SourceImageSequence),
  else by its ImagePositionPatient (nearest slice plane within half a slice). Frames are never
  placed by their order (the dcmqi liver SEG stores them inferior to superior). References to
  images that are not in the series are an error. See :mod:`dicomio._label_dicom`.
- In plane: the frame's ImageOrientationPatient and PixelSpacing must be the series'; the frame's
  position must fall on a whole pixel of the series. A frame smaller than the image (the pydicom
  ``liver_nonbyte_aligned`` SEG is cropped to 510 x 510) is placed at its position and the rest of
  the slice is "not segmented", as for omitted frames. Segmented pixels outside the image are an
  error.
- Values: BINARY frames are 0/1. FRACTIONAL frames (probability or occupancy) are *inside where the
  stored value is at least half of MaximumFractionalValue* (0.5). LABELMAP pixel values are segment
  numbers; 0 and the PixelPaddingValue are "no segment" (segment 0, conventionally "Background", is
  not a structure and is not listed); a value that is no defined segment is an error.

The result holds one boolean mask per segment (``LabelMap.masks``), so overlapping segments (the
dcmqi ``partial_overlaps`` SEG) keep every voxel; LABELMAP SEGs give a label array. Mask arrays are
allocated with ``numpy.zeros`` (untouched pages are never materialised) and segments without frames
share one empty array.

References
----------
.. [1] DICOM PS3.3 A.51 (Segmentation IOD), C.8.20.2 (Segmentation Image Module: Segmentation Type,
   Maximum Fractional Value, Segment Sequence), C.7.6.16.2.6 (Derivation Image Functional Group),
   C.7.6.16.2.3 (Plane Position), C.7.6.16.2.4 (Plane Orientation); Supplement 243 (Label Map
   Segmentation Storage, 1.2.840.10008.5.1.4.1.1.66.7).
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from dicomio._label_dicom import (
    SliceLocator,
    malformed_as_corrupt,
)
from dicomio._label_names import is_single_lesion_name
from dicomio._pixels import decoder_failed
from dicomio._seg_decode import needs_own_decoding, to_native_little_endian
from dicomio.errors import CorruptFileError, LabelError, UnsupportedError
from dicomio.model import Geometry, ImageVolume, LabelMap, Segment

__all__ = [
    "FRACTIONAL_THRESHOLD",
    "LABELMAP_SEG_SOP_CLASS_UID",
    "SEG_SOP_CLASS_UID",
    "labelmap_from_seg",
]

logger = logging.getLogger(__name__)

SEG_SOP_CLASS_UID = "1.2.840.10008.5.1.4.1.1.66.4"
LABELMAP_SEG_SOP_CLASS_UID = "1.2.840.10008.5.1.4.1.1.66.7"
#: A FRACTIONAL pixel is inside when stored value >= this x MaximumFractionalValue.
FRACTIONAL_THRESHOLD = 0.5
#: Largest difference between the SEG's and the series' direction cosines.
_ORIENTATION_TOL = 1e-3
#: Largest distance of a frame's first pixel from a whole pixel of the series, in pixels.
_PIXEL_TOL = 0.05


@dataclass(frozen=True, slots=True)
class _Placement:
    frame: int  # 1-based frame number
    k: int
    row: int  # series row of the frame's first row
    col: int
    segment: int  # 0 for LABELMAP frames


def _group(ds: Any, frame_item: Any, name: str) -> Any | None:
    """First item of a functional group macro, per-frame first, then shared."""
    if frame_item is not None and name in frame_item:
        seq = frame_item[name].value
        if len(seq):
            return seq[0]
    shared = ds.get("SharedFunctionalGroupsSequence")
    if shared and name in shared[0]:
        seq = shared[0][name].value
        if len(seq):
            return seq[0]
    return None


def _refs(frame_item: Any) -> list[str]:
    out: list[str] = []
    if frame_item is None:
        return out
    for der in frame_item.get("DerivationImageSequence", []):
        for src in der.get("SourceImageSequence", []):
            uid = str(src.get("ReferencedSOPInstanceUID", "") or "")
            if uid:
                out.append(uid)
    return out


def _check_plane(ds: Any, geometry: Geometry, file_name: str) -> None:
    """Orientation and pixel spacing of the SEG (shared, else first frame's) must be the series'."""
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    first = per_frame[0] if per_frame else None
    ori = _group(ds, first, "PlaneOrientationSequence")
    if ori is not None and "ImageOrientationPatient" in ori:
        iop = np.asarray([float(v) for v in ori.ImageOrientationPatient], dtype=np.float64)
        d = geometry.directions
        if not (
            np.allclose(iop[:3], d[:, 2], atol=_ORIENTATION_TOL)
            and np.allclose(iop[3:], d[:, 1], atol=_ORIENTATION_TOL)
        ):
            raise LabelError(
                f"SEG {file_name} frames are oriented {np.round(iop, 4).tolist()}, the series "
                f"{np.round(np.concatenate([d[:, 2], d[:, 1]]), 4).tolist()}; expected the "
                "series' ImageOrientationPatient"
            )
    measures = _group(ds, first, "PixelMeasuresSequence")
    if measures is not None and "PixelSpacing" in measures:
        dr, dc = (float(v) for v in measures.PixelSpacing)
        _, sr, sc = geometry.spacing_zyx_mm
        extent = max(int(ds.Rows), int(ds.Columns))
        if abs(dr - sr) * extent > _PIXEL_TOL * sr or abs(dc - sc) * extent > _PIXEL_TOL * sc:
            raise LabelError(
                f"SEG {file_name} has pixel spacing {dr:.6g} x {dc:.6g} mm, the series "
                f"{sr:.6g} x {sc:.6g} mm; expected the series' pixel spacing"
            )


def _placements(ds: Any, locator: SliceLocator, labelmap: bool) -> list[_Placement]:
    geometry = locator.geometry
    n_frames = int(ds.get("NumberOfFrames", 1) or 1)
    per_frame = ds.get("PerFrameFunctionalGroupsSequence") or [None] * n_frames
    rows, cols = int(ds.Rows), int(ds.Columns)
    out: list[_Placement] = []
    for number, item in enumerate(per_frame, start=1):
        where = f"frame {number}"
        pos_item = _group(ds, item, "PlanePositionSequence")
        if pos_item is not None and "ImagePositionPatient" in pos_item:
            pos = np.asarray([float(v) for v in pos_item.ImagePositionPatient], dtype=np.float64)
            kc, jc, ic = (float(v) for v in geometry.lps_to_index(pos))
        else:
            if (rows, cols) != geometry.shape_zyx[1:]:
                raise LabelError(
                    f"SEG {where} has no position and {rows} x {cols} pixels, the series "
                    f"{geometry.shape_zyx[1]} x {geometry.shape_zyx[2]}; expected a position or "
                    "frames of the series' size"
                )
            kc, jc, ic = float("nan"), 0.0, 0.0
        k = locator.locate(_refs(item), None if np.isnan(kc) else kc, where)
        if k is None:
            continue
        r0, c0 = round(jc), round(ic)
        if abs(jc - r0) > _PIXEL_TOL or abs(ic - c0) > _PIXEL_TOL:
            raise LabelError(
                f"SEG {where} starts between pixels of the series (row {jc:.3f}, column "
                f"{ic:.3f}); expected frames on the series' pixel grid"
            )
        segment = 0
        if not labelmap:
            ident = _group(ds, item, "SegmentIdentificationSequence")
            if ident is None or "ReferencedSegmentNumber" not in ident:
                raise CorruptFileError(f"SEG {where} does not say which segment it belongs to")
            segment = int(ident.ReferencedSegmentNumber)
        out.append(_Placement(number, k, r0, c0, segment))
    return out


def _paste(
    dest: npt.NDArray[Any],
    frame: npt.NDArray[Any],
    p: _Placement,
    file_name: str,
) -> None:
    """Copy the non-zero pixels of ``frame`` into slice ``p.k`` of ``dest`` at its offset."""
    height, width = dest.shape[1:]
    rows, cols = frame.shape
    r_lo, c_lo = max(p.row, 0), max(p.col, 0)
    r_hi, c_hi = min(p.row + rows, height), min(p.col + cols, width)
    inner = frame[r_lo - p.row : r_hi - p.row, c_lo - p.col : c_hi - p.col]
    outside = int(np.count_nonzero(frame)) - int(np.count_nonzero(inner))
    if outside:
        raise LabelError(
            f"SEG {file_name} frame {p.frame} has {outside} segmented pixel(s) outside the "
            "series' images; expected segments within the image"
        )
    if inner.size:
        view = dest[p.k, r_lo:r_hi, c_lo:c_hi]
        np.copyto(view, inner, where=inner != 0)


def _segments(ds: Any, labelmap: bool) -> list[Segment]:
    out = []
    for item in ds.get("SegmentSequence", []):
        number = int(item.SegmentNumber)
        if labelmap and number == 0:
            continue
        name = str(item.get("SegmentLabel", "") or "").strip()
        out.append(Segment(number=number, name=name, single_lesion=is_single_lesion_name(name)))
    return out


def _stored_frame(seg: Any, number: int, file_name: str) -> npt.NDArray[Any]:
    try:
        return np.asarray(seg.get_stored_frame(number))
    except BaseException as exc:  # decoders raise RuntimeError, ValueError, Rust panics ...
        if not decoder_failed(exc):
            raise
        raise CorruptFileError(
            f"SEG {file_name} frame {number} could not be decoded ({type(exc).__name__})"
        ) from exc


def _highdicom(ds: Any, file_name: str) -> Any:
    import highdicom as hd

    if needs_own_decoding(ds):
        ds = to_native_little_endian(ds)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            seg = hd.seg.Segmentation.from_dataset(ds, copy=False)
    except (AttributeError, KeyError, ValueError, TypeError) as exc:
        raise CorruptFileError(
            f"{file_name} is not a valid DICOM SEG ({type(exc).__name__}: {exc})"
        ) from exc
    for w in caught:
        logger.debug("highdicom warned while reading a SEG: %s", w.message)
    return seg


def labelmap_from_seg(
    ds: Any, target: ImageVolume, *, file_name: str = "SEG", file_sha256: tuple[str, ...] = ()
) -> LabelMap:
    """Place a SEG dataset's frames on ``target``'s grid (rules in the module docstring).

    Raises
    ------
    LabelError
        Frames reference images that are not in the series, do not fit its grid (orientation,
        pixel spacing, position) or hold undefined label values.
    CorruptFileError
        The SEG or its pixel data is broken (library errors on malformed data are wrapped).
    UnsupportedError
        An unknown SegmentationType.
    """
    with malformed_as_corrupt("SEG", file_name):
        return _place_seg(ds, target, file_name, file_sha256)


def _place_seg(
    ds: Any, target: ImageVolume, file_name: str, file_sha256: tuple[str, ...]
) -> LabelMap:
    seg = _highdicom(ds, file_name)
    seg_type = str(ds.get("SegmentationType", "")).upper()
    if seg_type not in ("BINARY", "FRACTIONAL", "LABELMAP"):
        raise UnsupportedError(
            f"SEG {file_name} has SegmentationType {seg_type!r}; expected BINARY, FRACTIONAL "
            "or LABELMAP"
        )
    labelmap = seg_type == "LABELMAP"
    geometry = target.geometry
    locator = SliceLocator(target, "SEG", "frame")
    per_frame = ds.get("PerFrameFunctionalGroupsSequence") or []
    locator.check_references([r for item in per_frame for r in _refs(item)])
    _check_plane(ds, geometry, file_name)
    segments = _segments(ds, labelmap)
    known = {s.number for s in segments}
    placements = _placements(ds, locator, labelmap)
    locator.raise_if_missing()
    notes = locator.frame_of_reference_warnings(str(ds.get("FrameOfReferenceUID", "") or ""))
    notes += locator.off_plane_warnings()

    shape = geometry.shape_zyx
    if labelmap:
        padding = ds.get("PixelPaddingValue")
        labels = np.zeros(shape, dtype=np.uint16 if int(ds.BitsAllocated) > 8 else np.uint8)
        for p in placements:
            frame = _stored_frame(seg, p.frame, file_name)
            if padding is not None:
                frame = np.where(frame == int(padding), 0, frame)
            bad = set(np.unique(frame).tolist()) - known - {0}
            if bad:
                raise LabelError(
                    f"SEG {file_name} frame {p.frame} holds label value(s) {sorted(bad)} that "
                    f"are not defined segments; defined: {sorted(known)}"
                )
            _paste(labels, frame, p, file_name)
        return LabelMap(
            geometry=geometry,
            segments=tuple(segments),
            labels=labels,
            source_kind="seg",
            file_sha256=file_sha256,
            warnings=tuple(notes),
        )

    threshold = 0.5
    maximum = 1
    partial = 0  # FRACTIONAL pixels strictly between 0 and the maximum
    if seg_type == "FRACTIONAL":
        maximum = int(ds.MaximumFractionalValue)
        threshold = FRACTIONAL_THRESHOLD * maximum
    masks: dict[int, npt.NDArray[np.bool_]] = {}
    for p in placements:
        if p.segment not in known:
            raise LabelError(
                f"SEG {file_name} frame {p.frame} belongs to segment {p.segment}, which the "
                f"SegmentSequence does not define; defined: {sorted(known)}"
            )
        if p.segment not in masks:
            masks[p.segment] = np.zeros(shape, dtype=bool)
        stored = _stored_frame(seg, p.frame, file_name)
        if seg_type == "FRACTIONAL":
            partial += int(np.count_nonzero((stored > 0) & (stored < maximum)))
        _paste(masks[p.segment], stored >= threshold, p, file_name)
    if partial:
        notes.append(
            f"FRACTIONAL SEG: {partial} pixel(s) with values between 0 and 1 were thresholded "
            f"at {FRACTIONAL_THRESHOLD:g} (inside when >= {FRACTIONAL_THRESHOLD:g})"
        )
    empty = np.zeros(shape, dtype=bool)
    for s in segments:
        masks.setdefault(s.number, empty)
    logger.info(
        "SEG %s: %d frames placed (%d by reference, %d by position), %d segments",
        seg_type,
        len(placements),
        locator.by_reference,
        locator.by_position,
        len(segments),
    )
    return LabelMap(
        geometry=geometry,
        segments=tuple(segments),
        masks=masks,
        source_kind="seg",
        file_sha256=file_sha256,
        warnings=tuple(notes),
    )

"""Per-frame geometry and rescale, from classic attributes or Enhanced functional groups.

For Enhanced and Legacy Converted Enhanced CT/MR, a frame's plane position, plane orientation,
pixel measures and pixel value transformation are taken from its Per-Frame Functional Groups
item, or from the Shared Functional Groups item when the per-frame item has none.

References
----------
.. [1] DICOM PS3.3 section C.7.6.16, "Multi-frame Functional Groups Module".
.. [2] DICOM PS3.3 sections C.7.6.16.2.1 (Pixel Measures), C.7.6.16.2.3 (Plane Position),
       C.7.6.16.2.4 (Plane Orientation) and C.7.6.16.2.9 (Pixel Value Transformation).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dicomio._values import as_float, as_floats

__all__ = ["FrameGeom", "frame_geometries"]


@dataclass(frozen=True, slots=True)
class FrameGeom:
    """Where one frame lies and how its stored values map to output values."""

    position: tuple[float, ...] | None
    orientation: tuple[float, ...] | None
    pixel_spacing: tuple[float, ...] | None
    slice_thickness: float | None
    spacing_between_slices: float | None
    rescale_slope: float | None
    rescale_intercept: float | None

    @classmethod
    def from_dataset(cls, get: Callable[[str], Any]) -> FrameGeom:
        """Return the geometry of a single-frame image; ``get`` maps a keyword to its value."""
        return cls(
            position=as_floats(get("ImagePositionPatient"), 3),
            orientation=as_floats(get("ImageOrientationPatient"), 6),
            pixel_spacing=as_floats(get("PixelSpacing"), 2),
            slice_thickness=as_float(get("SliceThickness")),
            spacing_between_slices=as_float(get("SpacingBetweenSlices")),
            rescale_slope=as_float(get("RescaleSlope")),
            rescale_intercept=as_float(get("RescaleIntercept")),
        )


def _first_item(group: Any, keyword: str) -> Any:
    if group is None:
        return None
    seq = group.get(keyword)
    if not seq:
        return None
    return seq[0]


def _lookup(per_frame: Any, shared: Any, keyword: str) -> Any:
    return _first_item(per_frame, keyword) or _first_item(shared, keyword)


def frame_geometries(ds: Any, frames: int) -> tuple[FrameGeom, ...]:
    """One :class:`FrameGeom` per frame of an Enhanced/Legacy Converted multi-frame object.

    Frames whose functional groups give no position or orientation get ``None`` there; the
    caller refuses such objects with a clear message. At most one geometry per item of the
    PerFrameFunctionalGroupsSequence (one when it is empty) is returned, whatever NumberOfFrames
    claims, so the caller can compare the two and a forged frame count costs nothing.
    """
    shared_seq = ds.get("SharedFunctionalGroupsSequence")
    shared = shared_seq[0] if shared_seq else None
    per_frame_seq = ds.get("PerFrameFunctionalGroupsSequence") or []
    out: list[FrameGeom] = []
    for n in range(min(frames, max(len(per_frame_seq), 1))):
        pf = per_frame_seq[n] if n < len(per_frame_seq) else None
        pos = _lookup(pf, shared, "PlanePositionSequence")
        ori = _lookup(pf, shared, "PlaneOrientationSequence")
        meas = _lookup(pf, shared, "PixelMeasuresSequence")
        pvt = _lookup(pf, shared, "PixelValueTransformationSequence")
        out.append(
            FrameGeom(
                position=as_floats(pos.get("ImagePositionPatient"), 3) if pos else None,
                orientation=as_floats(ori.get("ImageOrientationPatient"), 6) if ori else None,
                pixel_spacing=as_floats(meas.get("PixelSpacing"), 2) if meas else None,
                slice_thickness=as_float(meas.get("SliceThickness")) if meas else None,
                spacing_between_slices=(
                    as_float(meas.get("SpacingBetweenSlices")) if meas else None
                ),
                rescale_slope=as_float(pvt.get("RescaleSlope")) if pvt else None,
                rescale_intercept=as_float(pvt.get("RescaleIntercept")) if pvt else None,
            )
        )
    if not out:
        out.append(FrameGeom(None, None, None, None, None, None, None))
    return tuple(out)

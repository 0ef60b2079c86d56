"""Build an ImageVolume from the headers of one DICOM image series (and decode its pixels).

Checks, in order: unreadable pixel data (truncation is found on the header-only path too), one
modality, one matrix size, single-sample pixels, one frame of reference; then the grid
(:mod:`dicomio._geometry`) and the pixels (:mod:`dicomio._pixels`).

References
----------
.. [1] DICOM PS3.3 section C.7.4.1, "Frame of Reference Module".
.. [2] DICOM PS3.3 section C.7.6.3, "Image Pixel Module".
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence

from dicomio._geometry import plan_grid
from dicomio._headers import Header
from dicomio._multiframe import FrameGeom
from dicomio._pixels import decode_volume
from dicomio.discover import SeriesSummary, is_image_header
from dicomio.errors import CorruptFileError, GeometryError, UnsupportedError
from dicomio.model import ImageVolume, SeriesInfo

__all__ = ["build_volume"]

logger = logging.getLogger(__name__)

#: BitsAllocated of the grey-level images read (1, 12 and 64 are not CT/MR pixel formats).
_BITS_ALLOCATED = (8, 16, 32)
#: Transfer syntaxes read (PS3.5 annex A): native little/big endian, deflate, RLE, and the JPEG
#: family (1.2.840.10008.1.2.4.*). Any other UID says nothing about how the data is encoded.
_TRANSFER_SYNTAXES = frozenset(
    {
        "1.2.840.10008.1.2",
        "1.2.840.10008.1.2.1",
        "1.2.840.10008.1.2.1.98",
        "1.2.840.10008.1.2.1.99",
        "1.2.840.10008.1.2.2",
        "1.2.840.10008.1.2.5",
    }
)
_JPEG_FAMILY = "1.2.840.10008.1.2.4."


def _dedupe(headers: Sequence[Header], warnings: list[str]) -> list[Header]:
    seen: dict[str, Header] = {}
    out: list[Header] = []
    for h in headers:
        if h.sop_instance_uid and h.sop_instance_uid in seen:
            other = seen[h.sop_instance_uid]
            if h.sha256 is not None and other.sha256 is not None and h.sha256 != other.sha256:
                raise GeometryError(
                    f"{other.name} and {h.name} carry the same SOP Instance UID but differ; "
                    "expected each instance once"
                )
            warnings.append(f"{h.name} duplicates {other.name} (same SOP Instance UID); ignored")
            continue
        if h.sop_instance_uid:
            seen[h.sop_instance_uid] = h
        out.append(h)
    return out


def _drop_localizers(headers: list[Header], warnings: list[str]) -> list[Header]:
    keep = [h for h in headers if "LOCALIZER" not in h.image_type]
    if keep and len(keep) < len(headers):
        warnings.append(f"ignored {len(headers) - len(keep)} localizer image(s) in the series")
        return keep
    return headers


def _check_uniform(headers: Sequence[Header]) -> None:
    for h in headers:
        if h.pixel_problem:
            raise CorruptFileError(f"{h.name}: {h.pixel_problem}; expected complete pixel data")
        if not h.has_pixels:
            raise CorruptFileError(f"{h.name} has no pixel data; expected an image")
    first = headers[0]
    for h in headers[1:]:
        if (h.rows, h.columns) != (first.rows, first.columns):
            raise GeometryError(
                f"matrix size differs within the series ({first.rows}x{first.columns} in "
                f"{first.name}, {h.rows}x{h.columns} in {h.name}); expected one Rows x Columns"
            )
        if h.modality != first.modality:
            raise GeometryError(
                f"modality differs within the series ({first.modality} and {h.modality}); "
                "expected one modality"
            )
        if (h.bits_allocated, h.pixel_representation) != (
            first.bits_allocated,
            first.pixel_representation,
        ):
            raise UnsupportedError(
                "pixel format differs within the series (BitsAllocated/PixelRepresentation); "
                "expected one pixel format"
            )
    for h in headers:
        tsx = h.transfer_syntax
        if tsx not in _TRANSFER_SYNTAXES and not tsx.startswith(_JPEG_FAMILY):
            raise UnsupportedError(
                f"{h.name} has the transfer syntax {tsx[:64]!r}, which is not a DICOM transfer "
                "syntax this reader knows; expected a standard (native or JPEG/RLE) encoding"
            )
        if h.samples_per_pixel != 1 or h.photometric not in ("MONOCHROME1", "MONOCHROME2"):
            raise UnsupportedError(
                f"{h.name} has {h.samples_per_pixel} samples per pixel "
                f"({h.photometric or 'no photometric interpretation'}); expected grey-level "
                "(MONOCHROME) CT or MR images"
            )
    if first.bits_allocated not in _BITS_ALLOCATED:
        raise UnsupportedError(
            f"{first.name} has BitsAllocated {first.bits_allocated}; expected 8, 16 or 32 bits per "
            "pixel"
        )
    fors = {h.frame_of_reference_uid for h in headers}
    if len(fors) > 1:
        raise GeometryError(
            f"the series spans {len(fors)} frames of reference (FrameOfReferenceUID differs or is "
            "missing in some files); expected one"
        )


def _frames(headers: Sequence[Header]) -> tuple[list[tuple[Header, int, FrameGeom]], list[str]]:
    items: list[tuple[Header, int, FrameGeom]] = []
    names: list[str] = []
    for h in headers:
        if h.multiframe and any(g.position is None for g in h.frame_geoms):
            raise GeometryError(
                f"multi-frame {h.name} has no per-frame plane position (PlanePositionSequence in "
                "its functional groups); expected a position for every frame"
            )
        if len(h.frame_geoms) != h.frames:
            raise GeometryError(
                f"multi-frame {h.name} declares {h.frames} frames but its per-frame functional "
                f"groups describe {len(h.frame_geoms)}; expected one item per frame"
            )
        for n, g in enumerate(h.frame_geoms):
            items.append((h, n, g))
            names.append(f"{h.name} frame {n + 1}" if h.frames > 1 else h.name)
    return items, names


def _thickness(items: Sequence[tuple[Header, int, FrameGeom]], warnings: list[str]) -> float | None:
    values = Counter(
        round(g.slice_thickness if g.slice_thickness is not None else h.slice_thickness or 0.0, 4)
        for h, _, g in items
    )
    for value in [v for v in values if v <= 0]:  # missing, or not a thickness
        values.pop(value)
    if not values:
        return None
    value, _ = values.most_common(1)[0]
    if len(values) > 1:
        warnings.append(
            f"SliceThickness varies ({', '.join(f'{v:g}' for v in sorted(values))} mm); "
            f"reporting the most common, {value:g} mm"
        )
    return float(value)


def build_volume(
    summary: SeriesSummary,
    headers: Sequence[Header],
    *,
    pixels: bool,
    notes: Sequence[str] = (),
) -> ImageVolume:
    """Check the series' headers, place its frames on a grid and optionally decode pixels.

    Raises
    ------
    CorruptFileError, GeometryError, UnsupportedError
        The series cannot be measured; the message names the offending file and what was
        expected.
    """
    warnings = list(notes)
    if not summary.series_instance_uid:
        warnings.append(
            "the series has no SeriesInstanceUID; it is identified by the derived key "
            f"{summary.key}"
        )
    images = [h for h in headers if is_image_header(h)]
    if len(images) < len(headers):
        warnings.append(f"ignored {len(headers) - len(images)} non-image object(s) in the series")
    images = _dedupe(images, warnings)
    images = _drop_localizers(images, warnings)
    _check_uniform(images)
    items, names = _frames(images)
    first = images[0]
    plan = plan_grid([g for _, _, g in items], first.rows, first.columns, names)
    warnings.extend(plan.warnings)
    k_uids = [""] * plan.geometry.shape_zyx[0]
    multiframe = any(h.multiframe for h in images)
    if not multiframe:
        for (h, _, _), k in zip(items, plan.slot, strict=True):
            k_uids[k] = h.sop_instance_uid
    info = SeriesInfo(
        series_instance_uid=summary.series_instance_uid,
        modality=first.modality,
        study_instance_uid=first.study_uid or None,
        frame_of_reference_uid=first.frame_of_reference_uid or None,
        series_description=first.series_description,
        slice_thickness_mm=_thickness(items, warnings),
        phase=summary.phase,
        source_format="dicom",
        instance_count=len(images),
        sop_instance_uids=() if multiframe else tuple(k_uids),
        missing_slices=plan.missing,
        file_sha256=tuple(sorted(h.sha256 for h in images if h.sha256 is not None)),
        warnings=tuple(warnings),
    )
    array = None
    if pixels:
        array = decode_volume(
            items, plan.slot, plan.geometry.shape_zyx, plan.missing, first.modality
        )
    for w in plan.warnings:
        logger.info("%s", w)
    return ImageVolume(plan.geometry, info, array)

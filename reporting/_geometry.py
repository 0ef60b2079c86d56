"""Source-image geometry: which DICOM frame is slice k, and where pixel (row, col) lies in LPS.

The source series is given as pydicom datasets in slice order: one single-frame image per slice,
or one multi-frame (enhanced) image whose frames are the slices. A point on slice ``k`` at pixel
centre ``(row, col)`` maps to patient coordinates by the Image Plane module (PS3.3 C.7.6.2.1.1):
``P = IPP + col * dc * X + row * dr * Y`` with ``X``, ``Y`` the row and column direction cosines
of Image Orientation (Patient) and ``(dr, dc)`` the Pixel Spacing.
"""

from __future__ import annotations

import contextlib
import functools
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from reporting.errors import SourceImageError

if TYPE_CHECKING:
    from pydicom import Dataset

__all__ = [
    "SourceFrame",
    "character_set",
    "completed_sources",
    "copied_header_warnings_ignored",
    "source_frames",
]

_TOL_MM = 1e-3


@dataclass(frozen=True, eq=False)
class SourceFrame:
    """One slice of the source series: its SOP instance (and frame) and its plane."""

    dataset: Dataset
    sop_class_uid: str
    sop_instance_uid: str
    frame_number: int | None
    frame_of_reference_uid: str
    position_lps_mm: npt.NDArray[np.float64]
    row_direction: npt.NDArray[np.float64]
    column_direction: npt.NDArray[np.float64]
    pixel_spacing_mm: tuple[float, float]
    rows: int
    columns: int

    def rc_to_lps(self, points_rc: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Map ``(..., 2)`` pixel-centre ``(row, col)`` coordinates to LPS points ``(..., 3)``."""
        rc = np.asarray(points_rc, dtype=np.float64)
        dr, dc = self.pixel_spacing_mm
        return np.asarray(
            self.position_lps_mm
            + rc[..., 1:2] * dc * self.row_direction
            + rc[..., 0:1] * dr * self.column_direction
        )


def _attr(ds: Dataset | Any, keyword: str, what: str) -> Any:
    value = getattr(ds, keyword, None)
    if value is None or value == "":
        raise SourceImageError(f"source image has no {keyword}; expected {what}")
    return value


def _plane(
    position: Sequence[float], orientation: Sequence[float], spacing: Sequence[float]
) -> tuple[
    npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64], tuple[float, float]
]:
    pos = np.asarray([float(v) for v in position], dtype=np.float64)
    iop = np.asarray([float(v) for v in orientation], dtype=np.float64)
    if pos.shape != (3,) or iop.shape != (6,) or len(spacing) != 2:
        raise SourceImageError("source image plane attributes have the wrong number of values")
    return pos, iop[:3], iop[3:], (float(spacing[0]), float(spacing[1]))


def _multiframe(ds: Dataset) -> list[SourceFrame]:
    from pydicom import Dataset

    shared = getattr(ds, "SharedFunctionalGroupsSequence", [Dataset()])[0]
    per_frame = _attr(ds, "PerFrameFunctionalGroupsSequence", "per-frame functional groups")
    frames = []
    for n, item in enumerate(per_frame, start=1):

        def group(keyword: str, item: Dataset = item, n: int = n) -> Dataset:
            seq = getattr(item, keyword, None) or getattr(shared, keyword, None)
            if not seq:
                raise SourceImageError(f"frame {n} has no {keyword}; expected a plane definition")
            first: Dataset = seq[0]
            return first

        pos, row_dir, col_dir, spacing = _plane(
            group("PlanePositionSequence").ImagePositionPatient,
            group("PlaneOrientationSequence").ImageOrientationPatient,
            group("PixelMeasuresSequence").PixelSpacing,
        )
        frames.append(
            SourceFrame(
                ds,
                str(ds.SOPClassUID),
                str(ds.SOPInstanceUID),
                n,
                str(_attr(ds, "FrameOfReferenceUID", "a frame of reference")),
                pos,
                row_dir,
                col_dir,
                spacing,
                int(ds.Rows),
                int(ds.Columns),
            )
        )
    return frames


def _single(ds: Dataset) -> SourceFrame:
    pos, row_dir, col_dir, spacing = _plane(
        _attr(ds, "ImagePositionPatient", "an image position"),
        _attr(ds, "ImageOrientationPatient", "an image orientation"),
        _attr(ds, "PixelSpacing", "a pixel spacing"),
    )
    return SourceFrame(
        ds,
        str(_attr(ds, "SOPClassUID", "a SOP class")),
        str(_attr(ds, "SOPInstanceUID", "a SOP instance UID")),
        None,
        str(_attr(ds, "FrameOfReferenceUID", "a frame of reference")),
        pos,
        row_dir,
        col_dir,
        spacing,
        int(ds.Rows),
        int(ds.Columns),
    )


#: Modules whose root attributes an SR or SEG copies from its source images (PS3.3 C.7.1.1 Patient,
#: C.7.2.1 General Study, C.7.3.1 General Series, C.12.1 SOP Common).
_COPIED_MODULES = ("patient", "general-study", "general-series", "sop-common")
#: De-identification Method of a source that removed the identity without saying how.
_DEIDENTIFICATION_NOT_RECORDED = "not recorded in the source images"


@functools.cache
def _copied_attributes() -> tuple[tuple[tuple[str, str], ...], tuple[str, ...]]:
    """Return the (keyword, module) of Type 1 and the keywords of Type 2 of :data:`_COPIED_MODULES`.

    Read from the standard's module tables as highdicom ships them, not from a hand list.
    """
    from highdicom._standard_utils import get_module_attribute_map

    table = get_module_attribute_map()
    type1: list[tuple[str, str]] = []
    type2: list[str] = []
    for module in _COPIED_MODULES:
        for item in table[module]:
            if item["path"]:
                continue
            if item["type"] == "1":
                type1.append((str(item["keyword"]), module.replace("-", " ")))
            elif item["type"] == "2":
                type2.append(str(item["keyword"]))
    return tuple(type1), tuple(type2)


def completed_sources(source_images: Sequence[Dataset]) -> list[Dataset]:
    """Return copies of the source datasets with every Type 2 attribute an SR or SEG copies.

    De-identified images routinely lack Type 2 attributes (PatientBirthDate, AccessionNumber,
    ReferringPhysicianName, StudyID, ...). The derived object must carry them, empty when unknown
    (PS3.5 7.4: a Type 2 attribute is present, zero-length when the value is unknown), so each
    missing one is added empty to a copy; the caller's datasets are not changed and values that
    exist are copied as they are. A source whose identity was removed (PatientIdentityRemoved
    ``YES``) without a De-identification Method gets one saying it was not recorded (Type 1C).

    Raises
    ------
    SourceImageError
        A Type 1 attribute of those modules is missing or empty: the standard requires a value,
        and the derived object cannot be made without it.
    """
    type1, type2 = _copied_attributes()
    out: list[Dataset] = []
    for ds in source_images:
        for keyword, module in type1:
            if keyword not in ds or ds[keyword].is_empty:
                raise SourceImageError(
                    f"the source images lack {keyword} (Type 1 of the DICOM {module} module); "
                    "expected a value in every source image"
                )
        fill: dict[str, str | None] = {keyword: None for keyword in type2 if keyword not in ds}
        if (
            str(ds.get("PatientIdentityRemoved", "")).upper() == "YES"
            and not ds.get("DeidentificationMethod")
            and not ds.get("DeidentificationMethodCodeSequence")
        ):
            # Type 1C once identity is removed (PS3.3 C.7.1.1); a de-identifier that left it
            # empty did not say how, and the derived object says just that.
            fill["DeidentificationMethod"] = _DEIDENTIFICATION_NOT_RECORDED
        if not fill:
            out.append(ds)
            continue
        from pydicom import Dataset

        copy = Dataset({element.tag: element for element in ds})
        if hasattr(ds, "file_meta"):
            copy.file_meta = ds.file_meta
        for keyword, value in fill.items():
            setattr(copy, keyword, value)
        out.append(copy)
    return out


def source_frames(source_images: Sequence[Dataset]) -> list[SourceFrame]:
    """Return the slices of the source series, in the given order, checked for consistency.

    Raises
    ------
    SourceImageError
        When a plane attribute is missing, the images mix frames of reference, sizes or
        orientations, or they are not in slice order (positions not monotonic along the normal).
    """
    if not source_images:
        raise SourceImageError("no source images given; expected the series' DICOM datasets")
    if len(source_images) == 1 and int(getattr(source_images[0], "NumberOfFrames", 1) or 1) > 1:
        frames = _multiframe(source_images[0])
    else:
        frames = [_single(ds) for ds in source_images]
    first = frames[0]
    normal = np.cross(first.row_direction, first.column_direction)
    for f in frames[1:]:
        if f.frame_of_reference_uid != first.frame_of_reference_uid:
            raise SourceImageError("source images mix frames of reference; expected one series")
        if (f.rows, f.columns) != (first.rows, first.columns):
            raise SourceImageError("source images differ in size; expected one series")
        if not (
            np.allclose(f.row_direction, first.row_direction, atol=1e-4)
            and np.allclose(f.column_direction, first.column_direction, atol=1e-4)
        ):
            raise SourceImageError("source images differ in orientation; expected one series")
    if len(frames) > 1:
        along = np.array([float(f.position_lps_mm @ normal) for f in frames])
        steps = np.diff(along)
        if not (np.all(steps > _TOL_MM) or np.all(steps < -_TOL_MM)):
            raise SourceImageError(
                "source images are not in slice order; expected them sorted by position "
                "along the slice normal, as the masks' z axis"
            )
    return frames


@contextlib.contextmanager
def copied_header_warnings_ignored() -> Iterator[None]:
    """Ignore highdicom's warning about a one-component person name copied from the source.

    SR and SEG copy the patient and study modules of the source images as they are; a
    de-identified source often has names such as ``Anonymous`` that highdicom flags. That is
    the source's value, not something this package can or should change.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore",
            message=r"The string .* is unlikely to represent the intended person name",
            category=UserWarning,
        )
        yield


def character_set(ds: Dataset) -> str | list[str] | None:
    """Return the source's Specific Character Set to copy, or ``None`` for the default repertoire.

    Some scanners write the attribute empty; highdicom refuses an empty value, and an empty value
    means the default repertoire (PS3.3 C.12.1.1.2), which is the same as leaving it out.
    """
    value = ds.get("SpecificCharacterSet")
    if not value:
        return None
    if isinstance(value, str):
        return value
    items = [str(v) for v in value]
    return items if len(items) > 1 else items[0]

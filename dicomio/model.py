"""Domain objects that leave :mod:`dicomio`: grid geometry, image volumes and label maps.

Conventions (see ARCHITECTURE.md):

- Arrays are indexed ``(z, y, x)``: slice, row, column.
- ``affine`` is a 4x4 matrix that maps a homogeneous voxel index ``(k, j, i, 1)`` -- slice, row,
  column, in the array's axis order -- to DICOM patient coordinates ``(x, y, z, 1)`` in mm (LPS).
  Its columns 0..2 are therefore the slice step, the row step (down a column) and the column step
  (along a row), each scaled by the spacing along that axis.
- ``spacing_zyx_mm`` is the length of those three columns: slice spacing (from positions, never
  from SliceThickness), row spacing, column spacing.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt

from dicomio.errors import GeometryError, LabelError

__all__ = [
    "Geometry",
    "ImageVolume",
    "LabelMap",
    "Phase",
    "Region",
    "Segment",
    "SeriesInfo",
    "SeriesSummary",
    "nonzero_box",
    "union_box",
]


#: A box of a grid: one ``slice`` (step 1) per axis, ``(z, y, x)``.
Region = tuple[slice, slice, slice]


def nonzero_box(array: npt.NDArray[np.generic]) -> Region | None:
    """Smallest box holding every non-zero voxel of a 3-D array; ``None`` when there is none.

    Three reductions with no full-size temporary: the slices first, then rows and columns within
    the slices found.
    """

    def span(hits: npt.NDArray[np.bool_]) -> slice | None:
        idx = np.flatnonzero(hits)
        return slice(int(idx[0]), int(idx[-1]) + 1) if idx.size else None

    z = span(np.any(array, axis=(1, 2)))
    if z is None:
        return None
    sub = array[z]
    y, x = span(np.any(sub, axis=(0, 2))), span(np.any(sub, axis=(0, 1)))
    assert y is not None and x is not None
    return (z, y, x)


def union_box(boxes: Iterable[Region | None]) -> Region | None:
    """Smallest box holding all given boxes (``None`` entries are ignored)."""
    found = [b for b in boxes if b is not None]
    if not found:
        return None
    return (
        slice(min(b[0].start for b in found), max(b[0].stop for b in found)),
        slice(min(b[1].start for b in found), max(b[1].stop for b in found)),
        slice(min(b[2].start for b in found), max(b[2].stop for b in found)),
    )


def _readonly(array: npt.NDArray[np.generic]) -> npt.NDArray[np.generic]:
    view = array.view()
    view.flags.writeable = False
    return view


class Phase(enum.StrEnum):
    """Contrast phase of a series in a multiphase liver study."""

    NON_CONTRAST = "non_contrast"
    ARTERIAL = "arterial"
    PORTAL_VENOUS = "portal_venous"
    DELAYED = "delayed"
    UNKNOWN = "unknown"


@dataclass(frozen=True, eq=False)
class Geometry:
    """A regular voxel grid placed in patient space.

    Parameters
    ----------
    shape_zyx
        Number of slices, rows and columns.
    affine
        4x4 index ``(k, j, i)`` to LPS mm matrix, as described in the module docstring.
    """

    shape_zyx: tuple[int, int, int]
    affine: npt.NDArray[np.float64]

    def __post_init__(self) -> None:
        affine = np.asarray(self.affine, dtype=np.float64)
        if affine.shape != (4, 4) or not np.all(np.isfinite(affine)):
            raise GeometryError(f"expected a finite 4x4 affine, got shape {affine.shape}")
        if np.linalg.matrix_rank(affine[:3, :3]) < 3:
            raise GeometryError("the affine is singular: two voxel axes are parallel or zero")
        if len(self.shape_zyx) != 3 or min(self.shape_zyx) < 1:
            raise GeometryError(f"expected a 3-D shape with positive sizes, got {self.shape_zyx}")
        object.__setattr__(self, "shape_zyx", tuple(int(n) for n in self.shape_zyx))
        object.__setattr__(self, "affine", _readonly(affine))

    @property
    def spacing_zyx_mm(self) -> tuple[float, float, float]:
        """Voxel spacing along (slice, row, column) in mm."""
        norms = np.linalg.norm(self.affine[:3, :3], axis=0)
        return (float(norms[0]), float(norms[1]), float(norms[2]))

    @property
    def origin_lps_mm(self) -> tuple[float, float, float]:
        """Patient position of the centre of voxel (0, 0, 0)."""
        o = self.affine[:3, 3]
        return (float(o[0]), float(o[1]), float(o[2]))

    @property
    def directions(self) -> npt.NDArray[np.float64]:
        """3x3 matrix whose columns are unit vectors of the slice, row and column axes."""
        return np.asarray(self.affine[:3, :3] / np.linalg.norm(self.affine[:3, :3], axis=0))

    @property
    def voxel_volume_mm3(self) -> float:
        """Volume of one voxel: |det| of the affine's linear part (exact for sheared grids)."""
        return float(abs(np.linalg.det(self.affine[:3, :3])))

    def index_to_lps(self, index_zyx: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Map voxel indices ``(..., 3)`` in (k, j, i) order to LPS points in mm."""
        idx = np.asarray(index_zyx, dtype=np.float64)
        return np.asarray(idx @ self.affine[:3, :3].T + self.affine[:3, 3])

    def lps_to_index(self, points_lps: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Map LPS points ``(..., 3)`` in mm to continuous voxel indices in (k, j, i) order."""
        pts = np.asarray(points_lps, dtype=np.float64)
        inv = np.linalg.inv(self.affine)
        return np.asarray(pts @ inv[:3, :3].T + inv[:3, 3])

    def same_grid(self, other: Geometry, tol_mm: float = 1e-3) -> bool:
        """Whether both grids have the same shape and place every voxel within ``tol_mm``."""
        if self.shape_zyx != other.shape_zyx:
            return False
        corners = np.array(
            [
                [k, j, i]
                for k in (0, self.shape_zyx[0] - 1)
                for j in (0, self.shape_zyx[1] - 1)
                for i in (0, self.shape_zyx[2] - 1)
            ],
            dtype=np.float64,
        )
        diff = self.index_to_lps(corners) - other.index_to_lps(corners)
        return bool(np.max(np.abs(diff)) <= tol_mm)

    def describe(self) -> str:
        """Short human-readable description, used in error messages."""
        sz, sy, sx = self.spacing_zyx_mm
        o = self.origin_lps_mm
        return (
            f"{self.shape_zyx[2]}x{self.shape_zyx[1]}x{self.shape_zyx[0]} voxels (x*y*z) of "
            f"{sx:.4g}x{sy:.4g}x{sz:.4g} mm at origin ({o[0]:.2f}, {o[1]:.2f}, {o[2]:.2f})"
        )


@dataclass(frozen=True, slots=True)
class SeriesInfo:
    """What is known about a series besides its voxels. Never holds patient identifiers."""

    series_instance_uid: str | None
    modality: str
    study_instance_uid: str | None = None
    frame_of_reference_uid: str | None = None
    series_description: str = ""
    slice_thickness_mm: float | None = None
    phase: Phase = Phase.UNKNOWN
    source_format: str = "dicom"  # "dicom" | "nifti" | "nrrd"
    instance_count: int = 0
    #: SOP Instance UID of each slice, in array (k) order; empty for non-DICOM or multi-frame input.
    sop_instance_uids: tuple[str, ...] = ()
    #: Indices k of slices inserted where the acquisition had none (missing slices); empty normally.
    missing_slices: tuple[int, ...] = ()
    #: SHA-256 hex digests of the input files, sorted; what a result records as its inputs.
    file_sha256: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, eq=False)
class ImageVolume:
    """A series on its grid. ``pixels`` is ``None`` when only the header was read.

    CT pixels are Hounsfield units (int16 when the rescale is integral, float32 otherwise); MR is
    as stored. The array is read-only.
    """

    geometry: Geometry
    info: SeriesInfo
    pixels: npt.NDArray[np.generic] | None = None

    def __post_init__(self) -> None:
        if self.pixels is not None:
            if tuple(self.pixels.shape) != self.geometry.shape_zyx:
                raise GeometryError(
                    f"pixel array shape {self.pixels.shape} does not match the grid "
                    f"{self.geometry.shape_zyx}"
                )
            object.__setattr__(self, "pixels", _readonly(self.pixels))

    @property
    def spacing_zyx_mm(self) -> tuple[float, float, float]:
        """Voxel spacing in mm, (z, y, x)."""
        return self.geometry.spacing_zyx_mm

    @property
    def affine(self) -> npt.NDArray[np.float64]:
        """Voxel index (z, y, x) to patient LPS mm, as a 4 x 4 matrix."""
        return self.geometry.affine


@dataclass(frozen=True, slots=True)
class Segment:
    """One structure of a label map: a label value, SEG segment number or RTSTRUCT ROI number."""

    number: int
    name: str = ""
    #: True when the source says the segment is exactly one lesion (distinct SEG segment / ROI).
    single_lesion: bool = False


@dataclass(frozen=True, eq=False)
class LabelMap:
    """Segmentation resampled onto a series grid.

    Either ``labels`` (an integer array, one value per voxel; segment numbers are label values)
    or ``masks`` (one boolean array per segment number; segments may overlap) is set.
    """

    geometry: Geometry
    segments: tuple[Segment, ...]
    labels: npt.NDArray[np.integer] | None = None
    masks: Mapping[int, npt.NDArray[np.bool_]] | None = None
    source_kind: str = "labelmap"  # "labelmap" | "mask" | "seg" | "rtstruct"
    file_sha256: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if (self.labels is None) == (self.masks is None):
            raise ValueError("a LabelMap holds exactly one of labels or masks")
        shape = self.geometry.shape_zyx
        if self.labels is not None:
            if tuple(self.labels.shape) != shape:
                raise LabelError(f"label array shape {self.labels.shape} != grid {shape}")
            object.__setattr__(self, "labels", _readonly(self.labels))
        if self.masks is not None:
            ro = {}
            for number, m in self.masks.items():
                if tuple(m.shape) != shape:
                    raise LabelError(
                        f"mask of segment {number} has shape {m.shape} != grid {shape}"
                    )
                ro[int(number)] = _readonly(np.asarray(m, dtype=bool))
            object.__setattr__(self, "masks", ro)

    def segment(self, number: int) -> Segment:
        """Return the segment numbered ``number``; :class:`LabelError` when there is none."""
        for s in self.segments:
            if s.number == number:
                return s
        raise LabelError(
            f"label {number} does not exist; available: "
            + ", ".join(f"{s.number}" + (f" ({s.name})" if s.name else "") for s in self.segments)
        )

    def bounding_box(self) -> Region | None:
        """Smallest box of the grid holding every labelled voxel; ``None`` when nothing is.

        Measuring inside this box instead of the whole grid gives the same counts, components
        and diameters (nothing lies outside it) at a fraction of the memory.
        """
        cached: tuple[Region | None] | None = self.__dict__.get("_bounding_box")
        if cached is None:
            if self.labels is not None:
                box = nonzero_box(self.labels)
            else:
                assert self.masks is not None
                box = union_box(nonzero_box(m) for m in self.masks.values())
            cached = (box,)
            object.__setattr__(self, "_bounding_box", cached)  # the arrays are read-only
        return cached[0]

    def mask(self, numbers: Iterable[int], region: Region | None = None) -> npt.NDArray[np.bool_]:
        """Union of the given segments as a boolean (z, y, x) array, of ``region`` if given."""
        nums = [int(n) for n in numbers]
        for n in nums:
            self.segment(n)
        box = region if region is not None else (slice(None),) * 3
        if self.labels is not None:
            labels = self.labels[box]
            if not nums:
                return np.zeros(labels.shape, dtype=bool)
            if len(nums) == 1:
                return np.asarray(labels == nums[0])
            return np.isin(labels, nums)
        assert self.masks is not None
        shape = tuple(
            len(range(*axis.indices(n)))
            for axis, n in zip(box, self.geometry.shape_zyx, strict=True)
        )
        out = np.zeros(shape, dtype=bool)
        for n in nums:
            out |= self.masks[n][box]
        return out


@dataclass(frozen=True, slots=True)
class SeriesSummary:
    """One series found in an input: what a listing shows and what selection needs.

    ``key`` is the SeriesInstanceUID, or a derived stable UID when the files' UID is empty
    (``series_instance_uid`` is then ``None``). ``instance_count`` counts files, ``frame_count``
    frames. Never holds patient identifiers.
    """

    key: str
    series_instance_uid: str | None
    study_instance_uid: str | None
    modality: str
    series_description: str
    series_number: int | None
    sop_class_uid: str
    instance_count: int
    frame_count: int
    is_image: bool
    acquisition_time: datetime | None
    files: tuple[Path, ...]
    phase: Phase = Phase.UNKNOWN
    contrast_agent: str | None = None
    contrast_route: str = ""
    contrast_delay_s: float | None = None

    def describe(self) -> str:
        """One line for listings and error messages: UID, modality, description, count."""
        uid = self.series_instance_uid or f"{self.key} (derived: the files' UID is empty)"
        desc = self.series_description or "no description"
        count = (
            f"{self.frame_count} frames in {self.instance_count} file(s)"
            if self.frame_count != self.instance_count
            else f"{self.instance_count} slice(s)"
            if self.is_image
            else f"{self.instance_count} file(s)"
        )
        return f"{uid}: {self.modality or '?'}, {desc!r}, {count}"

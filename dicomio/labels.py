"""Segmentations onto a series grid, and the choice of the liver and tumour labels.

- :func:`read_labels` reads a NIfTI/NRRD label map, a DICOM SEG or a DICOM RTSTRUCT (told apart by
  content, not by file name) onto the grid of a series, as a :class:`~dicomio.model.LabelMap`.
- :func:`read_mask` reads a binary mask file (NIfTI/NRRD; non-zero is inside).
- :func:`select_segments` resolves the ``--liver-label`` / ``--tumor-label`` values
  (contracts/measure.md).

NIfTI/NRRD files are aligned to the series by patient coordinates (:mod:`dicomio._resample`): the
same grid is used as is; a grid covering the same physical region is resampled with nearest
neighbour (a warning says so); anything else is an error naming both geometries. Label values must
be integers (a float file with fractional values is refused rather than truncated). The segments of
a label map are the non-zero values present in the file (names only from 3D Slicer ``.seg.nrrd``
headers).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Literal, cast

import numpy as np
import numpy.typing as npt

from dicomio._label_dicom import read_dataset, sop_class_of
from dicomio._label_io import ImageFile, looks_like_image_file, read_image_file
from dicomio._label_names import (
    DEFAULT_LIVER_PATTERNS,
    DEFAULT_TUMOR_PATTERNS,
    is_single_lesion_name,
    matches_any,
)
from dicomio._resample import align_to_grid, covers_same_region, describe_pair, same_grid
from dicomio.archive import ArchiveLimits
from dicomio.errors import InputNotFoundError, LabelError, UnsupportedError
from dicomio.hashing import sha256_file
from dicomio.model import Geometry, ImageVolume, LabelMap, Segment, nonzero_box
from dicomio.series import read_series

__all__ = ["Role", "read_labels", "read_mask", "read_series_and_labels", "select_segments"]

logger = logging.getLogger(__name__)

Role = Literal["liver", "tumor"]
#: Default label values of plain label maps (contracts/measure.md).
DEFAULT_LABEL_VALUES: dict[str, int] = {"liver": 1, "tumor": 2}
_SLAB_VOXELS = 1 << 22
_INTEGER = re.compile(r"^[+-]?\d+$")


def _head(path: Path) -> bytes:
    if not path.is_file():
        raise InputNotFoundError(f"segmentation file {path.name} does not exist or is not a file")
    with open(path, "rb") as fh:
        return fh.read(132)


def _is_dicom_head(head: bytes) -> bool:
    return head[128:132] == b"DICM"


def _slabs(array: npt.NDArray[np.generic]) -> list[npt.NDArray[np.generic]]:
    """Return views of ``array`` along its first axis, each of about :data:`_SLAB_VOXELS` voxels."""
    per_slice = max(1, int(np.prod(array.shape[1:])))
    step = max(1, _SLAB_VOXELS // per_slice)
    return [array[i : i + step] for i in range(0, array.shape[0], step)]


def _check_integral(array: npt.NDArray[np.generic], file_name: str, what: str) -> None:
    if array.dtype.kind in "biu":
        return
    if array.dtype.kind != "f":
        raise LabelError(f"{file_name} holds {array.dtype} values; expected integer {what}")
    for slab in _slabs(array):
        if not np.all(np.isfinite(slab)):
            raise LabelError(f"{file_name} holds NaN or infinite values; expected integer {what}")
        frac = slab != np.rint(slab)
        if np.any(frac):
            example = float(slab[frac].flat[0])
            raise LabelError(
                f"{file_name} holds fractional values (e.g. {example:.4g}); expected integer "
                f"{what} (threshold probability maps before measuring)"
            )


def _as_labels(array: npt.NDArray[np.generic], file_name: str) -> npt.NDArray[np.integer]:
    _check_integral(array, file_name, "label values")
    if array.dtype.kind == "b":
        return array.astype(np.uint8)
    if array.dtype.kind == "f":
        lo, hi = float(array.min()), float(array.max())
        for dtype in (np.int16, np.int32, np.int64):
            info = np.iinfo(dtype)
            if info.min <= lo and hi <= info.max:
                return array.astype(dtype)
        raise LabelError(f"{file_name} holds label values beyond the 64-bit integer range")
    return cast("npt.NDArray[np.integer]", array)


def _present_values(array: npt.NDArray[np.integer]) -> list[int]:
    """Sorted non-zero values in ``array``, slab by slab to keep memory small.

    Only the non-zero voxels are sorted: label maps are mostly background, so this is far cheaper
    than ``np.unique`` or ``np.bincount`` over the whole volume.
    """
    found: set[int] = set()
    for slab in _slabs(array):
        inside = slab[slab != 0]
        if inside.size:
            found.update(int(v) for v in np.unique(inside))
    return sorted(found)


def _aligned(
    image: ImageFile, array: npt.NDArray[np.generic], target: ImageVolume, file_name: str
) -> tuple[npt.NDArray[np.generic], list[str]]:
    out = align_to_grid(array, image.geometry, target.geometry)
    if out is None:
        raise _other_region(file_name, image.geometry, target)
    notes: list[str] = []
    if not same_grid(image.geometry, target.geometry):
        notes.append(
            f"{file_name} was resampled with nearest neighbour onto the series grid (its grid: "
            f"{image.geometry.describe()})"
        )
        logger.info("resampled %s onto the series grid", file_name)
    return out, notes


#: A label or mask file may hold at most this many times the series' voxels (a grid twice as fine
#: along each axis over the same region); larger declared grids are refused before decompressing.
MAX_VOXELS_PER_SERIES_VOXEL = 8
#: :func:`read_series_and_labels` decompresses a label file before the series' grid is known when
#: it declares at most this many bytes of voxel data per byte of the series input on disk.
EARLY_BYTES_PER_INPUT_BYTE = 4


def _grid_check(file_name: str, target: ImageVolume) -> Callable[[Geometry, int], None]:
    """Refuse a label file by its header alone: another region, or too large a grid."""

    def accept(geometry: Geometry, nbytes: int) -> None:
        wanted = int(np.prod(target.geometry.shape_zyx, dtype=np.int64))
        declared = int(np.prod(geometry.shape_zyx, dtype=np.int64))
        if declared > MAX_VOXELS_PER_SERIES_VOXEL * wanted:
            raise LabelError(
                f"{file_name} declares a grid of {declared} voxels ({nbytes} bytes of voxel "
                f"data), more than {MAX_VOXELS_PER_SERIES_VOXEL} x the series' {wanted} voxels; "
                "expected a label map on the series' grid or a comparable one over the same region"
            )
        if not same_grid(geometry, target.geometry) and not covers_same_region(
            geometry, target.geometry
        ):
            raise _other_region(file_name, geometry, target)

    return accept


def _other_region(file_name: str, geometry: Geometry, target: ImageVolume) -> LabelError:
    return LabelError(
        f"{file_name} does not cover the same physical region as the series: "
        f"{describe_pair(geometry, target.geometry)}; expected the series' grid, or a "
        "grid covering the same region (resampled with nearest neighbour)"
    )


def _labelmap_from_image(path: Path, head: bytes, target: ImageVolume, sha: str) -> LabelMap:
    image = read_image_file(path, head, accept=_grid_check(path.name, target))
    return _place_image(image, path, target, sha)


def _place_image(image: ImageFile, path: Path, target: ImageVolume, sha: str) -> LabelMap:
    """Return a label file's voxels (already read) on the series grid.

    Its grid is checked again: cheap, and the early reader of :func:`read_series_and_labels` may
    have read it before the series.
    """
    _grid_check(path.name, target)(image.geometry, int(image.array.nbytes))
    labels = _as_labels(image.array, path.name)
    box = nonzero_box(labels)  # label maps are mostly background: look for values in the box
    present = _present_values(labels[box]) if box is not None else []
    values = sorted(set(present) | {v for v in image.names if v != 0})
    aligned, notes = _aligned(image, labels, target, path.name)
    segments = tuple(
        Segment(
            number=v,
            name=image.names.get(v, ""),
            single_lesion=is_single_lesion_name(image.names.get(v, "")),
        )
        for v in values
    )
    return LabelMap(
        geometry=target.geometry,
        segments=segments,
        labels=cast("npt.NDArray[np.integer]", aligned),
        source_kind="labelmap",
        file_sha256=(sha,),
        warnings=tuple(notes),
    )


def read_labels(path: Path, target: ImageVolume) -> LabelMap:
    """Read a segmentation file onto the grid of ``target``.

    Parameters
    ----------
    path
        A NIfTI (``.nii``, ``.nii.gz``) or NRRD label map, a DICOM SEG (Segmentation Storage or
        Label Map Segmentation Storage) or a DICOM RTSTRUCT; the kind is told by content.
    target
        The series (its geometry, SOP Instance UIDs and frame of reference; pixels not needed).

    Returns
    -------
    LabelMap
        On ``target.geometry``; ``labels`` for label maps and LABELMAP SEGs, ``masks`` (one per
        segment, overlaps allowed) for BINARY/FRACTIONAL SEGs and RTSTRUCTs. ``file_sha256`` is
        the file's SHA-256.

    Raises
    ------
    InputNotFoundError, NotDicomError, CorruptFileError, UnsupportedError, LabelError
        The file is missing, of an unknown kind, broken, an unsupported DICOM object, or does not
        fit the series.
    """
    path = Path(path)
    head = _head(path)
    sha = sha256_file(path)
    if not _is_dicom_head(head) and looks_like_image_file(path, head):
        return _labelmap_from_image(path, head, target, sha)
    from dicomio.rtstruct import RTSTRUCT_SOP_CLASS_UID, labelmap_from_rtstruct
    from dicomio.seg import LABELMAP_SEG_SOP_CLASS_UID, SEG_SOP_CLASS_UID, labelmap_from_seg

    ds = read_dataset(path)
    sop = sop_class_of(ds)
    if sop in (SEG_SOP_CLASS_UID, LABELMAP_SEG_SOP_CLASS_UID):
        return labelmap_from_seg(ds, target, file_name=path.name, file_sha256=(sha,))
    if sop == RTSTRUCT_SOP_CLASS_UID:
        return labelmap_from_rtstruct(ds, target, file_sha256=(sha,), file_name=path.name)
    raise UnsupportedError(
        f"{path.name} is a DICOM object of SOP class {sop}; expected a segmentation: DICOM SEG, "
        "DICOM RTSTRUCT, or a NIfTI/NRRD label map"
    )


def read_mask(path: Path, target: ImageVolume) -> npt.NDArray[np.bool_]:
    """Read a binary mask file (NIfTI/NRRD; non-zero is inside) onto the grid of ``target``.

    Alignment is as for label maps (same grid, or nearest neighbour over the same region).
    Fractional values are refused: a probability map must be thresholded first.
    """
    path = Path(path)
    head = _head(path)
    if _is_dicom_head(head) or not looks_like_image_file(path, head):
        raise UnsupportedError(
            f"{path.name} is not a NIfTI/NRRD file; expected a binary mask image (use --labels "
            "for DICOM SEG or RTSTRUCT files)"
        )
    image = read_image_file(path, head, accept=_grid_check(path.name, target))
    _check_integral(image.array, path.name, "mask values (0 outside, non-zero inside)")
    mask = np.asarray(image.array != 0)
    aligned, _ = _aligned(image, mask, target, path.name)
    return np.asarray(aligned, dtype=bool)


def _available(labelmap: LabelMap) -> str:
    if not labelmap.segments:
        return "none (the segmentation is empty)"
    return ", ".join(f"{s.number}" + (f" ({s.name})" if s.name else "") for s in labelmap.segments)


def _option(role: Role) -> str:
    return "--liver-label" if role == "liver" else "--tumor-label"


def _by_default(labelmap: LabelMap, role: Role) -> list[int]:
    option = _option(role)
    if labelmap.source_kind in ("labelmap", "mask"):
        value = DEFAULT_LABEL_VALUES[role]
        if any(s.number == value for s in labelmap.segments):
            return [value]
        raise LabelError(
            f"the label map has no label {value} (the default {role} label); available labels: "
            f"{_available(labelmap)}; choose one with {option} N, or {option} none"
        )
    if role == "liver":
        found = [
            s.number
            for s in labelmap.segments
            if matches_any(s.name, DEFAULT_LIVER_PATTERNS)
            and not matches_any(s.name, DEFAULT_TUMOR_PATTERNS)
        ]
        patterns: tuple[str, ...] = DEFAULT_LIVER_PATTERNS
    else:
        found = [s.number for s in labelmap.segments if matches_any(s.name, DEFAULT_TUMOR_PATTERNS)]
        patterns = DEFAULT_TUMOR_PATTERNS
    if found:
        return found
    raise LabelError(
        f"no segment name matches the default {role} name(s) {' | '.join(patterns)}; available: "
        f"{_available(labelmap)}; choose with {option} NAME or NUMBER (* wildcards allowed), "
        f"or {option} none"
    )


def select_segments(labelmap: LabelMap, spec: str | int | None, role: Role) -> list[int]:
    """Resolve a ``--liver-label`` / ``--tumor-label`` value to segment numbers.

    Parameters
    ----------
    labelmap
        What :func:`read_labels` returned.
    spec
        ``None`` for the default; an integer (label value, SEG segment number, RTSTRUCT ROI
        number), as ``int`` or text; ``"none"`` for no such structure; otherwise a name matched
        case-insensitively against the segment names, where ``*`` matches any text.
    role
        ``"liver"`` or ``"tumor"``: which default applies, and the wording of errors.

    Returns
    -------
    list of int
        Segment numbers in the label map's order; empty for ``none``.

    Raises
    ------
    LabelError
        The label does not exist, no name matches, or a default finds nothing; the message lists
        the available labels (number and name) and how to choose.
    """
    if role not in ("liver", "tumor"):
        raise ValueError(f"role must be 'liver' or 'tumor', got {role!r}")
    if spec is None:
        return _by_default(labelmap, role)
    if isinstance(spec, bool) or not isinstance(spec, int | str):
        raise TypeError(f"a label is an int or a str, got {type(spec).__name__}")
    text = str(spec).strip()
    if text.lower() == "none":
        return []
    option = _option(role)
    if _INTEGER.match(text):
        number = int(text)
        if any(s.number == number for s in labelmap.segments):
            return [number]
        raise LabelError(
            f"{option} {text}: there is no label {number}; available: {_available(labelmap)}"
        )
    if not text:
        raise LabelError(f"{option} is empty; expected a label number, a name, or none")
    found = [s.number for s in labelmap.segments if matches_any(s.name, (text,))]
    if found:
        return found
    raise LabelError(
        f"{option} {text!r}: no segment name matches; available: {_available(labelmap)}"
    )


class _SeriesFailed(Exception):
    """The series could not be read: the label file's reader stops waiting (never shown)."""


def _input_bytes(path: Path) -> int:
    """Bytes of a series input on disk: a file's size, or the sum over a folder's files."""
    if path.is_file():
        return path.stat().st_size
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.stat(os.path.join(root, name)).st_size
    return total


def read_series_and_labels(
    series: Path,
    labels: Path,
    series_uid: str | None = None,
    *,
    pixels: bool = False,
    limits: ArchiveLimits | None = None,
) -> tuple[ImageVolume, LabelMap]:
    """:func:`~dicomio.series.read_series`, then :func:`read_labels` onto it, in less time.

    A NIfTI/NRRD label file is read in a thread while the series' headers are scanned (ITK's
    reader releases the GIL). Its header is judged before any voxel is decompressed, as in
    :func:`read_labels`: a file declaring at most :data:`EARLY_BYTES_PER_INPUT_BYTE` bytes of voxel
    data per byte of the series input is decompressed at once; a larger one waits for the series'
    grid and its exact check. The result, the errors and their order are those of the two calls
    one after the other: a series error first, then a label error.
    """
    series, labels = Path(series), Path(labels)
    head = _head(labels) if labels.is_file() else b""
    if not labels.is_file() or _is_dicom_head(head) or not looks_like_image_file(labels, head):
        volume = read_series(series, series_uid, pixels=pixels, limits=limits)
        return volume, read_labels(labels, volume)
    budget = EARLY_BYTES_PER_INPUT_BYTE * _input_bytes(series) if series.exists() else 0
    target: list[ImageVolume | None] = []
    known = threading.Event()

    def accept(geometry: Geometry, nbytes: int) -> None:
        if nbytes <= budget:
            return
        known.wait()
        if not target or target[0] is None:
            raise _SeriesFailed
        _grid_check(labels.name, target[0])(geometry, nbytes)

    def load() -> tuple[ImageFile, str]:
        return read_image_file(labels, head, accept=accept), sha256_file(labels)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="lb-labels") as pool:
        pending = pool.submit(load)
        try:
            volume = read_series(series, series_uid, pixels=pixels, limits=limits)
        except BaseException:
            target.append(None)
            known.set()
            with contextlib.suppress(BaseException):
                pending.result()
            raise
        target.append(volume)
        known.set()
        image, sha = pending.result()
    return volume, _place_image(image, labels, volume, sha)

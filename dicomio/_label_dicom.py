"""What the SEG and RTSTRUCT readers share: reading the file, placing a frame or contour.

Both find the slice a SEG frame or an RTSTRUCT contour belongs to.

Placement rules (the same for SEG frames and RTSTRUCT contours):

1. By reference: a referenced SOP Instance UID that is one of the series' slices gives the slice.
   The object's own plane position is then only checked: when it lies more than half a slice
   away from the referenced slice, the result carries a warning (the TotalSegmentator-AIDE
   RTSTRUCT puts its contours up to 0.95 slice off-plane; its references are right).
2. A reference to an image that is not in the series is an error (counted over the whole object),
   since the segmentation was drawn on other images.
3. Without references (or when the series has no SOP Instance UIDs: NIfTI input, multi-frame
   images), by position: the nearest slice plane, when the plane lies within half a slice of the
   grid. The FrameOfReferenceUIDs must then agree when both are known.

References
----------
.. [1] DICOM PS3.3 C.7.6.16.2.6 (Derivation Image Functional Group), C.8.8.6 (ROI Contour
   Module: Contour Image Sequence), C.7.4.1 (Frame of Reference Module).
"""

from __future__ import annotations

import logging
import mmap
import os
import struct
import warnings
import zlib
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from dicomio.errors import CorruptFileError, DicomIOError, LabelError, NotDicomError
from dicomio.model import ImageVolume

__all__ = ["SliceLocator", "malformed_as_corrupt", "read_dataset", "sop_class_of"]

logger = logging.getLogger(__name__)

#: Half a slice: the largest distance from a slice plane for placement by position.
POSITION_TOL_SLICES = 0.5
#: Slack on the "inside the grid" test, in slices.
_SLACK = 1e-3


#: What pydicom, highdicom, numpy and zlib raise on malformed data met while reading a dataset's
#: values: pydicom parses sequences and converts values lazily, on first access, so a broken
#: element surfaces wherever the reader first touches it.
LIBRARY_ERRORS: tuple[type[Exception], ...] = (
    ArithmeticError,
    AttributeError,
    EOFError,
    LookupError,
    NotImplementedError,
    OSError,
    RuntimeError,
    TypeError,
    ValueError,
    struct.error,
    zlib.error,
)


def _library_errors() -> tuple[type[Exception], ...]:
    """:data:`LIBRARY_ERRORS` plus pydicom's and sqlite3's exception classes.

    highdicom indexes a SEG's frames in an in-memory SQLite database, which refuses values of
    the wrong type (a multi-valued UID). pydicom is imported only when needed.
    """
    import sqlite3

    from pydicom.errors import BytesLengthException, InvalidDicomError

    return (*LIBRARY_ERRORS, BytesLengthException, InvalidDicomError, sqlite3.Error)


@contextmanager
def malformed_as_corrupt(what: str, file_name: str) -> Iterator[None]:
    """Re-raise a library error met while reading a dataset as :class:`CorruptFileError`.

    DicomIOErrors pass unchanged. The message names the exception type only: library messages
    may quote element values (patient names among them). The UserWarnings pydicom and highdicom
    raise while converting odd values lazily are silenced (other warnings, numpy's among them,
    are not: they would point at a bug).
    """
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=UserWarning)
            yield
    except DicomIOError:
        raise
    except BaseException as exc:
        panic = type(exc).__name__ == "PanicException"  # a Rust decoder's panic (pyo3)
        if not (panic or isinstance(exc, _library_errors())):
            raise
        raise CorruptFileError(
            f"{what} {file_name} holds malformed or inconsistent data ({type(exc).__name__} while "
            f"reading it); expected a valid {what}"
        ) from exc


def _refuse_truncated(path: Path) -> None:
    """Raise CorruptFileError when a little-endian Part 10 file ends inside an element."""
    from dicomio._fastheader import Truncated, scan_strict
    from dicomio._headers import truncated_error

    try:
        with open(path, "rb") as fh:
            if os.fstat(fh.fileno()).st_size < 132:
                return
            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                scan_strict(mm)
    except Truncated as exc:
        raise truncated_error(path, exc) from exc
    except OSError:
        return  # unreadable: pydicom reports it


def read_dataset(path: Path, *, stop_before_pixels: bool = False) -> Any:
    """Read a whole DICOM file with pydicom (also files without preamble/meta header).

    ``stop_before_pixels`` leaves the (Float/Double Float) Pixel Data out, for header-only reads.

    Warnings pydicom raises about odd but readable values are logged, not propagated. A Part 10
    file whose elements run past its end is refused first: pydicom would read it as a shorter
    dataset (an RTSTRUCT cut inside its ROI sequence reads as one without ROIs).
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    _refuse_truncated(path)

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ds = pydicom.dcmread(path, force=True, stop_before_pixels=stop_before_pixels)
            sop_class = sop_class_of(ds)
    except InvalidDicomError as exc:
        raise NotDicomError(f"{path.name} is not a DICOM file") from exc
    except Exception as exc:  # pydicom raises many types on truncated or garbled input
        raise CorruptFileError(
            f"{path.name} could not be parsed as DICOM (truncated or invalid data)"
        ) from exc
    for w in caught:
        logger.debug("pydicom warned while reading %s: %s", path.name, w.message)
    if not sop_class and getattr(ds, "preamble", None) is not None:
        raise CorruptFileError(
            f"{path.name} has the DICM prefix but no SOP Class UID (neither in the dataset nor "
            "in its file meta; truncated?); expected a complete DICOM file"
        )
    if not sop_class:
        raise NotDicomError(
            f"{path.name} is neither DICOM nor a NIfTI/NRRD image; expected a NIfTI/NRRD label "
            "map, a DICOM SEG or a DICOM RTSTRUCT"
        )
    return ds


def sop_class_of(ds: Any) -> str:
    """SOP Class UID from the dataset, else from the file meta header ("" when absent)."""
    uid = str(ds.get("SOPClassUID", "") or "")
    if not uid:
        meta = getattr(ds, "file_meta", None)
        if meta is not None:
            uid = str(meta.get("MediaStorageSOPClassUID", "") or "")
    return uid


class SliceLocator:
    """Maps references and positions to slice indices k of a target series.

    Parameters
    ----------
    target
        The series the segmentation is read onto.
    what
        ``"SEG"`` or ``"RTSTRUCT"``, used in messages.
    item
        What is placed (``"frame"``, ``"contour"``), used in messages.

    Notes
    -----
    A SOP Instance UID that occurs more than once in the series (a multi-frame image listed once
    per frame) cannot name a slice; references to it are placed by position instead.
    """

    def __init__(self, target: ImageVolume, what: str, item: str = "item") -> None:
        self.target = target
        self.geometry = target.geometry
        self.what = what
        self.item = item
        uids = [u for u in target.info.sop_instance_uids if u]
        counts = Counter(uids)
        self.ambiguous = {u for u, n in counts.items() if n > 1}
        self.uid_to_k = {
            uid: k
            for k, uid in enumerate(target.info.sop_instance_uids)
            if uid and uid not in self.ambiguous
        }
        self.missing_refs: set[str] = set()
        self.all_refs: set[str] = set()
        self.by_position = 0
        self.by_reference = 0
        self.off_plane: list[float] = []

    @property
    def slice_spacing_mm(self) -> float:
        return self.geometry.spacing_zyx_mm[0]

    def continuous_k(self, points_lps: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Continuous slice index of LPS points ``(..., 3)``."""
        return np.asarray(self.geometry.lps_to_index(points_lps)[..., 0], dtype=np.float64)

    def locate(self, refs: list[str], k_plane: float | None, where: str) -> int | None:
        """Slice index for an item with referenced SOP Instance UIDs and a plane position.

        ``k_plane`` is the continuous slice index of the item's plane (``None`` when unknown).
        Returns ``None`` when the item references images that are not in the series (they are
        recorded in :attr:`missing_refs`; the caller raises once all items were seen).
        """
        refs = [r for r in refs if r and r not in self.ambiguous]
        self.all_refs.update(refs)
        if refs and self.uid_to_k:
            ks = {self.uid_to_k[r] for r in refs if r in self.uid_to_k}
            missing = [r for r in refs if r not in self.uid_to_k]
            if missing:
                self.missing_refs.update(missing)
                return None
            if len(ks) != 1:
                raise LabelError(
                    f"{self.what} {where} references {len(ks)} different slices; expected one"
                )
            k = ks.pop()
            self.by_reference += 1
            if k_plane is not None:
                self.off_plane.append(abs(k_plane - k))
            return k
        if k_plane is None:
            raise LabelError(
                f"{self.what} {where} has neither a referenced image of the series nor a plane "
                "position; expected one of them to place it on the series grid"
            )
        n = self.geometry.shape_zyx[0]
        k = int(np.floor(k_plane + 0.5))
        if not (-POSITION_TOL_SLICES - _SLACK <= k_plane <= n - 1 + POSITION_TOL_SLICES + _SLACK):
            raise LabelError(
                f"{self.what} {where} lies at slice position {k_plane:.2f} of a {n}-slice series; "
                "expected a position within the series (the segmentation does not fit the series)"
            )
        self.by_position += 1
        return min(max(k, 0), n - 1)

    def check_references(self, refs: list[str]) -> None:
        """Raise at once when any of ``refs`` is not in the series (a pre-check before placing)."""
        if not self.uid_to_k:
            return
        refs = [r for r in refs if r and r not in self.ambiguous]
        self.all_refs.update(refs)
        self.missing_refs.update(r for r in refs if r not in self.uid_to_k)
        self.raise_if_missing()

    def raise_if_missing(self) -> None:
        """Raise :class:`LabelError` when any item referenced images that are not in the series."""
        if not self.missing_refs:
            return
        n = len(self.missing_refs)
        total = len(self.all_refs)
        raise LabelError(
            f"{self.what} references {n} image(s) that are not in the series ({total - n} of the "
            f"{total} referenced images are in it); expected the series the segmentation was "
            "drawn on"
        )

    def frame_of_reference_warnings(self, object_for_uid: str) -> list[str]:
        """Check the FrameOfReferenceUIDs; return warnings, or raise when placement needs them.

        A mismatch is an error when anything was placed by position; when everything was placed
        by referenced SOP instance, the references win and the mismatch is only reported.
        """
        series_for = self.target.info.frame_of_reference_uid or ""
        if not object_for_uid or not series_for:
            if self.by_position:
                return [
                    f"{self.what} placed by position without a frame of reference to compare "
                    "(the series or the segmentation has no FrameOfReferenceUID)"
                ]
            return []
        if object_for_uid == series_for:
            return []
        if self.by_position:
            raise LabelError(
                f"{self.what} is in another frame of reference than the series (different "
                "FrameOfReferenceUID) and is placed by position; expected the series' frame of "
                "reference"
            )
        return [
            f"{self.what} FrameOfReferenceUID differs from the series'; all items were placed by "
            "their referenced images"
        ]

    def off_plane_warnings(self) -> list[str]:
        """Warning when items placed by reference lie more than half a slice off their slice."""
        far = [d for d in self.off_plane if d > POSITION_TOL_SLICES]
        if not far:
            return []
        worst_mm = max(far) * self.slice_spacing_mm
        return [
            f"{len(far)} {self.what} {self.item}(s) lie more than half a slice (up to "
            f"{worst_mm:.3g} mm) from the plane of the image they reference; placed by the "
            "reference"
        ]

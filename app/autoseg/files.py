"""File helpers of :mod:`app.autoseg.autoseg`: a stored series as a folder, seeds, label maps.

A multi-label map (liver 1 and tumour 2 merged into an existing segmentation) is written here as
a gzip-compressed NRRD in pure numpy, because :func:`dicomio.labelwrite.write_label_image`
writes binary (0/1) maps only; binary results use that writer. The NRRD carries the series'
affine exactly (``space directions`` are the affine's columns for x, y, z; ``space origin`` its
translation), so :func:`dicomio.read_labels` reads it back on the series grid.

References
----------
.. [1] NRRD file format, version 4: http://teem.sourceforge.net/nrrd/format.html (``space:
   left-posterior-superior``, ``space directions``, ``space origin``, ``encoding: gzip``).
"""

from __future__ import annotations

import gzip
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

import dicomio
from app.errors import InvalidRequestError
from dicomio.errors import GeometryError
from segmentation.errors import SeedError

__all__ = ["read_ct", "seed_index", "write_labels_nrrd"]

#: Largest label value a uint16 NRRD holds.
_MAX_LABEL = 65535


def read_ct(folder: Path, series_uid: str) -> dicomio.ImageVolume:
    """Read the series in ``folder`` with its pixels in HU; refuses anything but CT."""
    volume = dicomio.read_series(folder, series_uid, pixels=True)
    modality = volume.info.modality.upper()
    if modality and modality != "CT":
        raise InvalidRequestError(
            f"semi-automatic segmentation works on CT in HU; series {series_uid} is {modality}"
        )
    if volume.pixels is None:  # pragma: no cover - read_series(pixels=True) always sets them
        raise InvalidRequestError(f"series {series_uid} has no pixel data")
    return volume


def seed_index(
    geometry: dicomio.Geometry, point_lps_mm: Sequence[float], field: str
) -> npt.NDArray[np.float64]:
    """Return the fractional (z, y, x) voxel index of an LPS point.

    Raises :class:`SeedError` when the point is off the image.
    """
    index = np.asarray(geometry.lps_to_index(np.asarray(point_lps_mm, dtype=np.float64)))
    shape = np.asarray(geometry.shape_zyx)
    rounded = np.floor(index + 0.5)
    if np.any(rounded < 0) or np.any(rounded >= shape):
        point = ", ".join(f"{v:g}" for v in point_lps_mm)
        voxel = ", ".join(f"{v:.1f}" for v in index)
        raise SeedError(
            f"{field} ({point}) mm lies outside the image: voxel ({voxel}) of "
            f"{geometry.shape_zyx} (z, y, x); expected DICOM patient coordinates (LPS) in mm "
            "as a viewer reports a click"
        )
    return np.asarray(index, dtype=np.float64)


def _vector(values: npt.ArrayLike) -> str:
    return "(" + ",".join(f"{float(v):.17g}" for v in np.asarray(values).ravel()) + ")"


def write_labels_nrrd(labels: npt.ArrayLike, geometry: dicomio.Geometry, path: Path) -> None:
    """Write an integer ``(z, y, x)`` label array on ``geometry`` as a gzip NRRD.

    The bytes depend on the labels and the geometry only (gzip without a time stamp), so the same
    result is stored once in the content-addressed blob store.

    Raises
    ------
    GeometryError
        The array is not on the grid, or the grid's axes are not orthogonal.
    InvalidRequestError
        Negative or too large label values.
    """
    array = np.asarray(labels)
    if tuple(array.shape) != geometry.shape_zyx:
        raise GeometryError(
            f"label shape {array.shape} does not match the grid {geometry.shape_zyx}"
        )
    directions = geometry.directions
    if not np.allclose(directions.T @ directions, np.eye(3), atol=1e-4):
        raise GeometryError(
            "the series grid is sheared (axes not orthogonal); a NRRD label map cannot store it"
        )
    low, high = (int(array.min()), int(array.max())) if array.size else (0, 0)
    if low < 0 or high > _MAX_LABEL:
        raise InvalidRequestError(
            f"label values {low}..{high} do not fit a label map; expected 0..{_MAX_LABEL}"
        )
    dtype, name = (np.dtype("u1"), "uint8") if high <= 255 else (np.dtype("<u2"), "uint16")
    affine = geometry.affine
    nz, ny, nx = geometry.shape_zyx
    header = "\n".join(
        [
            "NRRD0004",
            "# label map written by liverburden (app.autoseg.autoseg)",
            f"type: {name}",
            "dimension: 3",
            "space: left-posterior-superior",
            f"sizes: {nx} {ny} {nz}",
            # Our affine's columns 0, 1, 2 step along (z, y, x); NRRD lists the fastest axis first.
            "space directions: " + " ".join(_vector(affine[:3, c]) for c in (2, 1, 0)),
            "kinds: domain domain domain",
            "endian: little",
            "encoding: gzip",
            f"space origin: {_vector(affine[:3, 3])}",
            "",
            "",
        ]
    )
    payload = np.ascontiguousarray(array, dtype=dtype).tobytes(order="C")
    with open(path, "wb") as fh:
        fh.write(header.encode("ascii"))
        fh.write(gzip.compress(payload, compresslevel=6, mtime=0))

"""Read a NIfTI, NRRD or MetaImage file as an ImageVolume through SimpleITK.

SimpleITK reports geometry in LPS with its index order ``(x, y, z)``; its direction matrix has
one column per index axis. Our affine is indexed ``(k, j, i) = (z, y, x)``, so its columns are
SimpleITK's direction columns 2, 1, 0 scaled by spacing z, y, x. ``GetArrayFromImage`` already
returns ``(z, y, x)``. With ``pixels=False`` only the header is read (``ReadImageInformation``).

References
----------
.. [1] SimpleITK documentation, "Fundamental Concepts: Images" (origin, spacing, direction).
.. [2] NIfTI-1 data format (qform/sform), converted by ITK to LPS.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from dicomio._nifti_check import check_nifti_length
from dicomio.errors import CorruptFileError, GeometryError, UnsupportedError
from dicomio.hashing import sha256_file
from dicomio.model import Geometry

__all__ = ["IMAGE_SUFFIXES", "image_format", "read_image_file", "sitk_geometry"]

#: File name endings read with SimpleITK, and the format name recorded in SeriesInfo.
IMAGE_SUFFIXES: dict[str, str] = {
    ".nii.gz": "nifti",
    ".nii": "nifti",
    ".nrrd": "nrrd",
    ".nhdr": "nrrd",
    ".mha": "metaimage",
    ".mhd": "metaimage",
}


def image_format(path: Path) -> str | None:
    """``"nifti"``, ``"nrrd"`` or ``"metaimage"`` by the file name's ending, else ``None``."""
    name = path.name.lower()
    for suffix, fmt in IMAGE_SUFFIXES.items():
        if name.endswith(suffix):
            return fmt
    return None


def _affine(size: Any, spacing: Any, origin: Any, direction: Any, dim: int) -> np.ndarray:
    d = np.asarray(direction, dtype=np.float64).reshape(dim, dim)
    sp = np.asarray(spacing, dtype=np.float64)
    org = np.asarray(origin, dtype=np.float64)
    if dim == 2:
        d3 = np.eye(3)
        d3[:2, :2] = d
        d = d3
        sp = np.append(sp, 1.0)
        org = np.append(org, 0.0)
    affine = np.eye(4)
    affine[:3, 0] = d[:, 2] * sp[2]
    affine[:3, 1] = d[:, 1] * sp[1]
    affine[:3, 2] = d[:, 0] * sp[0]
    affine[:3, 3] = org
    return affine


def sitk_geometry(reader_or_image: Any) -> Geometry:
    """Return the :class:`Geometry` of a SimpleITK image, or of a reader that read its header."""
    obj = reader_or_image
    dim = obj.GetDimension()
    size = tuple(int(v) for v in obj.GetSize())
    if dim not in (2, 3):
        raise UnsupportedError(f"{dim}-D image of size {size}; expected a 3-D image")
    affine = _affine(size, obj.GetSpacing(), obj.GetOrigin(), obj.GetDirection(), dim)
    shape = (size[2] if dim == 3 else 1, size[1], size[0])
    return Geometry(shape, affine)


def read_image_file(path: Path, *, pixels: bool) -> tuple[Geometry, npt.NDArray[Any] | None, str]:
    """Geometry, the (z, y, x) pixel array (``None`` unless ``pixels``) and the file's SHA-256.

    Raises
    ------
    CorruptFileError
        SimpleITK cannot read the file, or a NIfTI file holds less voxel data than it declares.
    UnsupportedError
        Not a 3-D scalar image.
    """
    # Imported here: the DICOM path never needs SimpleITK (and its import is slow).
    sitk: Any = importlib.import_module("SimpleITK")

    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError as exc:
        raise CorruptFileError(
            f"{path.name!r} cannot be read as a {image_format(path) or 'NIfTI/NRRD'} image "
            f"({_first_line(exc, path)}); expected an intact image file"
        ) from exc
    if reader.GetNumberOfComponents() != 1:
        raise UnsupportedError(
            f"{path.name!r} has {reader.GetNumberOfComponents()} components per voxel; expected "
            "a scalar (grey-level) image"
        )
    try:
        geometry = sitk_geometry(reader)
    except GeometryError as exc:
        raise GeometryError(f"{path.name!r}: {exc}") from exc
    array: npt.NDArray[Any] | None = None
    if pixels:
        check_nifti_length(path)  # ITK zero-fills missing NIfTI voxels without an error
        try:
            image = reader.Execute()
        except RuntimeError as exc:
            raise CorruptFileError(
                f"pixel data of {path.name!r} cannot be read ({_first_line(exc, path)})"
            ) from exc
        array = sitk.GetArrayFromImage(image)
        if array.ndim == 2:
            array = array[np.newaxis]
    return geometry, array, sha256_file(path)


def _first_line(exc: BaseException, path: Path) -> str:
    """Return the last non-empty line of a SimpleITK error, a full path reduced to its name."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    text = lines[-1] if lines else type(exc).__name__
    text = text.replace(str(path), path.name).replace(str(path.parent), "")
    return text[:160]

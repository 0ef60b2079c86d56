"""Write a binary label map (0/1) on a series grid as NIfTI or NRRD, with the grid's geometry.

The inverse of :mod:`dicomio._sitk_image`: our affine's columns 0, 1, 2 are the steps along
(k, j, i) = (z, y, x), so SimpleITK's direction columns (x, y, z) are our columns 2, 1, 0
divided by the spacing. ITK writes LPS to NIfTI's RAS itself. DICOM SEG output is built by
:func:`reporting.build_seg`.

References
----------
.. [1] SimpleITK documentation, "Fundamental Concepts: Images" (origin, spacing, direction).
.. [2] NIfTI-1 data format (qform/sform); NRRD "space: left-posterior-superior".
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from dicomio.errors import GeometryError, UnsupportedError
from dicomio.model import Geometry

__all__ = ["LABEL_SUFFIXES", "write_label_image"]

logger = logging.getLogger(__name__)

#: File name endings :func:`write_label_image` writes.
LABEL_SUFFIXES = (".nii.gz", ".nii", ".nrrd")


def write_label_image(
    mask: npt.ArrayLike, geometry: Geometry, path: Path, *, label: int = 1
) -> None:
    """Write ``mask`` (non-zero inside) as a uint8 label image (``label`` inside, 0 outside).

    Parameters
    ----------
    mask
        ``(z, y, x)`` array on the grid of ``geometry``.
    geometry
        The series grid; its affine becomes the file's origin, spacing and direction.
    path
        Output file ending in ``.nii.gz``, ``.nii`` or ``.nrrd`` (compressed).

    Raises
    ------
    UnsupportedError
        Another file ending.
    GeometryError
        The mask is not on the grid, or the grid's axes are not orthogonal (NIfTI and NRRD via
        ITK store orthonormal directions only).
    OSError
        The file cannot be written.
    """
    path = Path(path)
    if not path.name.lower().endswith(LABEL_SUFFIXES):
        raise UnsupportedError(
            f"cannot write a label map to {path.name!r}; expected a name ending in "
            + ", ".join(LABEL_SUFFIXES)
        )
    array = np.asarray(mask)
    if tuple(array.shape) != geometry.shape_zyx:
        raise GeometryError(
            f"mask shape {array.shape} does not match the grid {geometry.shape_zyx}"
        )
    directions = geometry.directions
    if not np.allclose(directions.T @ directions, np.eye(3), atol=1e-4):
        raise GeometryError(
            "the series grid is sheared (axes not orthogonal); a NIfTI/NRRD label map cannot "
            "store it: write a DICOM SEG instead"
        )
    sitk: Any = importlib.import_module("SimpleITK")  # no type hints; imported when used
    image = sitk.GetImageFromArray(np.where(array != 0, np.uint8(label), np.uint8(0)))
    sz, sy, sx = geometry.spacing_zyx_mm
    image.SetSpacing((sx, sy, sz))
    image.SetOrigin(geometry.origin_lps_mm)
    image.SetDirection(tuple(float(v) for v in directions[:, [2, 1, 0]].ravel()))
    try:
        sitk.WriteImage(image, str(path), useCompression=True)
    except RuntimeError as exc:
        raise OSError(f"cannot write {path.name}: SimpleITK refused the file") from exc
    logger.info("wrote label map of %d voxels inside", int((array != 0).sum()))

"""Read NIfTI/NRRD label maps and masks with SimpleITK, and tell file kinds apart by content.

SimpleITK returns every image in LPS patient coordinates (it converts NIfTI's RAS), with
``origin`` the centre of voxel (0, 0, 0) and ``direction`` the 3x3 matrix whose columns are the
unit vectors of the image's x, y and z index axes. The array from ``GetArrayFromImage`` is indexed
``(z, y, x)``, so the model's affine (index ``(k, j, i)``) has the z, y, x axis vectors as its
columns 0, 1, 2.

3D Slicer segmentation files (``.seg.nrrd``) carry segment names in header fields
``SegmentN_Name`` / ``SegmentN_LabelValue``; single-layer files give their names to the segments.

References
----------
.. [1] NIfTI-1 data format, https://nifti.nimh.nih.gov/nifti-1 (qform/sform, RAS+).
.. [2] NRRD file format, https://teem.sourceforge.net/nrrd/format.html (space, space directions).
.. [3] 3D Slicer segmentation file format, https://slicer.readthedocs.io (Segmentations module,
   "seg.nrrd").
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import re
import tempfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from dicomio._nifti_check import check_nifti_length
from dicomio.errors import CorruptFileError, LabelError, NotDicomError
from dicomio.model import Geometry

__all__ = ["IMAGE_SUFFIXES", "ImageFile", "looks_like_image_file", "read_image_file"]

logger = logging.getLogger(__name__)

#: File name endings read with SimpleITK (lower case).
IMAGE_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd")
_GZIP_MAGIC = b"\x1f\x8b"
_SLICER_NAME = re.compile(r"^Segment(\d+)_Name$")


@dataclass(frozen=True, eq=False)
class ImageFile:
    """A label/mask file's voxels on its own grid, and any segment names its header gives."""

    array: npt.NDArray[np.generic]
    geometry: Geometry
    names: dict[int, str]
    format: str  # "nifti" | "nrrd" | "metaimage"


def looks_like_image_file(path: Path, head: bytes) -> bool:
    """Whether a file is a NIfTI/NRRD/MetaImage file (by its name, or by its first bytes)."""
    name = path.name.lower()
    if name.endswith(IMAGE_SUFFIXES):
        return True
    return head.startswith((b"NRRD", _GZIP_MAGIC)) or _nifti_magic(head)


def _nifti_magic(head: bytes) -> bool:
    """NIfTI-1/2: sizeof_hdr (348 or 540) as the first int32, in either byte order."""
    return len(head) >= 4 and head[:4] in (
        (348).to_bytes(4, "little"),
        (348).to_bytes(4, "big"),
        (540).to_bytes(4, "little"),
        (540).to_bytes(4, "big"),
    )


def _suffix_by_content(path: Path, head: bytes) -> str | None:
    """File name ending that makes SimpleITK read a file named without one (``None``: unknown)."""
    if head.startswith(b"NRRD"):
        return ".nrrd"
    if _nifti_magic(head):
        return ".nii"
    if head.startswith(_GZIP_MAGIC):
        try:
            with gzip.open(path, "rb") as fh:
                inner = fh.read(4)
        except (OSError, EOFError, zlib.error):
            return None
        return ".nii.gz" if _nifti_magic(inner) else None
    return None


@contextlib.contextmanager
def _readable_name(path: Path, head: bytes) -> Iterator[Path]:
    """``path``, or a symbolic link to it whose name has the ending its content calls for.

    SimpleITK picks its reader by file name; blob stores and uploads may have none.
    """
    if path.name.lower().endswith(IMAGE_SUFFIXES):
        yield path
        return
    suffix = _suffix_by_content(path, head)
    if suffix is None:
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="liverburden-label-") as tmp:
        link = Path(tmp) / f"labels{suffix}"
        link.symlink_to(path.resolve())
        yield link


def _format_of(path: Path, head: bytes) -> str:
    name = path.name.lower()
    if name.endswith((".nrrd", ".nhdr")) or head.startswith(b"NRRD"):
        return "nrrd"
    if name.endswith((".mha", ".mhd")):
        return "metaimage"
    return "nifti"


def _geometry(image: Any) -> Geometry:
    size = image.GetSize()
    n = len(size)  # 3, or 4 for a single-volume 4-D header (its first three axes are used)
    spacing = np.asarray(image.GetSpacing(), dtype=np.float64)[:3]
    direction = np.asarray(image.GetDirection(), dtype=np.float64).reshape(n, n)[:3, :3]
    affine = np.eye(4)
    # Columns of ``direction`` are the x, y, z index axes; the model's are (k, j, i) = (z, y, x).
    affine[:3, 0] = direction[:, 2] * spacing[2]
    affine[:3, 1] = direction[:, 1] * spacing[1]
    affine[:3, 2] = direction[:, 0] * spacing[0]
    affine[:3, 3] = np.asarray(image.GetOrigin(), dtype=np.float64)[:3]
    return Geometry(shape_zyx=(int(size[2]), int(size[1]), int(size[0])), affine=affine)


def _slicer_names(image: Any) -> dict[int, str]:
    """Segment names of a single-layer 3D Slicer ``.seg.nrrd``; empty for other files."""
    keys = set(image.GetMetaDataKeys())
    names: dict[int, str] = {}
    layers: set[str] = set()
    for key in sorted(keys):
        match = _SLICER_NAME.match(key)
        if match is None:
            continue
        idx = match.group(1)
        value_key = f"Segment{idx}_LabelValue"
        if value_key not in keys:
            continue
        try:
            value = int(image.GetMetaData(value_key).strip())
        except ValueError:
            continue
        names[value] = image.GetMetaData(key).strip()
        layer_key = f"Segment{idx}_Layer"
        if layer_key in keys:
            layers.add(image.GetMetaData(layer_key).strip())
    if len(layers) > 1:
        return {}
    return names


def _voxel_bytes(sitk: Any, reader: Any) -> int:
    """Bytes per voxel the header declares (all components); 8 per component when unknown."""
    per_component = {
        sitk.sitkUInt8: 1,
        sitk.sitkInt8: 1,
        sitk.sitkUInt16: 2,
        sitk.sitkInt16: 2,
        sitk.sitkUInt32: 4,
        sitk.sitkInt32: 4,
        sitk.sitkFloat32: 4,
    }.get(reader.GetPixelID(), 8)
    return per_component * max(1, int(reader.GetNumberOfComponents()))


def _check_layout(file_name: str, components: int, size: tuple[int, ...]) -> None:
    """Return a scalar 3-D image, or a 4-D one holding a single volume."""
    if components != 1:
        raise LabelError(
            f"{file_name} has {components} values per voxel; expected a scalar label map (one "
            "value per voxel)"
        )
    if not (len(size) == 3 or (len(size) == 4 and size[3] == 1)):
        raise LabelError(
            f"{file_name} is a {len(size)}-D image of size {tuple(size)}; expected a 3-D label "
            "map (several layers or time points are not supported)"
        )


class _ItkPixels:
    """Owner of an ITK image whose pixel buffer a NumPy array uses without a copy.

    ``np.asarray(owner)`` makes an array whose ``base`` is this object, so the image lives as long
    as any view of it (``GetArrayViewFromImage`` alone leaves that to the caller).
    """

    def __init__(self, sitk: Any, image: Any) -> None:
        self._image = image
        self._view = sitk.GetArrayViewFromImage(image)
        self.__array_interface__ = self._view.__array_interface__


def read_image_file(
    path: Path,
    head: bytes = b"",
    *,
    accept: Callable[[Geometry, int], None] | None = None,
) -> ImageFile:
    """Read a NIfTI/NRRD/MetaImage file as a 3-D scalar array with its grid.

    ``accept(geometry, nbytes)``, when given, is called with the grid and the size of the voxel
    data that the header declares, *before* any voxel is read or decompressed: it raises to refuse
    the file (a label map of another region, or a gzip bomb declaring a huge grid). The returned
    array is read-only and uses ITK's buffer (no copy).

    Raises
    ------
    NotDicomError
        SimpleITK does not recognise the file format.
    CorruptFileError
        The file is recognised but cannot be read (truncated, bad header); a NIfTI file with
        less voxel data than its header declares (ITK would fill the rest with zeros).
    LabelError
        The image is not a 3-D scalar image (2-D, 4-D with more than one volume, vector pixels).
    """
    import SimpleITK as sitk

    try:
        with _readable_name(path, head) as readable:
            reader: Any = sitk.ImageFileReader()  # type: ignore[no-untyped-call]
            reader.SetFileName(str(readable))
            reader.ReadImageInformation()
            _check_layout(path.name, int(reader.GetNumberOfComponents()), reader.GetSize())
            if accept is not None:
                size = tuple(int(n) for n in reader.GetSize())
                accept(_geometry(reader), int(np.prod(size)) * _voxel_bytes(sitk, reader))
            check_nifti_length(path)
            image: Any = reader.Execute()
    except RuntimeError as exc:
        if "could not create io object" in str(exc).lower():
            raise NotDicomError(
                f"{path.name} is neither DICOM nor a NIfTI/NRRD image; expected a NIfTI (.nii, "
                ".nii.gz) or NRRD label map, a DICOM SEG or a DICOM RTSTRUCT"
            ) from exc
        raise CorruptFileError(
            f"{path.name} could not be read as a NIfTI/NRRD image (truncated or invalid header)"
        ) from exc
    if image.GetDimension() == 4:  # a single volume (the header's layout was checked above)
        image = image[:, :, :, 0]
    geometry = _geometry(image)
    names = _slicer_names(image)
    array = np.asarray(_ItkPixels(sitk, image))
    array.flags.writeable = False
    fmt = _format_of(path, head)
    logger.debug("read %s label file %s on %s", fmt, path.name, geometry.describe())
    return ImageFile(array=array, geometry=geometry, names=names, format=fmt)

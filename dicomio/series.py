"""Read one CT/MR series -- DICOM folder, file or zip, or a NIfTI/NRRD image -- as an ImageVolume.

``read_series`` never picks a series silently: when the input holds several image series and
no UID is given, :class:`~dicomio.errors.SeriesSelectionError` lists them. With
``pixels=False`` only headers are read (the fast path of a measurement, which needs the grid but
not the intensities); the files are still hashed, and truncated pixel data is still detected.

References
----------
.. [1] DICOM PS3.3 section C.7.6.2, "Image Plane Module".
.. [2] contracts/measure.md, "--series" (selection rules).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from dicomio._sitk_image import image_format, read_image_file
from dicomio._volume import build_volume
from dicomio.archive import ArchiveLimits, open_input
from dicomio.discover import IMAGE_SOP_CLASSES, SeriesSummary, scan_input
from dicomio.errors import InputNotFoundError, SeriesSelectionError, UnsupportedError
from dicomio.model import ImageVolume, SeriesInfo

__all__ = ["read_series", "select_series"]

logger = logging.getLogger(__name__)

_LIST_MAX = 20


def _listing(summaries: Sequence[SeriesSummary]) -> str:
    shown = [s.describe() for s in summaries[:_LIST_MAX]]
    if len(summaries) > _LIST_MAX:
        shown.append(f"... and {len(summaries) - _LIST_MAX} more")
    return "; ".join(shown)


def select_series(summaries: Sequence[SeriesSummary], series_uid: str | None) -> SeriesSummary:
    """Return the one image series to read: the one named by ``series_uid``, or the only one.

    ``series_uid`` matches a SeriesInstanceUID or a derived key (series whose UID is empty).

    Raises
    ------
    SeriesSelectionError
        No image series, several without a UID to choose, or the UID is not found / not an
        image series.
    UnsupportedError
        The input holds images, but none of a supported kind (CT or MR).
    """
    images = [s for s in summaries if s.is_image]
    if series_uid is not None:
        uid = series_uid.strip()
        match = [s for s in summaries if uid in (s.key, s.series_instance_uid)]
        if not match:
            raise SeriesSelectionError(
                f"series UID {uid} is not in the input; found: {_listing(summaries)}"
            )
        chosen = next((s for s in match if s.is_image), None)
        if chosen is None:
            raise SeriesSelectionError(
                f"series {uid} is {match[0].modality or 'a non-image object'} "
                f"(SOP class {match[0].sop_class_uid or 'unknown'}), not a CT/MR image series"
            )
        return chosen
    if len(images) == 1:
        return images[0]
    if not images:
        kinds = sorted({s.modality or "?" for s in summaries})
        other_images = [
            s
            for s in summaries
            if s.sop_class_uid not in IMAGE_SOP_CLASSES
            and s.frame_count
            and s.modality not in ("SEG", "RTSTRUCT", "SR", "RTPLAN", "RTDOSE", "KO", "PR")
        ]
        if other_images:
            raise UnsupportedError(
                f"the input holds {', '.join(kinds)} objects but no CT or MR image series "
                f"(found: {_listing(summaries)}); expected CT or MR images"
            )
        raise SeriesSelectionError(
            f"the input holds no CT/MR image series, only {', '.join(kinds)} "
            f"({_listing(summaries)}); expected a CT or MR series"
        )
    raise SeriesSelectionError(
        f"the input holds {len(images)} image series; expected one, or a series UID to choose "
        f"from: {_listing(images)}"
    )


def _read_image_file(path: Path, fmt: str, pixels: bool) -> ImageVolume:
    geometry, array, sha = read_image_file(path, pixels=pixels)
    info = SeriesInfo(
        series_instance_uid=None,
        modality="",
        source_format=fmt,
        instance_count=1,
        file_sha256=(sha,),
    )
    return ImageVolume(geometry, info, array)


def read_series(
    path: Path,
    series_uid: str | None = None,
    *,
    pixels: bool = True,
    limits: ArchiveLimits | None = None,
) -> ImageVolume:
    """Read one CT/MR series into a geometry-correct :class:`~dicomio.model.ImageVolume`.

    Parameters
    ----------
    path
        A folder of DICOM files (recursive, any names), one DICOM file, a zip of DICOM files, or
        a NIfTI (``.nii``, ``.nii.gz``) / NRRD (``.nrrd``, ``.nhdr``) / MetaImage image.
    series_uid
        The SeriesInstanceUID (or derived key) to read when the input holds several series.
    pixels
        Decode pixel data (HU for CT). ``False`` reads headers only: geometry, identifiers and
        hashes, with ``ImageVolume.pixels`` set to ``None``.
    limits
        Zip limits (see :class:`~dicomio.archive.ArchiveLimits`).

    Returns
    -------
    ImageVolume
        Slices sorted along the slice normal, spacing from positions, missing slices inserted
        and listed in ``info.missing_slices``.

    Raises
    ------
    InputNotFoundError, ArchiveError, NotDicomError, CorruptFileError, UnsupportedError,
    SeriesSelectionError, GeometryError
        Each with a one-line message saying what was wrong and what was expected.
    """
    path = Path(path)
    if not path.exists():
        raise InputNotFoundError(
            f"series input {path.name!r} does not exist; expected a folder, DICOM file, zip, or "
            "NIfTI/NRRD image"
        )
    fmt = image_format(path) if path.is_file() else None
    if fmt is not None:
        return _read_image_file(path, fmt, pixels)
    with open_input(path, limits=limits) as inputs:
        scan = scan_input(inputs, hash_files=True)
        summary = select_series(scan.summaries, series_uid)
        if scan.corrupt:
            raise scan.corrupt[0]
        volume = build_volume(summary, scan.groups[summary.key], pixels=pixels, notes=scan.warnings)
    logger.info(
        "read series: %d slices of %dx%d, %s",
        *volume.geometry.shape_zyx,
        "with pixels" if pixels else "header only",
    )
    return volume

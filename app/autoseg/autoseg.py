"""Semi-automatic segmentation of a stored series, stored as a segmentation of that series.

The service's side of issue 8 (the CLI is ``liverburden segment``, contracts/segment.md): the
liver from one click, a lesion from a click or from the reader's long-axis caliper. Each call

1. looks up the series (404 when unknown) and, for a lesion, the segmentation it adds to;
2. links the series' stored instances into a scratch folder and reads them with pixels (CT only);
3. converts the LPS points (mm, as a viewer reports a click) to voxel indices, refusing points off
   the image, and runs :mod:`segmentation`;
4. writes a label map on the series grid -- the liver as label 1 (NIfTI); a lesion as label 2,
   either alone (NIfTI) or merged into a copy of the base segmentation (NRRD), whose liver
   (labels 1 and 2) also constrains the lesion;
5. stores it in the blob store as a NEW :class:`~app.db.models.Segmentation` row (segmentations
   are immutable; the base is never changed), exactly like ``POST /v1/segmentations``, so its id
   is a ``segmentation_upload_id`` for ``POST /v1/measurements``; and appends an audit event
   ``segmentation.auto_created`` in the same transaction.

No database transaction is held while the pixels are read and segmented, and at most
:data:`MAX_CONCURRENT` segmentations run at once per process (each holds a CT volume and a few
working copies in memory).
"""

from __future__ import annotations

import logging
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import ndimage
from sqlalchemy.orm import Session

import dicomio
from app.auth import audit
from app.autoseg.files import read_ct, seed_index, write_labels_nrrd
from app.db import repo
from app.db.models import Segmentation
from app.errors import InvalidRequestError
from app.store.blobs import BlobStore, link_file
from app.version import ALGORITHM_VERSION
from dicomio.labelwrite import write_label_image
from recist.diameters import measure_diameters
from recist.errors import RecistError

__all__ = [
    "LIVER_LABEL",
    "MAX_CONCURRENT",
    "TUMOR_LABEL",
    "AutoLesion",
    "AutoLiver",
    "StoredSegmentation",
    "auto_segment_lesion",
    "auto_segment_liver",
]

logger = logging.getLogger(__name__)

#: Label values written (the defaults of contracts/measure.md for label maps).
LIVER_LABEL = 1
TUMOR_LABEL = 2
#: Segmentations running at once in one process; further requests wait for a slot.
MAX_CONCURRENT = 2
_SLOTS = threading.BoundedSemaphore(MAX_CONCURRENT)

Point = tuple[float, float, float]


@dataclass(frozen=True, slots=True)
class StoredSegmentation:
    """A stored segmentation row's public identity (``segmentation_upload_id`` and its file)."""

    segmentation_upload_id: str
    series_instance_uid: str
    sha256: str
    size_bytes: int
    file_suffix: str


@dataclass(frozen=True, slots=True)
class AutoLiver:
    """A liver segmented from one click and stored as a label map (liver = 1)."""

    stored: StoredSegmentation
    liver_volume_ml: float
    seed_hu: float
    seed_to_core_mm: float
    warnings: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AutoLesion:
    """A lesion segmented and stored (tumour = 2; alone, or merged into the base segmentation)."""

    stored: StoredSegmentation
    lesion_volume_ml: float
    long_axis_mm: float | None
    short_axis_mm: float | None
    slice_index: int | None
    contrast: str
    seed_hu: float
    background_hu: float
    base_segmentation_upload_id: str | None
    liver_label: int | None
    warnings: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Base:
    """The segmentation a lesion is added to (plain values: no ORM object crosses the compute)."""

    id: str
    sha256: str
    suffix: str
    path: Path


def _series_files(session: Session, blobs: BlobStore, series_uid: str) -> list[str]:
    series = repo.get_series(session, series_uid)
    if series.modality and series.modality.upper() != "CT":
        raise InvalidRequestError(
            f"semi-automatic segmentation works on CT in HU; series {series_uid} is "
            f"{series.modality}"
        )
    files = [inst.sha256 for inst in repo.series_instances(session, series)]
    if not files:
        raise InvalidRequestError(f"series {series_uid} has no stored instances")
    return files


def _base(session: Session, blobs: BlobStore, base_id: str, series_uid: str) -> _Base:
    row = repo.get_segmentation(session, base_id)
    if row.series_instance_uid != series_uid:
        raise InvalidRequestError(
            f"segmentation {base_id} belongs to series {row.series_instance_uid}, not to "
            f"{series_uid}; expected a segmentation of the series being segmented"
        )
    return _Base(row.id, row.sha256, row.file_suffix, blobs.path(row.sha256))


def _store(
    session: Session,
    blobs: BlobStore,
    file: Path,
    series_uid: str,
    actor: str,
    details: dict[str, Any],
) -> StoredSegmentation:
    """Put the label map file in the blob store, add its row and audit event, and commit."""
    suffix = ".nrrd" if file.name.endswith(".nrrd") else ".nii.gz"
    ref = blobs.put_bytes(file.read_bytes())
    row = Segmentation(
        series_instance_uid=series_uid,
        kind="labelmap",
        file_suffix=suffix,
        sha256=ref.sha256,
        blob_path=ref.relpath,
        size_bytes=ref.size_bytes,
        created_by=actor,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor,
        "segmentation.auto_created",
        "segmentation",
        row.id,
        {
            "sha256": ref.sha256,
            "size_bytes": ref.size_bytes,
            "series_instance_uid": series_uid,
            "algorithm_version": ALGORITHM_VERSION,
            **details,
        },
    )
    session.commit()
    return StoredSegmentation(row.id, series_uid, ref.sha256, ref.size_bytes, suffix)


def auto_segment_liver(
    session: Session,
    blobs: BlobStore,
    scratch_dir: Path,
    series_uid: str,
    seed_lps_mm: Point,
    actor: str,
) -> AutoLiver:
    """Segment the liver of a stored CT series from one click and store it (liver = 1).

    Raises
    ------
    NotFoundError
        Unknown series.
    SeedError
        The seed is off the image, in air, or not in liver-like tissue.
    ImplausibleResultError
        The result is not a plausible adult liver (volume range).
    InvalidRequestError, DicomIOError
        Not CT, or the stored series cannot be read as one volume.
    """
    from segmentation import segment_liver

    files = _series_files(session, blobs, series_uid)
    session.rollback()  # no transaction is held while the pixels are read and segmented
    scratch_dir.mkdir(parents=True, exist_ok=True)
    with _SLOTS, tempfile.TemporaryDirectory(prefix="autoseg-", dir=scratch_dir) as tmp_name:
        tmp = Path(tmp_name)
        blobs.link_series(files, tmp / "series")
        volume = read_ct(tmp / "series", series_uid)
        assert volume.pixels is not None
        index = seed_index(volume.geometry, seed_lps_mm, "seed_lps_mm")
        result = segment_liver(volume.pixels, volume.spacing_zyx_mm, index)
        out = tmp / "liver.nii.gz"
        write_label_image(result.mask, volume.geometry, out, label=LIVER_LABEL)
        stored = _store(
            session,
            blobs,
            out,
            series_uid,
            actor,
            {
                "method": "liver_from_seed",
                "seed_lps_mm": list(seed_lps_mm),
                "liver_volume_ml": result.volume_ml,
            },
        )
    logger.info("auto-segmented a liver of %.1f mL", result.volume_ml)
    return AutoLiver(
        stored=stored,
        liver_volume_ml=result.volume_ml,
        seed_hu=result.seed_hu,
        seed_to_core_mm=result.seed_to_core_mm,
        warnings=tuple(result.warnings),
    )


def _base_labels(
    base: _Base, tmp: Path, volume: dicomio.ImageVolume
) -> tuple[npt.NDArray[np.integer], npt.NDArray[np.bool_] | None, tuple[str, ...]]:
    """Return the base label array on the series grid, and its liver (labels 1 and 2) if it has one.

    A base without label 1 (say a lesion-only map) gets the lesion merged in but constrains
    nothing.
    """
    path = tmp / f"base{base.suffix}"
    link_file(base.path, path)
    labelmap = dicomio.read_labels(path, volume)
    if labelmap.labels is None:  # pragma: no cover - NIfTI/NRRD label maps carry a label array
        raise InvalidRequestError(f"segmentation {base.id} is not a label map")
    present = {s.number for s in labelmap.segments}
    liver = (
        labelmap.mask(sorted(present & {LIVER_LABEL, TUMOR_LABEL}))
        if LIVER_LABEL in present
        else None
    )
    return np.asarray(labelmap.labels), liver, tuple(labelmap.warnings)


def _diameters(
    mask: npt.NDArray[np.bool_], spacing: tuple[float, float, float]
) -> tuple[float | None, float | None, int | None]:
    box = ndimage.find_objects(mask.astype(np.uint8, copy=False))[0]
    if box is None:
        return None, None, None
    try:
        d = measure_diameters(
            mask[box], spacing, offset_zyx=(box[0].start, box[1].start, box[2].start)
        )
    except RecistError:
        return None, None, None
    return d.long_axis_mm, d.short_axis_mm, d.slice_index


def auto_segment_lesion(
    session: Session,
    blobs: BlobStore,
    scratch_dir: Path,
    series_uid: str,
    actor: str,
    *,
    seed_lps_mm: Point | None = None,
    line_lps_mm: Sequence[Point] | None = None,
    base_segmentation_upload_id: str | None = None,
    max_diameter_mm: float | None = None,
) -> AutoLesion:
    """Segment one lesion from a click at its centre or its caliper line, and store it.

    With ``base_segmentation_upload_id`` the base's liver (labels 1 and 2) constrains the lesion
    and the result is a copy of the base with the lesion's voxels set to 2 (a new row); without
    it, the lesion alone as label 2 (measure it with ``liver_label: "none"``).

    Raises
    ------
    NotFoundError
        Unknown series or base segmentation.
    SeedError, ImplausibleResultError, SegmentationInputError
        The click or line cannot start a segmentation, or the result is implausible.
    InvalidRequestError, DicomIOError
        Not CT, a base of another series, or unreadable inputs.
    """
    from segmentation import segment_lesion, segment_lesion_from_line

    if (seed_lps_mm is None) == (line_lps_mm is None):
        raise InvalidRequestError("give exactly one of seed_lps_mm or line_lps_mm")
    if line_lps_mm is not None and len(line_lps_mm) != 2:
        raise InvalidRequestError(
            f"line_lps_mm has {len(line_lps_mm)} points; expected the caliper's two end points"
        )
    files = _series_files(session, blobs, series_uid)
    base = (
        None
        if base_segmentation_upload_id is None
        else _base(session, blobs, base_segmentation_upload_id, series_uid)
    )
    session.rollback()
    scratch_dir.mkdir(parents=True, exist_ok=True)
    with _SLOTS, tempfile.TemporaryDirectory(prefix="autoseg-", dir=scratch_dir) as tmp_name:
        tmp = Path(tmp_name)
        blobs.link_series(files, tmp / "series")
        volume = read_ct(tmp / "series", series_uid)
        assert volume.pixels is not None
        geometry, spacing = volume.geometry, volume.spacing_zyx_mm
        labels, liver, notes = (None, None, ()) if base is None else _base_labels(base, tmp, volume)
        if line_lps_mm is not None:
            start, end = (seed_index(geometry, p, "line_lps_mm") for p in line_lps_mm)
            result = segment_lesion_from_line(volume.pixels, spacing, start, end, liver_mask=liver)
            details: dict[str, Any] = {
                "method": "lesion_from_line",
                "line_lps_mm": [list(p) for p in line_lps_mm],
            }
        else:
            assert seed_lps_mm is not None
            index = seed_index(geometry, seed_lps_mm, "seed_lps_mm")
            result = segment_lesion(
                volume.pixels, spacing, index, liver_mask=liver, max_diameter_mm=max_diameter_mm
            )
            details = {"method": "lesion_from_seed", "seed_lps_mm": list(seed_lps_mm)}
        if labels is None:
            out = tmp / "lesion.nii.gz"
            write_label_image(result.mask, geometry, out, label=TUMOR_LABEL)
        else:
            merged = np.array(labels, copy=True)
            merged[result.mask] = TUMOR_LABEL
            out = tmp / "labels.nrrd"
            write_labels_nrrd(merged, geometry, out)
        long_axis, short_axis, slice_index = _diameters(result.mask, spacing)
        details.update(
            lesion_volume_ml=result.volume_ml,
            base_segmentation_upload_id=None if base is None else base.id,
        )
        stored = _store(session, blobs, out, series_uid, actor, details)
    logger.info("auto-segmented a %s lesion of %.2f mL", result.contrast.value, result.volume_ml)
    return AutoLesion(
        stored=stored,
        lesion_volume_ml=result.volume_ml,
        long_axis_mm=long_axis,
        short_axis_mm=short_axis,
        slice_index=slice_index,
        contrast=result.contrast.value,
        seed_hu=result.seed_hu,
        background_hu=result.background_hu,
        base_segmentation_upload_id=None if base is None else base.id,
        liver_label=None if liver is None else LIVER_LABEL,
        warnings=(*notes, *result.warnings),
    )

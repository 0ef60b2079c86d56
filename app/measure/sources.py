"""The source images and masks of a stored measurement, re-read for its DICOM outputs and pictures.

A measurement row keeps its result JSON, its segmentation reference and its input hashes, not the
images. The outputs that draw on pixels or reference the source instances (SR, SEG, key images)
materialise the stored series from the blob store into a scratch folder (hard links, as the
measurement jobs do) and read it with dicomio. Their masks are the ones the measurement kept
(:mod:`app.measure.masks`); a measurement made before masks were kept has its segmentation read
again and its liver and tumour masks chosen exactly as the pipeline did (the label choices
recorded in the result).

The stored series may have grown since the measurement (more instances uploaded later): the
series hash of the result is checked against the instances now stored, so an output never
describes other images than the ones measured.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from sqlalchemy.orm import Session

import dicomio
from app.db import repo
from app.db.models import Measurement
from app.errors import ConflictError, InvalidRequestError
from app.measure.labels import BoolMask, masks_from_labels
from app.measure.masks import load_kept_masks
from app.store.blobs import BlobStore
from dicomio.sources import SourceDataset, read_source_datasets

if TYPE_CHECKING:
    from app.measure.pipeline import MeasureRequest

__all__ = [
    "MeasurementSource",
    "inputs_unchanged",
    "load_measurement_source",
    "measure_request",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class MeasurementSource:
    """What a measurement was made from, re-read: the volume, its headers and its masks.

    ``datasets`` are the source instances' headers in slice order (for SR/SEG), empty when not
    asked for; ``liver``/``tumor``/``lesions`` are ``None`` when masks were not asked for
    (``liver`` is also ``None`` when the measurement had no liver; ``lesions`` holds the
    per-lesion masks when the segmentation gave each lesion its own segment).
    """

    volume: dicomio.ImageVolume
    datasets: tuple[SourceDataset, ...]
    liver: BoolMask | None
    tumor: BoolMask | None
    lesions: tuple[BoolMask, ...] | None
    #: Lesion numbers (``i`` = the result's ``lesions[i-1]``) as measured, when the measurement
    #: kept its masks (:class:`~app.measure.masks.MeasuredMasks`); ``None`` otherwise.
    lesion_labels: npt.NDArray[np.int32] | None = None


def _series_digest(hashes: Sequence[str]) -> str:
    """Return the series hash of a measurement result (SHA-256 over the sorted file hashes)."""
    h = hashlib.sha256()
    for part in sorted(hashes):
        h.update(part.encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()


def inputs_unchanged(session: Session, measurement: Measurement) -> bool:
    """Tell whether the stored series still hashes as it did when ``measurement`` was made.

    Instances may have been added since; a result that recorded no series hash counts as
    unchanged.
    """
    recorded = (measurement.result.get("inputs") or {}).get("series_sha256")
    if not isinstance(recorded, str):
        return True
    series = repo.get_series(session, measurement.series_instance_uid)
    return _series_digest([i.sha256 for i in repo.series_instances(session, series)]) == recorded


def _segmentation_blob(session: Session, ref: str) -> tuple[str, str]:
    """(sha256, file name) of the segmentation a measurement referenced (``upload:``/``sop:``)."""
    kind, _, key = ref.partition(":")
    if kind == "upload":
        seg = repo.get_segmentation(session, key)
        return seg.sha256, f"labels{seg.file_suffix}"
    if kind == "sop":
        return repo.get_instance(session, key).sha256, "seg.dcm"
    raise InvalidRequestError(f"unknown segmentation reference kind {kind!r} in the measurement")


def _materialise(
    session: Session, blobs: BlobStore, measurement: Measurement, folder: Path, labels: bool
) -> tuple[Path, Path | None]:
    if not inputs_unchanged(session, measurement):
        raise ConflictError(
            f"the stored series {measurement.series_instance_uid} has changed since measurement "
            f"{measurement.id} (instances were added); measure it again to get this output"
        )
    series = repo.get_series(session, measurement.series_instance_uid)
    instances = repo.series_instances(session, series)
    series_dir = blobs.link_series([i.sha256 for i in instances], folder / "series")
    if not labels:
        return series_dir, None
    sha, name = _segmentation_blob(session, measurement.segmentation_ref)
    label_path = folder / name
    blobs.link_as(sha, label_path)
    return series_dir, label_path


def measure_request(
    session: Session, blobs: BlobStore, request: Mapping[str, Any], folder: Path
) -> MeasureRequest:
    """Turn a measurement job's stored request into the pipeline's request.

    The stored series and segmentation are linked into ``folder``, with the job's label choices.
    """
    from app.measure.pipeline import MeasureRequest

    series = repo.get_series(session, request["series_instance_uid"])
    instances = repo.series_instances(session, series)
    series_dir = blobs.link_series([i.sha256 for i in instances], folder / "series")
    seg = request["segmentation"]
    labels = folder / (f"labels{seg['suffix']}" if seg["kind"] == "upload" else "seg.dcm")
    blobs.link_as(seg["sha256"], labels)
    return MeasureRequest(
        series=series_dir,
        labels=labels,
        liver_label=request.get("liver_label"),
        tumor_labels=tuple(request.get("tumor_labels") or ()),
        other_tumor_labels=tuple(
            (str(label), organ) for label, organ in request.get("other_tumor_labels") or ()
        ),
        series_uid=request["series_instance_uid"],
    )


def _choices(result: dict[str, Any]) -> tuple[str | None, list[str]]:
    choices = result.get("label_choices") or {}
    liver = choices.get("liver_label")
    tumor = choices.get("tumor_labels") or []
    return (None if liver is None else str(liver)), [str(t) for t in tumor]


def load_measurement_source(
    session: Session,
    blobs: BlobStore,
    scratch_dir: Path,
    measurement: Measurement,
    *,
    headers: bool = False,
    pixels: bool = False,
    masks: bool = False,
) -> MeasurementSource:
    """Re-read what ``measurement`` was made from (see the module docstring).

    Parameters
    ----------
    headers
        Also read the source instances' headers in slice order (SR, SEG).
    pixels
        Decode the pixel data (key images).
    masks
        The masks the measurement was made from: those it kept beside it, or (for a
        measurement made before masks were kept) the segmentation read again and its labels
        chosen as the measurement did.

    Raises
    ------
    ConflictError
        The stored series has changed since the measurement.
    InvalidRequestError
        The series misses slices (DICOM outputs reference every slice).
    dicomio.DicomIOError
        The stored files cannot be read.
    """
    scratch_dir.mkdir(parents=True, exist_ok=True)
    kept = load_kept_masks(blobs, measurement.masks_sha256) if masks else None
    with tempfile.TemporaryDirectory(prefix="out-", dir=scratch_dir) as tmp:
        series_dir, labels = _materialise(
            session, blobs, measurement, Path(tmp), masks and kept is None
        )
        volume = dicomio.read_series(series_dir, measurement.series_instance_uid, pixels=pixels)
        datasets: list[SourceDataset] = []
        if headers:
            if volume.info.missing_slices:
                raise InvalidRequestError(
                    f"the series misses slices {list(volume.info.missing_slices)}; DICOM SR and "
                    "SEG reference every slice of their source"
                )
            datasets = read_source_datasets(series_dir, volume)
        liver = tumor = None
        lesions = None
        lesion_labels = None
        if kept is not None:
            if kept.shape_zyx != volume.geometry.shape_zyx:
                raise ConflictError(
                    f"measurement {measurement.id}'s masks do not fit its stored series; "
                    "measure it again"
                )
            liver, tumor, lesion_labels = kept.full_liver(), kept.full_tumor(), kept.full_lesions()
        elif labels is not None:
            liver_label, tumor_labels = _choices(measurement.result)
            liver, tumor, separate = masks_from_labels(volume, labels, liver_label, tumor_labels)
            lesions = None if separate is None else tuple(separate)
    logger.info(
        "re-read measurement %s: %d slices (pixels %s, masks %s)",
        measurement.id,
        volume.geometry.shape_zyx[0],
        pixels,
        masks,
    )
    return MeasurementSource(volume, tuple(datasets), liver, tumor, lesions, lesion_labels)

"""DICOM Segmentation (BINARY) of the lesions and the liver of one measurement, with highdicom.

Segments: ``1`` = the liver parenchyma when a liver mask is given (label "Liver", SCT 10200004,
category Anatomical Structure), then one segment per lesion in measurement order, labelled with
the lesion id (``"L1"``, ...; category Morphologically Altered Structure, type Neoplasm, finding
site Liver), each with the lesion id as Tracking ID and a Tracking UID that stays the same
across timepoints when the caller supplies it.

Segments never overlap: a voxel of a lesion belongs to that lesion's segment only, so the liver
segment is the liver *without* its lesions, and the total liver volume of contracts/measure.md
(liver union tumour) is the union of all segments. This lets the encoder take one label array
(1 byte or 2 per voxel) instead of one boolean volume per segment, so a 512 x 512 x 300 series
with many lesions stays within a few hundred MB.

Nothing is random (:mod:`reporting._identity`): a segment's Tracking UID is the one supplied or
is derived from ``uid_seed`` and its tracking id; the Series Instance UID, when not supplied, from
``uid_seed``; the SOP Instance UID, when not supplied, from a hash of every input (the masks
included); the Dimension Organization UID from the SOP Instance UID. With ``content_datetime``
fixed, the same inputs give the same file, byte for byte.

References
----------
.. [1] DICOM PS3.3 A.51 "Segmentation IOD" and C.8.20 "Segmentation Image Module".
.. [2] DICOM PS3.16 CID 7150 "Segmentation Property Categories", CID 7151 "Segmentation
   Property Types".
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from reporting._geometry import (
    character_set,
    completed_sources,
    copied_header_warnings_ignored,
    source_frames,
)
from reporting._identity import derived_uid, input_key, stamp_creation
from reporting.errors import ReportingInputError, SourceImageError

if TYPE_CHECKING:
    import highdicom as hd
    from pydicom import Dataset

__all__ = ["build_seg", "seg_label_array"]

logger = logging.getLogger(__name__)

#: Segment colours (CIELab via sRGB): liver brown, lesions yellow.
_LIVER_RGB = (221, 130, 101)
_LESION_RGB = (241, 214, 145)


def seg_label_array(
    lesion_labels: npt.NDArray[np.integer],
    n_lesions: int,
    liver_mask: npt.NDArray[np.bool_] | None,
) -> npt.NDArray[np.unsignedinteger]:
    """Return the segment-number array encoded in the SEG: liver 1 (if any), then lesions.

    Lesion label ``i`` (1-based, measurement order) becomes segment ``i + 1`` with a liver,
    ``i`` without; lesion voxels take precedence over the liver.
    """
    offset = 0 if liver_mask is None else 1
    dtype: type[np.unsignedinteger] = np.uint8 if n_lesions + offset <= 255 else np.uint16
    labels = np.asarray(lesion_labels)
    out = np.zeros(labels.shape, dtype=dtype)
    if liver_mask is not None:
        out[np.asarray(liver_mask, dtype=bool)] = 1
    inside = labels > 0
    out[inside] = (labels[inside] + offset).astype(dtype)
    return out


def _family() -> hd.sr.CodedConcept:
    """Algorithm family of the segments: morphological operations (CID 7162)."""
    import highdicom as hd

    return hd.sr.CodedConcept("123104", "DCM", "Morphological Operations")


def _color(rgb: tuple[int, int, int]) -> hd.color.CIELabColor:
    import highdicom as hd

    return hd.color.CIELabColor.from_rgb(*rgb)


def _descriptions(
    lesion_ids: Sequence[str], has_liver: bool, tracking_uid: Callable[[str], str], version: str
) -> list[hd.seg.SegmentDescription]:
    import highdicom as hd

    from reporting import _codes as codes

    out = []
    number = 1
    algorithm = hd.AlgorithmIdentificationSequence(
        name="liverburden", family=_family(), version=version
    )
    if has_liver:
        out.append(
            hd.seg.SegmentDescription(
                segment_number=number,
                segment_label="Liver",
                segmented_property_category=codes.ANATOMICAL_STRUCTURE,
                segmented_property_type=codes.LIVER,
                algorithm_type=hd.seg.SegmentAlgorithmTypeValues.SEMIAUTOMATIC,
                algorithm_identification=algorithm,
                tracking_uid=tracking_uid("Liver"),
                tracking_id="Liver",
                display_color=_color(_LIVER_RGB),
            )
        )
        number += 1
    for lesion_id in lesion_ids:
        out.append(
            hd.seg.SegmentDescription(
                segment_number=number,
                segment_label=lesion_id,
                segmented_property_category=codes.MORPHOLOGICALLY_ALTERED,
                segmented_property_type=codes.NEOPLASM,
                algorithm_type=hd.seg.SegmentAlgorithmTypeValues.SEMIAUTOMATIC,
                algorithm_identification=algorithm,
                tracking_uid=tracking_uid(lesion_id),
                tracking_id=lesion_id,
                anatomic_regions=[codes.LIVER] if has_liver else None,
                display_color=_color(_LESION_RGB),
            )
        )
        number += 1
    return out


def _set_dimension_organization_uid(seg: hd.seg.Segmentation, uid: str) -> None:
    """Replace the Dimension Organization UID highdicom draws at random, wherever it is used."""
    for item in seg.get("DimensionOrganizationSequence", []):
        item.DimensionOrganizationUID = uid
    for item in seg.get("DimensionIndexSequence", []):
        if "DimensionOrganizationUID" in item:
            item.DimensionOrganizationUID = uid


def build_seg(
    source_images: Sequence[Dataset],
    lesion_labels: npt.NDArray[np.integer],
    lesion_ids: Sequence[str],
    *,
    liver_mask: npt.NDArray[np.bool_] | None = None,
    lesion_uids: Mapping[str, str] | None = None,
    algorithm_version: str = "unknown",
    series_instance_uid: str | None = None,
    sop_instance_uid: str | None = None,
    series_number: int = 902,
    instance_number: int = 1,
    manufacturer: str = "liverburden",
    uid_seed: str | None = None,
    content_datetime: dt.datetime | None = None,
) -> hd.seg.Segmentation:
    """Build a BINARY DICOM SEG of the lesions and the liver (see the module docstring).

    Parameters
    ----------
    source_images
        The segmented series as pydicom datasets in slice order (one per slice, or one
        multi-frame image); pixel data is not needed.
    lesion_labels
        ``(z, y, x)`` integer array on the series grid: ``i`` inside lesion ``lesion_ids[i-1]``,
        0 elsewhere (see :func:`reporting.lesion_labels_from_measurement`).
    lesion_ids
        Lesion ids in label order (``"L1"``, ``"L2"``, ...).
    liver_mask
        ``(z, y, x)`` boolean liver mask (with or without its tumours), or ``None``.
    lesion_uids
        Lesion id (or ``"Liver"``) -> Tracking UID to reuse across timepoints; the others get a
        UID derived from ``uid_seed`` and the id.
    series_instance_uid, sop_instance_uid
        Default: derived from ``uid_seed``, and from a hash of every input, respectively.
    uid_seed
        Identity of the measurement (e.g. its id) from which the UIDs not supplied are derived;
        default: a hash of every input.
    content_datetime
        When the content was created (e.g. the measurement's creation time), written in UTC as
        Content and Instance Creation Date/Time; default: now. Fix it for a reproducible file.

    Raises
    ------
    ReportingInputError
        Shapes do not match, or labels outside ``1..len(lesion_ids)``.
    SourceImageError
        The source images are incomplete or out of slice order.
    """
    import highdicom as hd

    source_images = completed_sources(source_images)
    frames = source_frames(source_images)
    shape = (len(frames), frames[0].rows, frames[0].columns)
    labels = np.asarray(lesion_labels)
    if labels.shape != shape:
        raise SourceImageError(
            f"lesion labels have shape {labels.shape} but the source series is {shape} "
            "(slices, rows, columns); expected masks on the series grid"
        )
    if not np.issubdtype(labels.dtype, np.integer):
        raise ReportingInputError("lesion_labels must be an integer array (0 = background)")
    if labels.size and (labels.min() < 0 or labels.max() > len(lesion_ids)):
        raise ReportingInputError(
            f"lesion labels must lie in 0..{len(lesion_ids)} (one per lesion id); "
            f"got {int(labels.min())}..{int(labels.max())}"
        )
    if len(set(lesion_ids)) != len(lesion_ids):
        raise ReportingInputError("lesion ids must be unique")
    if liver_mask is not None and np.shape(liver_mask) != shape:
        raise SourceImageError(
            f"liver mask has shape {np.shape(liver_mask)} but the source series is {shape}"
        )
    if liver_mask is None and not lesion_ids:
        raise ReportingInputError("nothing to segment: no liver mask and no lesions")
    array = seg_label_array(labels, len(lesion_ids), liver_mask)
    uids = dict(lesion_uids or {})
    key = input_key(
        "seg",
        [(f.sop_instance_uid, f.frame_number) for f in frames],
        hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest(),
        str(array.dtype),
        list(lesion_ids),
        liver_mask is not None,
        uids,
        algorithm_version,
        series_instance_uid,
        series_number,
        instance_number,
        manufacturer,
        uid_seed,
        None if content_datetime is None else content_datetime.isoformat(),
    )
    seed = uid_seed or key

    def tracking_uid(identifier: str) -> str:
        return uids.get(identifier) or derived_uid(seed, "tracking", identifier)

    descriptions = _descriptions(
        lesion_ids, liver_mask is not None, tracking_uid, algorithm_version
    )
    sop_uid = sop_instance_uid or derived_uid(key, "sop")
    # highdicom takes a label array with one frame per source frame; for a multi-frame source
    # the frames are the slices in order, which is how source_frames() checked them.
    with copied_header_warnings_ignored():
        seg = hd.seg.Segmentation(
            source_images=list(source_images),
            pixel_array=array,
            segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
            segment_descriptions=descriptions,
            series_instance_uid=series_instance_uid or derived_uid(seed, "series"),
            series_number=series_number,
            sop_instance_uid=sop_uid,
            instance_number=instance_number,
            manufacturer=manufacturer,
            manufacturer_model_name="liverburden",
            software_versions=algorithm_version,
            device_serial_number="0",
            series_description="liverburden liver and lesions",
            content_label="LIVERBURDEN",
            content_description="Liver and lesions of the measurement",
            specific_character_set=character_set(frames[0].dataset),
        )
    _set_dimension_organization_uid(seg, derived_uid(sop_uid, "dimension organization"))
    if content_datetime is not None:
        stamp_creation(seg, content_datetime)
    logger.info("built SEG with %d segments", len(descriptions))
    return seg

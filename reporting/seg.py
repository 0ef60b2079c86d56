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

References
----------
.. [1] DICOM PS3.3 A.51 "Segmentation IOD" and C.8.20 "Segmentation Image Module".
.. [2] DICOM PS3.16 CID 7150 "Segmentation Property Categories", CID 7151 "Segmentation
   Property Types".
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import highdicom as hd
import numpy as np
import numpy.typing as npt
from pydicom import Dataset

from reporting import _codes as codes
from reporting._geometry import character_set, copied_header_warnings_ignored, source_frames
from reporting.errors import ReportingInputError, SourceImageError

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
    """The segment-number array encoded in the SEG: liver 1 (if any), then lesions.

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
    return hd.sr.CodedConcept("123104", "DCM", "Morphological Operations")


def _color(rgb: tuple[int, int, int]) -> hd.color.CIELabColor:
    return hd.color.CIELabColor.from_rgb(*rgb)


def _descriptions(
    lesion_ids: Sequence[str], has_liver: bool, uids: Mapping[str, str], version: str
) -> list[hd.seg.SegmentDescription]:
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
                tracking_uid=uids.get("Liver") or hd.UID(),
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
                tracking_uid=uids.get(lesion_id) or hd.UID(),
                tracking_id=lesion_id,
                anatomic_regions=[codes.LIVER] if has_liver else None,
                display_color=_color(_LESION_RGB),
            )
        )
        number += 1
    return out


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
        Lesion id (or ``"Liver"``) -> Tracking UID to reuse across timepoints.

    Raises
    ------
    ReportingInputError
        Shapes do not match, or labels outside ``1..len(lesion_ids)``.
    SourceImageError
        The source images are incomplete or out of slice order.
    """
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
    descriptions = _descriptions(
        lesion_ids, liver_mask is not None, dict(lesion_uids or {}), algorithm_version
    )
    # highdicom takes a label array with one frame per source frame; for a multi-frame source
    # the frames are the slices in order, which is how source_frames() checked them.
    with copied_header_warnings_ignored():
        seg = hd.seg.Segmentation(
            source_images=list(source_images),
            pixel_array=array,
            segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
            segment_descriptions=descriptions,
            series_instance_uid=series_instance_uid or hd.UID(),
            series_number=series_number,
            sop_instance_uid=sop_instance_uid or hd.UID(),
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
    logger.info("built SEG with %d segments", len(descriptions))
    return seg

"""Segments of a phantom's DICOM SEG: masks per segment and their coded descriptions.

References
----------
DICOM PS3.3 C.8.20.2 (Segmentation Image Module: Segment Sequence); PS3.16 CID 7150 (Segmentation
Property Categories) and CID 7151/7166 (Segmentation Property Types): SCT 123037004 Anatomical
Structure, SCT 10200004 Liver, SCT 49755003 Morphologically Altered Structure, SCT 108369006
Neoplasm.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from phantoms.model import Phantom

__all__ = ["segment_descriptions", "segment_masks", "tumor_segment_order"]


def tumor_segment_order(phantom: Phantom) -> list[int]:
    """Spec indices (1-based) of the lesions in truth order (L1, L2, ...): SEG segments 2, 3, ..."""
    return [int(d["spec_index"]) for d in phantom.truth["lesions"]]


def segment_masks(
    phantom: Phantom, liver_includes_tumors: bool, single_tumor_segment: bool
) -> npt.NDArray[np.bool_]:
    """Boolean ``(z, y, x, segments)`` array: liver first, then the tumour segment(s), if any."""
    liver = phantom.labels > 0 if liver_includes_tumors else phantom.labels == 1
    if not phantom.spec.lesions:
        tumours = []
    elif single_tumor_segment:
        tumours = [phantom.labels == 2]
    else:
        tumours = [phantom.lesion_index == n for n in tumor_segment_order(phantom)]
    return np.stack([liver, *tumours], axis=-1)


def segment_descriptions(
    phantom: Phantom, single_tumor_segment: bool, seg_series_uid: str
) -> list[Any]:
    """highdicom SegmentDescriptions: 1 "Liver", then "Tumor" or "Tumor 1", "Tumor 2", ..."""
    import highdicom as hd

    from phantoms.uids import name_uid

    anatomy = hd.sr.CodedConcept("123037004", "SCT", "Anatomical Structure")
    liver = hd.sr.CodedConcept("10200004", "SCT", "Liver")
    altered = hd.sr.CodedConcept("49755003", "SCT", "Morphologically Altered Structure")
    neoplasm = hd.sr.CodedConcept("108369006", "SCT", "Neoplasm")
    manual = hd.seg.SegmentAlgorithmTypeValues.MANUAL
    out = [
        hd.seg.SegmentDescription(
            segment_number=1,
            segment_label="Liver",
            segmented_property_category=anatomy,
            segmented_property_type=liver,
            algorithm_type=manual,
            tracking_id="Liver",
            tracking_uid=name_uid("tracking", seg_series_uid, "liver"),
        )
    ]
    if not phantom.spec.lesions:
        names = []
    elif single_tumor_segment:
        names = [("Tumor", "Tumor")]
    else:
        names = [(f"Tumor {n}", f"L{n}") for n in range(1, len(phantom.truth["lesions"]) + 1)]
    for number, (label, tracking) in enumerate(names, start=2):
        out.append(
            hd.seg.SegmentDescription(
                segment_number=number,
                segment_label=label,
                segmented_property_category=altered,
                segmented_property_type=neoplasm,
                algorithm_type=manual,
                anatomic_regions=[liver],
                tracking_id=tracking,
                tracking_uid=name_uid("tracking", seg_series_uid, tracking),
            )
        )
    return out

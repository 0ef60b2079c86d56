"""Which voxels belong to which measured lesion: the label array the SEG and key images need.

The measure JSON names lesions ``L1``, ``L2``, ... but carries no masks. A lesion's long-axis
endpoints are pixel centres of that lesion on its slice (contracts/measure.md), so the lesion is
the 26-connected component of the tumour mask (or the given per-lesion mask) that holds its
first endpoint.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from reporting.errors import ReportingInputError
from reporting.model import MeasurementSummary
from volumetrics import label_lesions

__all__ = ["lesion_labels_from_measurement"]


def lesion_labels_from_measurement(
    tumor_mask: npt.NDArray[np.bool_],
    measurement: Mapping[str, Any] | MeasurementSummary,
    lesion_masks: Sequence[npt.NDArray[np.bool_]] | None = None,
) -> npt.NDArray[np.int32]:
    """Label array ``(z, y, x)``: ``i`` inside the measurement's ``lesions[i-1]``, 0 elsewhere.

    Parameters
    ----------
    tumor_mask
        The tumour mask the measurement was made from.
    measurement
        Its measure JSON; each lesion needs ``slice_index`` and ``long_axis_endpoints_rc``.
    lesion_masks
        When the measurement's lesions were given separately (distinct SEG segments or ROIs),
        those masks; each is matched to the lesion whose endpoint it holds.

    Raises
    ------
    ReportingInputError
        A lesion's endpoint lies outside every component, or two lesions claim the same one:
        the measurement was not made from this mask.
    """
    m = (
        measurement
        if isinstance(measurement, MeasurementSummary)
        else (MeasurementSummary.from_json(measurement))
    )
    tumor = np.asarray(tumor_mask, dtype=bool)
    if tumor.ndim != 3:
        raise ReportingInputError(f"tumor mask must be 3-D (z, y, x), got {tumor.ndim}-D")
    boxes: list[Any] = []
    if lesion_masks is None:
        from scipy import ndimage

        components, n = label_lesions(tumor)
        boxes = list(ndimage.find_objects(components, max_label=n))
        candidates = None
    else:
        components = np.zeros(tumor.shape, dtype=np.int32)
        candidates = [np.asarray(mk, dtype=bool) for mk in lesion_masks]
    out = np.zeros(tumor.shape, dtype=np.int32)
    used: set[int] = set()
    for number, lesion in enumerate(m.lesions, start=1):
        if lesion.long_axis_endpoints_rc is None:
            raise ReportingInputError(
                f"lesion {lesion.lesion_id}: long_axis_endpoints_rc is missing; "
                "cannot tell which voxels belong to it"
            )
        r, c = (round(v) for v in lesion.long_axis_endpoints_rc[0])
        k = lesion.slice_index
        if not (0 <= k < tumor.shape[0] and 0 <= r < tumor.shape[1] and 0 <= c < tumor.shape[2]):
            raise ReportingInputError(
                f"lesion {lesion.lesion_id}: endpoint (slice {k}, row {r}, col {c}) lies outside "
                f"the mask of shape {tumor.shape}"
            )
        if candidates is None:
            component = int(components[k, r, c])
            found = component > 0 and component not in used
        else:
            hits = [i for i, mk in enumerate(candidates) if mk[k, r, c] and i + 1 not in used]
            component = hits[0] + 1 if hits else 0
            found = bool(hits)
        if not found:
            raise ReportingInputError(
                f"lesion {lesion.lesion_id}: no unclaimed tumour component at its long-axis "
                "endpoint; expected the tumour mask the measurement was made from"
            )
        used.add(component)
        if candidates is None:
            box = boxes[component - 1]
            view = out[box]
            view[(components[box] == component) & (view == 0)] = number
        else:
            out[candidates[component - 1] & (out == 0)] = number
    return out

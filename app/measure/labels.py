"""The liver, tumour and per-lesion masks of a label file, chosen as a measurement chose them.

Shared by the service's outputs (:mod:`app.measure.sources`) and ``liverburden report``; the
choice is the one :func:`app.measure.pipeline.run_measurement` makes: the liver segments of
``liver_label`` (none for ``"none"``), the union of the tumour segments of each ``tumor_labels``
entry (the default tumour choice without any), and one mask per tumour segment when several were
chosen and each holds a single lesion.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

import dicomio

__all__ = ["BoolMask", "masks_from_labels"]

BoolMask = npt.NDArray[np.bool_]


def masks_from_labels(
    volume: dicomio.ImageVolume,
    labels: Path,
    liver_label: str | None,
    tumor_labels: Sequence[str] | None,
) -> tuple[BoolMask | None, BoolMask, list[BoolMask] | None]:
    """Liver mask, tumour mask and per-lesion masks of a label file, chosen as the pipeline does.

    Parameters
    ----------
    volume
        The series the label file belongs to (its grid).
    labels
        Label map (NIfTI/NRRD), DICOM SEG or RTSTRUCT.
    liver_label, tumor_labels
        The label choices of the measurement (``liver_label`` ``"none"`` for no liver; no tumour
        labels for the default choice).

    Returns
    -------
    tuple
        ``(liver or None, tumour, per-lesion masks or None)``; per-lesion masks when more than
        one tumour segment was chosen and each holds a single lesion.
    """
    labelmap = dicomio.read_labels(labels, volume)
    liver_ids = dicomio.select_segments(labelmap, liver_label, "liver")
    tumor_ids: list[int] = []
    specs: list[str | None] = [*tumor_labels] if tumor_labels else [None]
    for spec in specs:
        tumor_ids += [
            n for n in dicomio.select_segments(labelmap, spec, "tumor") if n not in tumor_ids
        ]
    no_liver = liver_label is not None and liver_label.strip().lower() == "none"
    segments = [labelmap.segment(n) for n in tumor_ids]
    separate = None
    if len(segments) > 1 and all(s.single_lesion for s in segments):
        separate = [labelmap.mask([s.number]) for s in segments]
    return (None if no_liver else labelmap.mask(liver_ids)), labelmap.mask(tumor_ids), separate

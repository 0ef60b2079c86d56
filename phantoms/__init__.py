"""Synthetic liver studies with analytic truth: the project's test-data generator.

Not part of the service: tests, benchmarks and ``sample_dicom/`` use it. :mod:`.spec` describes a
phantom, :mod:`.model` samples it on a grid with its exact truth (:mod:`.truth`), :mod:`.dicom`
writes it as a DICOM series, SEG, multi-frame or NIfTI label map with deterministic UIDs
(:mod:`.uids`), and :mod:`.sample` writes the bundled sample study
(``python -m phantoms sample_dicom``).
"""

from __future__ import annotations

from phantoms.dicom import write_dicom_series, write_label_nifti, write_multiframe, write_seg
from phantoms.model import Phantom, make_phantom
from phantoms.sample import SAMPLE_SPEC, main, write_sample
from phantoms.spec import (
    CT_TISSUE,
    MR_TISSUE,
    SMALL_ABDOMEN,
    BodyPose,
    LesionSpec,
    PhantomSpec,
    TissueValues,
)
from phantoms.uids import PhantomUids, phantom_uids

__all__ = [
    "CT_TISSUE",
    "MR_TISSUE",
    "SAMPLE_SPEC",
    "SMALL_ABDOMEN",
    "BodyPose",
    "LesionSpec",
    "Phantom",
    "PhantomSpec",
    "PhantomUids",
    "TissueValues",
    "main",
    "make_phantom",
    "phantom_uids",
    "write_dicom_series",
    "write_label_nifti",
    "write_multiframe",
    "write_sample",
    "write_seg",
]

"""Outputs for other systems, built from the domain results.

- DICOM: :func:`build_sr` (TID 1500 measurement report) and :func:`build_seg` (BINARY SEG of
  the liver and the lesions), with highdicom, referencing the source series.
- CDISC SDTM: :func:`build_sdtm` (TU, TR, RS; CSV and SAS transport v5).
- FHIR R4: :func:`build_fhir_bundle` (mCODE Tumor Size observations).
- Pictures: :func:`key_images`, :func:`spider_plot`, :func:`waterfall_plot`,
  :func:`burden_plot` (PNG bytes).
- The subject report: :func:`render_html` (self-contained page) and :func:`render_pdf`.

Inputs are the service's JSON documents (contracts/measure.md, contracts/recist-assess.md),
checked into the records of :mod:`reporting.model`, plus, for DICOM and key images, the source
series (pydicom datasets in slice order, the ``(z, y, x)`` pixels and masks). This package may
import dicomio, volumetrics and recist, never app.
"""

from __future__ import annotations

from reporting._masks import lesion_labels_from_measurement
from reporting._report_content import KeyImage, SubjectReport
from reporting._sdtm_io import SdtmDataset, Variable
from reporting.errors import (
    MissingDependencyError,
    ReportingError,
    ReportingInputError,
    SourceImageError,
)
from reporting.fhir import MCODE_TUMOR_SIZE, build_fhir_bundle
from reporting.keyimages import (
    ABDOMEN_WINDOW,
    LIVER_WINDOW,
    Window,
    key_images,
    render_key_image,
)
from reporting.model import (
    AssessmentSummary,
    LesionMeasurement,
    MeasurementSummary,
    SubjectData,
    TimepointMeasurement,
    TimepointResponse,
)
from reporting.plots import (
    best_percent_change,
    burden_plot,
    percent_change_from_baseline,
    percent_change_from_nadir,
    spider_plot,
    subject_burden_points,
    waterfall_plot,
)
from reporting.report_html import render_html
from reporting.report_pdf import render_pdf
from reporting.sdtm import DOMAINS as SDTM_DOMAINS
from reporting.sdtm import build_sdtm
from reporting.seg import build_seg
from reporting.sr import build_sr
from reporting.subject_file import load_subject_file, subject_from_document

__all__ = [
    "ABDOMEN_WINDOW",
    "LIVER_WINDOW",
    "MCODE_TUMOR_SIZE",
    "SDTM_DOMAINS",
    "AssessmentSummary",
    "KeyImage",
    "LesionMeasurement",
    "MeasurementSummary",
    "MissingDependencyError",
    "ReportingError",
    "ReportingInputError",
    "SdtmDataset",
    "SourceImageError",
    "SubjectData",
    "SubjectReport",
    "TimepointMeasurement",
    "TimepointResponse",
    "Variable",
    "Window",
    "best_percent_change",
    "build_fhir_bundle",
    "build_sdtm",
    "build_seg",
    "build_sr",
    "burden_plot",
    "key_images",
    "lesion_labels_from_measurement",
    "load_subject_file",
    "percent_change_from_baseline",
    "percent_change_from_nadir",
    "render_html",
    "render_key_image",
    "render_pdf",
    "spider_plot",
    "subject_burden_points",
    "subject_from_document",
    "waterfall_plot",
]

"""Records the reporting functions read: parsed measure JSON, assessments and subject data.

The service hands reporting plain JSON documents (contracts/measure.md and
contracts/recist-assess.md). They are checked once, here, and turned into frozen records; every
error names the field at fault (:class:`~reporting.errors.ReportingInputError`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from reporting._parse import (
    as_date,
    endpoints,
    get,
    number,
    optional_number,
    optional_text,
    response,
    text,
)
from reporting.errors import ReportingInputError

__all__ = [
    "AssessmentSummary",
    "LesionMeasurement",
    "MeasurementSummary",
    "SubjectData",
    "TimepointMeasurement",
    "TimepointResponse",
]

Endpoints = tuple[tuple[float, float], tuple[float, float]]


@dataclass(frozen=True, slots=True)
class LesionMeasurement:
    """One lesion of a measurement (contracts/measure.md ``lesions[]``).

    Endpoints are ``((row, col), (row, col))`` pixel centres on slice ``slice_index`` of the
    full series grid; ``None`` when the measurement did not record them.
    """

    lesion_id: str
    volume_ml: float
    long_axis_mm: float
    short_axis_mm: float
    slice_index: int
    measurable: bool
    long_axis_endpoints_rc: Endpoints | None = None
    short_axis_endpoints_rc: Endpoints | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str) -> LesionMeasurement:
        """Check and convert one ``lesions[]`` item."""
        lesion_id = text(data, "lesion_id", where)
        where = f"{where} ({lesion_id})"
        slice_index = get(data, "slice_index", where)
        if isinstance(slice_index, bool) or not isinstance(slice_index, int) or slice_index < 0:
            raise ReportingInputError(f"{where}: slice_index must be an integer >= 0")
        return cls(
            lesion_id=lesion_id,
            volume_ml=number(data, "volume_ml", where),
            long_axis_mm=number(data, "long_axis_mm", where),
            short_axis_mm=number(data, "short_axis_mm", where),
            slice_index=slice_index,
            measurable=bool(data.get("measurable", False)),
            long_axis_endpoints_rc=endpoints(data.get("long_axis_endpoints_rc"), where, "long"),
            short_axis_endpoints_rc=endpoints(data.get("short_axis_endpoints_rc"), where, "short"),
        )


@dataclass(frozen=True, slots=True)
class MeasurementSummary:
    """The measure JSON of one series (contracts/measure.md), checked."""

    series_instance_uid: str | None
    study_instance_uid: str | None
    modality: str
    spacing_zyx_mm: tuple[float, float, float]
    liver_volume_ml: float | None
    tumor_volume_ml: float
    burden_fraction: float | None
    lesions: tuple[LesionMeasurement, ...]
    algorithm_version: str
    input_sha256: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MeasurementSummary:
        """Check and convert a measure JSON document (already decoded)."""
        if not isinstance(data, Mapping):
            raise ReportingInputError("measurement: expected a JSON object (measure output)")
        series = get(data, "series", "measurement")
        if not isinstance(series, Mapping):
            raise ReportingInputError("measurement: 'series' must be an object")
        spacing = get(series, "spacing_mm", "measurement.series")
        if not isinstance(spacing, list | tuple) or len(spacing) != 3:
            raise ReportingInputError("measurement.series.spacing_mm: expected [z, y, x] in mm")
        raw_lesions = get(data, "lesions", "measurement")
        if not isinstance(raw_lesions, list | tuple):
            raise ReportingInputError("measurement.lesions: expected a list")
        lesions = []
        for i, raw in enumerate(raw_lesions):
            if not isinstance(raw, Mapping):
                raise ReportingInputError(f"measurement.lesions[{i}]: expected an object")
            lesions.append(LesionMeasurement.from_json(raw, f"measurement.lesions[{i}]"))
        ids = [les.lesion_id for les in lesions]
        if len(set(ids)) != len(ids):
            raise ReportingInputError("measurement.lesions: lesion_id values must be unique")
        inputs = data.get("inputs")
        return cls(
            series_instance_uid=optional_text(series, "series_instance_uid", "measurement.series"),
            study_instance_uid=optional_text(series, "study_instance_uid", "measurement.series"),
            modality=str(series.get("modality") or ""),
            spacing_zyx_mm=(float(spacing[0]), float(spacing[1]), float(spacing[2])),
            liver_volume_ml=optional_number(data, "liver_volume_ml", "measurement"),
            tumor_volume_ml=number(data, "tumor_volume_ml", "measurement"),
            burden_fraction=optional_number(data, "burden_fraction", "measurement"),
            lesions=tuple(lesions),
            algorithm_version=text(data, "algorithm_version", "measurement"),
            input_sha256=(
                optional_text(inputs, "input_sha256", "measurement.inputs")
                if isinstance(inputs, Mapping)
                else None
            ),
        )

    def lesion(self, lesion_id: str) -> LesionMeasurement:
        """Return the lesion called ``lesion_id``."""
        for les in self.lesions:
            if les.lesion_id == lesion_id:
                return les
        raise ReportingInputError(f"measurement has no lesion {lesion_id!r}")


@dataclass(frozen=True, slots=True)
class TimepointResponse:
    """One timepoint of an assessment output (contracts/recist-assess.md)."""

    date: dt.date
    baseline: bool
    sum_mm: float | None
    nadir_mm: float | None
    target_response: str | None
    non_target_response: str | None
    new_lesions: bool
    overall_response: str | None
    hepatic_response: str | None
    equivocal_new_lesions: bool = False


@dataclass(frozen=True, slots=True)
class AssessmentSummary:
    """An assessment output (contracts/recist-assess.md), checked."""

    subject_id: str
    timepoints: tuple[TimepointResponse, ...]
    best_overall_response: str | None
    hepatic_progression_date: dt.date | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AssessmentSummary:
        """Check and convert an assessment output document (already decoded)."""
        if not isinstance(data, Mapping):
            raise ReportingInputError("assessment: expected a JSON object (assessment output)")
        subject_id = text(data, "subject_id", "assessment")
        raw = get(data, "timepoints", "assessment")
        if not isinstance(raw, list | tuple) or not raw:
            raise ReportingInputError("assessment.timepoints: expected a non-empty list")
        timepoints = []
        for i, tp in enumerate(raw):
            where = f"assessment.timepoints[{i}]"
            if not isinstance(tp, Mapping):
                raise ReportingInputError(f"{where}: expected an object")
            timepoints.append(
                TimepointResponse(
                    date=as_date(get(tp, "date", where), f"{where}.date"),
                    baseline=bool(tp.get("baseline", False)),
                    sum_mm=optional_number(tp, "sum_mm", where),
                    nadir_mm=optional_number(tp, "nadir_mm", where),
                    target_response=response(tp, "target_response", where),
                    non_target_response=response(tp, "non_target_response", where),
                    new_lesions=bool(tp.get("new_lesions", False)),
                    overall_response=response(tp, "overall_response", where),
                    hepatic_response=response(tp, "hepatic_response", where),
                    equivocal_new_lesions=bool(tp.get("equivocal_new_lesions", False)),
                )
            )
        dates = [tp.date for tp in timepoints]
        if dates != sorted(dates) or len(set(dates)) != len(dates):
            raise ReportingInputError("assessment.timepoints: dates must be unique and ascending")
        hep = data.get("hepatic_progression")
        hep_date = None
        if isinstance(hep, Mapping) and hep.get("date") is not None:
            hep_date = as_date(hep["date"], "assessment.hepatic_progression.date")
        return cls(
            subject_id=subject_id,
            timepoints=tuple(timepoints),
            best_overall_response=response(data, "best_overall_response", "assessment"),
            hepatic_progression_date=hep_date,
        )

    @property
    def baseline(self) -> TimepointResponse | None:
        """The baseline timepoint (the first one flagged baseline), if any."""
        return next((tp for tp in self.timepoints if tp.baseline), None)

    def timepoint(self, date: dt.date) -> TimepointResponse | None:
        """Return the timepoint of that date, if any."""
        return next((tp for tp in self.timepoints if tp.date == date), None)


@dataclass(frozen=True, slots=True)
class TimepointMeasurement:
    """A measurement (measure JSON) taken at a subject's timepoint.

    Parameters
    ----------
    date
        Study date of the timepoint.
    measurement
        The measure JSON document (contracts/measure.md).
    visit
        Visit label (``"BASELINE"``, ``"WEEK 12"``, ...); empty for the default naming.
    lesion_uids
        Measure ``lesion_id`` -> a UID (or stable identifier) that stays the same for the same
        lesion across timepoints; lesions not listed get no stable identity.
    lesion_names
        Measure ``lesion_id`` -> the subject's record id of that lesion (``T1``, ``NT2``,
        ``NEW1``): what reports and FHIR call it; lesions not listed keep their measured id.
    """

    date: dt.date
    measurement: MeasurementSummary
    visit: str = ""
    lesion_uids: Mapping[str, str] = field(default_factory=dict)
    lesion_names: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(
        cls,
        date: dt.date | str,
        measurement: Mapping[str, Any],
        visit: str = "",
        lesion_uids: Mapping[str, str] | None = None,
        lesion_names: Mapping[str, str] | None = None,
    ) -> TimepointMeasurement:
        """Build from a date and a decoded measure JSON document."""
        return cls(
            date=as_date(date, "timepoint date"),
            measurement=MeasurementSummary.from_json(measurement),
            visit=visit,
            lesion_uids=dict(lesion_uids or {}),
            lesion_names=dict(lesion_names or {}),
        )

    def name_of(self, lesion_id: str) -> str:
        """Return the record id a measured lesion was read as, else its measured id."""
        return self.lesion_names.get(lesion_id, lesion_id)


@dataclass(frozen=True, slots=True)
class SubjectData:
    """Everything known about one trial subject, as the reporting outputs need it.

    Parameters
    ----------
    assessment
        The subject's assessment output (contracts/recist-assess.md), as a decoded document.
    assessment_input
        The assessment input (lesions, roles, per-timepoint readings); needed for SDTM TU/TR.
    arm
        Treatment arm (plots by arm, report header); ``None`` when unknown.
    timepoints
        Measurements per timepoint (burden, lesion axes, FHIR observations); may be empty.
    visits
        ISO date -> visit label, overriding the default ``BASELINE`` / ``FOLLOW-UP n`` /
        ``SCREENING``.
    screening_input
        The lesion readings of the scans before the baseline (screening), shaped as an
        assessment input (``lesions``, ``timepoints`` with ``measurements``); SDTM TR reports
        them. ``None`` when there were none.
    """

    assessment: Mapping[str, Any]
    assessment_input: Mapping[str, Any] | None = None
    arm: str | None = None
    timepoints: tuple[TimepointMeasurement, ...] = ()
    visits: Mapping[str, str] = field(default_factory=dict)
    screening_input: Mapping[str, Any] | None = None
    #: The checked assessment output (set from ``assessment``).
    summary: AssessmentSummary = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "summary", AssessmentSummary.from_json(self.assessment))
        object.__setattr__(self, "timepoints", tuple(self.timepoints))

    @property
    def subject_id(self) -> str:
        """The subject id of the assessment."""
        return self.summary.subject_id

    @property
    def screening_dates(self) -> list[dt.date]:
        """Dates of the screening readings (scans before the baseline), ascending."""
        raw = (self.screening_input or {}).get("timepoints") or []
        found = {
            as_date(tp.get("date"), f"screening_input.timepoints[{i}].date")
            for i, tp in enumerate(raw)
            if isinstance(tp, Mapping)
        }
        baseline = self.summary.baseline
        return sorted(d for d in found if baseline is None or d < baseline.date)

    @property
    def visit_dates(self) -> list[dt.date]:
        """Every visit's date: screening scans, assessed timepoints, measured timepoints."""
        return sorted(
            {tp.date for tp in self.summary.timepoints}
            | {t.date for t in self.timepoints}
            | set(self.screening_dates)
        )

    def visit_of(self, date: dt.date) -> tuple[int, str]:
        """Visit number (1-based, by date) and label of the timepoint at ``date``."""
        summary = self.summary
        dates = self.visit_dates
        number_ = dates.index(date) + 1 if date in dates else 0
        label = self.visits.get(date.isoformat())
        if not label:
            label = next((t.visit for t in self.timepoints if t.date == date and t.visit), "")
        baseline = summary.baseline
        if not label and baseline is not None and date < baseline.date:
            label = "SCREENING"
        if not label:
            tp = summary.timepoint(date)
            before = sum(1 for d in dates if baseline is not None and d < baseline.date)
            label = (
                "BASELINE"
                if tp is not None and tp.baseline
                else f"FOLLOW-UP {number_ - 1 - before}"
            )
        return number_, label

    def measurement_at(self, date: dt.date) -> TimepointMeasurement | None:
        """Return the measurement taken at ``date``, if any."""
        return next((t for t in self.timepoints if t.date == date), None)

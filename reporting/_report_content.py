"""What a subject report shows, independent of its format (HTML or PDF)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from reporting.errors import ReportingInputError
from reporting.model import SubjectData
from reporting.plots import (
    burden_plot,
    percent_change_from_baseline,
    percent_change_from_nadir,
    spider_plot,
    subject_burden_points,
)

__all__ = ["KeyImage", "SubjectReport"]

_RESPONSE_TEXT = {"NON_CR_NON_PD": "Non-CR/Non-PD"}


@dataclass(frozen=True, slots=True)
class KeyImage:
    """A PNG shown in the report, with its title (e.g. ``"2020-01-01 L1"``)."""

    title: str
    png: bytes


@dataclass(frozen=True, slots=True)
class SubjectReport:
    """Everything the subject report shows.

    Parameters
    ----------
    subject
        The subject's assessment and measurements.
    generated_at
        When the report was generated (shown, and the only time in it: the same inputs and time
        give the same report).
    study_id
        Trial identifier shown in the header.
    key_images
        Key image PNGs (see :mod:`reporting.keyimages`).
    algorithm_version
        Shown in the provenance section; defaults to the measurements' versions.
    input_hashes
        Label -> SHA-256 of each input; defaults to each measurement's ``input_sha256``.
    """

    subject: SubjectData
    generated_at: dt.datetime
    study_id: str = ""
    key_images: tuple[KeyImage, ...] = ()
    algorithm_version: str = ""
    input_hashes: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.generated_at, dt.datetime):
            raise ReportingInputError("generated_at: expected a datetime")

    @property
    def versions(self) -> str:
        if self.algorithm_version:
            return self.algorithm_version
        found = sorted({t.measurement.algorithm_version for t in self.subject.timepoints})
        return ", ".join(found) if found else "n/a"

    @property
    def hashes(self) -> list[tuple[str, str]]:
        if self.input_hashes:
            return sorted(self.input_hashes.items())
        return [
            (f"measurement {t.date.isoformat()}", t.measurement.input_sha256)
            for t in sorted(self.subject.timepoints, key=lambda t: t.date)
            if t.measurement.input_sha256
        ]

    def generated_text(self) -> str:
        return self.generated_at.isoformat(timespec="seconds")


def response_text(value: str | None) -> str:
    """Display text of a response value (``-`` when there is none)."""
    return "-" if value is None else _RESPONSE_TEXT.get(value, value)


def _mm(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


TIMEPOINT_HEADERS = (
    "Date",
    "Visit",
    "Sum (mm)",
    "Nadir (mm)",
    "Change (%)",
    "From nadir (%)",
    "Target",
    "Non-target",
    "New lesions",
    "Overall",
    "Hepatic",
    "Burden (%)",
)
#: Columns of TIMEPOINT_HEADERS that hold a response (coloured in the report).
RESPONSE_COLUMNS = frozenset({6, 7, 9, 10})


def timepoint_rows(report: SubjectReport) -> list[list[str]]:
    """One row per timepoint, as text, in :data:`TIMEPOINT_HEADERS` order."""
    subject = report.subject
    changes = dict(percent_change_from_baseline(subject.summary))
    from_nadir = dict(percent_change_from_nadir(subject.summary))
    base = subject.summary.baseline
    rows = []
    for tp in subject.summary.timepoints:
        days = (tp.date - base.date).days if base is not None else None
        change = changes.get(days) if days is not None else None
        rise = from_nadir.get(days) if days is not None else None
        tm = subject.measurement_at(tp.date)
        burden = None if tm is None else tm.measurement.burden_fraction
        new = "yes" if tp.new_lesions else ("equivocal" if tp.equivocal_new_lesions else "no")
        rows.append(
            [
                tp.date.isoformat(),
                subject.visit_of(tp.date)[1],
                _mm(tp.sum_mm),
                _mm(tp.nadir_mm),
                "-" if change is None or tp.baseline else f"{change:+.1f}",
                "-" if rise is None or tp.baseline else f"{rise:+.1f}",
                response_text(tp.target_response),
                response_text(tp.non_target_response),
                "-" if tp.baseline else new,
                response_text(tp.overall_response),
                response_text(tp.hepatic_response),
                "-" if burden is None else f"{100.0 * burden:.2f}",
            ]
        )
    return rows


LESION_HEADERS = (
    "Date",
    "Lesion",
    "Record",
    "Long axis (mm)",
    "Short axis (mm)",
    "Volume (mL)",
    "Slice",
    "Measurable",
)


def lesion_rows(report: SubjectReport) -> list[list[str]]:
    """Return one row per measured lesion per timepoint.

    Each row: its measured id, the record lesion it was read as (a new lesion marked ``new``;
    ``-`` when not linked), axes, volume, slice, measurability.
    """
    rows = []
    for tm in sorted(report.subject.timepoints, key=lambda t: t.date):
        for les in tm.measurement.lesions:
            name = tm.lesion_names.get(les.lesion_id)
            record = "-" if name is None else (f"{name} (new)" if name.startswith("NEW") else name)
            rows.append(
                [
                    tm.date.isoformat(),
                    les.lesion_id,
                    record,
                    f"{les.long_axis_mm:.1f}",
                    f"{les.short_axis_mm:.1f}",
                    f"{les.volume_ml:.2f}",
                    str(les.slice_index + 1),
                    "yes" if les.measurable else "no",
                ]
            )
    return rows


def summary_lines(report: SubjectReport) -> list[tuple[str, str]]:
    """Headline facts: subject, arm, best overall response, hepatic progression."""
    s = report.subject.summary
    hep = s.hepatic_progression_date
    return [
        ("Study", report.study_id or "-"),
        ("Subject", s.subject_id),
        ("Arm", report.subject.arm or "-"),
        ("Best overall response (RECIST 1.1)", response_text(s.best_overall_response)),
        ("Hepatic progression", f"yes, {hep.isoformat()}" if hep else "no"),
    ]


def report_plots(report: SubjectReport) -> list[tuple[str, bytes]]:
    """Return the subject's plots: the sum's change from baseline and nadir, burden over time.

    The change from the nadir is drawn because progression is measured from there.
    """
    sid = report.subject.subject_id
    out = [
        (
            "Change of the sum of diameters from baseline",
            spider_plot([report.subject], title=f"{sid}: change from baseline"),
        ),
        (
            "Change of the sum of diameters from the nadir (RECIST 1.1 progression: +20 %)",
            spider_plot([report.subject], title=f"{sid}: change from nadir", reference="nadir"),
        ),
    ]
    points = subject_burden_points(report.subject)
    if points:
        out.append(
            (
                "Hepatic tumour burden",
                burden_plot(
                    {report.subject.subject_id: points},
                    title=f"{report.subject.subject_id}: tumour burden",
                ),
            )
        )
    return out

"""Outputs for other systems, assembled from the database and the blob store (contracts/http.md).

Each function looks up what it needs, calls :mod:`reporting`, records an ``output.generated``
audit event (the caller commits) and returns an :class:`Output`: the bytes, their media type and
file name, and their provenance -- the algorithm version(s) and one SHA-256 over the inputs.

- :func:`measurement_sr`, :func:`measurement_seg`: DICOM SR (TID 1500) and SEG of one
  measurement, referencing its source series (re-read from the blob store). Their UIDs are
  derived from the measurement and everything else the content depends on, and their creation
  date/time is the measurement's ``created_at`` (UTC), so asking twice for the same content gives
  the same file, byte for byte (a PACS stores it once).
- :func:`subject_sdtm`, :func:`trial_sdtm`: CDISC SDTM TU/TR/RS of one subject or of every
  subject (CSV or SAS transport v5).
- :func:`subject_fhir`: FHIR R4 Bundle of mCODE tumour-size observations.
- :func:`subject_report`: the subject report, HTML (self-contained) or PDF, with key images.

A subject's data is its lesion table assessed from the baseline on and the latest measurement of
each timepoint (:mod:`app.outputs.subject`).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth import audit
from app.db import repo
from app.db.models import Adoption, Job, Measurement, Subject, Timepoint
from app.errors import InvalidRequestError, NotFoundError
from app.measure.labels import masks_from_labels
from app.measure.sources import load_measurement_source
from app.outputs.subject import (
    Assessment,
    SubjectMeasurement,
    canonical_sha256,
    derived_uid,
    measurement_lesion_names,
    measurement_lesion_uids,
    optional_assessment,
    subject_assessment,
    subject_data,
    subject_measurements,
    timepoint_measurements,
)
from app.settings import DEFAULT_STUDY_ID
from app.store.blobs import BlobStore
from app.subjects.eligibility import eligibility
from app.subjects.endpoints import subject_hpfs
from app.version import ALGORITHM_VERSION
from app.vocab import JobKind
from dicomio.frames import part10_bytes
from recist.errors import RecistError
from reporting import (
    LIVER_WINDOW,
    AssessmentSummary,
    KeyImage,
    SubjectData,
    SubjectReport,
    build_fhir_bundle,
    build_sdtm,
    build_seg,
    build_sr,
    key_images,
    lesion_labels_from_measurement,
    render_html,
    render_pdf,
)
from reporting.adtte import HpfsRow, build_adtte
from reporting.trial_report import (
    RunLine,
    TrialReport,
    TrialSubject,
    VersionLine,
    best_hepatic_change_pct,
    render_trial_html,
    render_trial_pdf,
)

__all__ = [
    "DEFAULT_STUDY_ID",
    "Output",
    "masks_from_labels",
    "measurement_seg",
    "measurement_sr",
    "subject_fhir",
    "subject_report",
    "subject_sdtm",
    "trial_sdtm",
]

logger = logging.getLogger(__name__)

SdtmFormat = Literal["csv", "xpt"]
ReportFormat = Literal["html", "pdf"]

_MEDIA = {
    "csv": "text/csv; charset=utf-8",
    "xpt": "application/x-sas-xport",
    "dicom": "application/dicom",
    "fhir": "application/fhir+json",
    "html": "text/html; charset=utf-8",
    "pdf": "application/pdf",
}


@dataclass(frozen=True, slots=True)
class Output:
    """One generated output and its provenance.

    ``input_sha256`` is one SHA-256 over every input the content depends on (measurement input
    hashes, the lesion table); ``skipped`` lists subjects left out of a whole-trial output.
    """

    content: bytes
    media_type: str
    filename: str
    algorithm_version: str
    input_sha256: str
    attachment: bool = True
    skipped: tuple[str, ...] = field(default=())


def _safe(name: str) -> str:
    """Return a file-name-safe form of an identifier."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "output"


def _record(
    session: Session, actor: str, entity: tuple[str, str], output: Output, **extra: Any
) -> None:
    audit.record(
        session,
        actor,
        "output.generated",
        entity[0],
        entity[1],
        {
            "output": output.filename,
            "media_type": output.media_type,
            "algorithm_version": output.algorithm_version,
            "input_sha256": output.input_sha256,
            **extra,
        },
    )


def _measurement_context(session: Session, measurement_id: str) -> tuple[Measurement, Timepoint]:
    m = repo.get_measurement(session, measurement_id)
    return m, repo.get_timepoint(session, m.timepoint_id)


# -- DICOM outputs of one measurement ---------------------------------------------------------


def measurement_sr(
    session: Session, blobs: BlobStore, scratch_dir: Path, measurement_id: str, actor: str
) -> Output:
    """DICOM SR (TID 1500) of a measurement; with the RECIST response when assessable."""
    m, tp = _measurement_context(session, measurement_id)
    subject = tp.subject
    source = load_measurement_source(session, blobs, scratch_dir, m, headers=True)
    assessment = optional_assessment(session, subject)
    if assessment is not None and not assessment.has_date(tp.date):
        assessment = None  # a timepoint before the baseline: no response to report
    uids = measurement_lesion_uids(session, subject, m)
    key = canonical_sha256(
        {
            "measurement_id": m.id,
            "input_sha256": m.input_sha256,
            "algorithm_version": m.algorithm_version,
            "assessment": None if assessment is None else assessment.output,
            "lesion_uids": uids,
            "time_point": tp.label,
        }
    )
    sop_uid = derived_uid("sr", key)
    sr = build_sr(
        m.result,
        list(source.datasets),
        assessment=None if assessment is None else assessment.output,
        timepoint_date=tp.date,
        time_point_label=tp.label,
        lesion_uids=uids,
        series_instance_uid=derived_uid("sr-series", m.id),
        sop_instance_uid=sop_uid,
        uid_seed=m.id,
        content_datetime=m.created_at,
    )
    out = Output(
        part10_bytes(sr), _MEDIA["dicom"], f"{m.id}_sr.dcm", m.algorithm_version, m.input_sha256
    )
    _record(
        session,
        actor,
        ("measurement", m.id),
        out,
        sop_instance_uid=sop_uid,
        assessment_input_sha256=None if assessment is None else assessment.input_sha256,
    )
    return out


def measurement_seg(
    session: Session, blobs: BlobStore, scratch_dir: Path, measurement_id: str, actor: str
) -> Output:
    """DICOM SEG of a measurement: the liver (if any), then one segment per lesion."""
    m, tp = _measurement_context(session, measurement_id)
    source = load_measurement_source(session, blobs, scratch_dir, m, headers=True, masks=True)
    assert source.tumor is not None
    labels = source.lesion_labels
    if labels is None:  # a measurement made before its masks were kept
        labels = lesion_labels_from_measurement(source.tumor, m.result, source.lesions)
    ids = [str(les["lesion_id"]) for les in m.result.get("lesions", [])]
    uids = measurement_lesion_uids(session, tp.subject, m)
    key = canonical_sha256(
        {
            "measurement_id": m.id,
            "input_sha256": m.input_sha256,
            "algorithm_version": m.algorithm_version,
            "lesion_uids": uids,
        }
    )
    sop_uid = derived_uid("seg", key)
    seg = build_seg(
        list(source.datasets),
        labels,
        ids,
        liver_mask=source.liver,
        lesion_uids=uids,
        algorithm_version=m.algorithm_version,
        series_instance_uid=derived_uid("seg-series", m.id),
        sop_instance_uid=sop_uid,
        uid_seed=m.id,
        content_datetime=m.created_at,
    )
    out = Output(
        part10_bytes(seg), _MEDIA["dicom"], f"{m.id}_seg.dcm", m.algorithm_version, m.input_sha256
    )
    _record(session, actor, ("measurement", m.id), out, sop_instance_uid=sop_uid)
    return out


# -- subject outputs ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Provenance:
    algorithm_version: str
    input_sha256: str
    hashes: dict[str, str]


def _provenance(items: Sequence[SubjectMeasurement], assessment: Assessment | None) -> _Provenance:
    versions = sorted({item.measurement.algorithm_version for item in items})
    hashes = {
        f"{item.timepoint.label} ({item.timepoint.date.isoformat()}) measurement "
        f"{item.measurement.id}": item.measurement.input_sha256
        for item in items
    }
    if assessment is not None:
        hashes["RECIST lesion table (assessment input)"] = assessment.input_sha256
    return _Provenance(
        ", ".join(versions) if versions else ALGORITHM_VERSION, canonical_sha256(hashes), hashes
    )


def _subject(session: Session, subject_id: str) -> tuple[Subject, SubjectData, _Provenance]:
    subject = repo.get_subject(session, subject_id)
    assessment = subject_assessment(session, subject)
    items = subject_measurements(session, subject)
    return (
        subject,
        subject_data(session, subject, items, assessment),
        _provenance(items, assessment),
    )


def subject_sdtm(
    session: Session, subject_id: str, domain: str, fmt: SdtmFormat, study_id: str, actor: str
) -> Output:
    """SDTM ``domain`` (tu, tr, rs) of one subject, as CSV or SAS transport v5."""
    subject, data, prov = _subject(session, subject_id)
    content = build_sdtm(domain, data, study_id=study_id).to_bytes(fmt)
    name = f"{domain.lower()}_{_safe(subject.subject_id)}.{fmt}"
    out = Output(content, _MEDIA[fmt], name, prov.algorithm_version, prov.input_sha256)
    _record(session, actor, ("subject", subject.subject_id), out, study_id=study_id)
    return out


def _trial_subjects(session: Session) -> Iterator[tuple[Subject, Assessment | None, str]]:
    """Every live subject (by id) with its assessment, or ``None`` and why it is not assessable."""
    for subject in repo.live_subjects(session):
        try:
            yield subject, subject_assessment(session, subject), ""
        except (InvalidRequestError, RecistError) as exc:
            yield subject, None, " ".join(str(exc).split())


def trial_left_out(session: Session) -> list[dict[str, str]]:
    """Return the subjects trial-wide outputs leave out, each with the reason (what to fix)."""
    return [
        {"subject_id": subject.subject_id, "reason": reason}
        for subject, assessment, reason in _trial_subjects(session)
        if assessment is None
    ]


def trial_sdtm(session: Session, domain: str, fmt: SdtmFormat, study_id: str, actor: str) -> Output:
    """SDTM ``domain`` of every assessable subject (by subject id); the others are listed."""
    people: list[SubjectData] = []
    skipped: list[str] = []
    hashes: dict[str, str] = {}
    versions: set[str] = set()
    for subject, assessment, _reason in _trial_subjects(session):
        if assessment is None:
            skipped.append(subject.subject_id)
            continue
        items = subject_measurements(session, subject)
        people.append(subject_data(session, subject, items, assessment))
        prov = _provenance(items, assessment)
        hashes[subject.subject_id] = prov.input_sha256
        versions.update(item.measurement.algorithm_version for item in items)
    dataset = build_sdtm(domain, people, study_id=study_id)
    out = Output(
        dataset.to_bytes(fmt),
        _MEDIA[fmt],
        f"{domain.lower()}.{fmt}",
        ", ".join(sorted(versions)) if versions else ALGORITHM_VERSION,
        canonical_sha256(hashes),
        skipped=tuple(skipped),
    )
    if skipped:
        logger.info("SDTM %s: %d subject(s) not assessable, left out", domain, len(skipped))
    _record(session, actor, ("trial", study_id), out, subjects=len(people), skipped=skipped)
    return out


def trial_adtte(session: Session, fmt: SdtmFormat, study_id: str, actor: str) -> Output:
    """Return the ADaM ADTTE of the hepatic progression-free interval.

    One ``HPFS`` row per live subject; subjects without a start, or whose record cannot be
    assessed, are left out (listed).
    """
    rows: list[HpfsRow] = []
    skipped: list[str] = []
    reasons: dict[str, str] = {}
    hashes: dict[str, Any] = {}
    for subject in repo.live_subjects(session):
        try:
            hpfs, provisional = subject_hpfs(session, subject)
        except (InvalidRequestError, RecistError) as exc:
            skipped.append(subject.subject_id)
            reasons[subject.subject_id] = " ".join(str(exc).split())
            continue
        rows.append(HpfsRow(subject.subject_id, subject.arm, hpfs))
        hashes[subject.subject_id] = {**hpfs.as_dict(), "provisional": provisional}
    dataset = build_adtte(rows, study_id=study_id)
    out = Output(
        dataset.to_bytes(fmt),
        _MEDIA[fmt],
        f"adtte.{fmt}",
        ALGORITHM_VERSION,
        canonical_sha256(hashes),
        skipped=tuple(skipped),
    )
    if skipped:
        logger.info("ADTTE: %d subject(s) left out", len(skipped))
    _record(session, actor, ("trial", study_id), out, subjects=len(rows), skipped=reasons)
    return out


def subject_fhir(session: Session, subject_id: str, actor: str) -> Output:
    """Return the subject's FHIR R4 Bundle.

    mCODE tumour sizes and the burden of every measured timepoint, and the RECIST 1.1 responses
    (mCODE Cancer Disease Status) when the subject can be assessed.
    """
    subject = repo.get_subject(session, subject_id)
    items = subject_measurements(session, subject)
    assessment = optional_assessment(session, subject)
    summary = None if assessment is None else AssessmentSummary.from_json(assessment.output)
    bundle = build_fhir_bundle(
        subject.subject_id, timepoint_measurements(session, subject, items), assessment=summary
    )
    prov = _provenance(items, assessment)
    content = json.dumps(bundle, indent=2).encode("utf-8")
    name = f"{_safe(subject.subject_id)}_fhir.json"
    out = Output(
        content, _MEDIA["fhir"], name, prov.algorithm_version, prov.input_sha256, attachment=False
    )
    _record(session, actor, ("subject", subject.subject_id), out)
    return out


def _lesion_title(names: dict[str, str], lesion_id: str) -> str:
    """``T1 (L2)`` for a lesion read as record lesion T1, else its measured id."""
    name = names.get(lesion_id)
    return lesion_id if name is None else f"{name} ({lesion_id})"


def _key_images(
    session: Session, blobs: BlobStore, scratch_dir: Path, items: Sequence[SubjectMeasurement]
) -> list[KeyImage]:
    out: list[KeyImage] = []
    for item in items:
        m = item.measurement
        if not m.result.get("lesions"):
            continue
        source = load_measurement_source(session, blobs, scratch_dir, m, pixels=True, masks=True)
        assert source.volume.pixels is not None
        window = LIVER_WINDOW if source.volume.info.modality == "CT" else None
        images = key_images(
            source.volume.pixels,
            m.result,
            liver_mask=source.liver,
            tumor_mask=source.tumor,
            window=window,
        )
        date = item.timepoint.date.isoformat()
        names = measurement_lesion_names(session, m)
        out.extend(
            KeyImage(f"{date} {item.timepoint.label} {_lesion_title(names, lesion_id)}", png)
            for lesion_id, png in images.items()
        )
    return out


def subject_report(
    session: Session,
    blobs: BlobStore,
    scratch_dir: Path,
    subject_id: str,
    fmt: ReportFormat,
    actor: str,
    *,
    study_id: str = "",
    with_key_images: bool = True,
    generated_at: dt.datetime | None = None,
) -> Output:
    """Return the subject report, HTML or PDF (responses, key images, plots, provenance)."""
    subject = repo.get_subject(session, subject_id)
    assessment = subject_assessment(session, subject)
    items = subject_measurements(session, subject)
    prov = _provenance(items, assessment)
    images = _key_images(session, blobs, scratch_dir, items) if with_key_images else []
    report = SubjectReport(
        subject_data(session, subject, items, assessment),
        generated_at=generated_at or dt.datetime.now(dt.UTC).replace(microsecond=0),
        study_id=study_id,
        key_images=tuple(images),
        algorithm_version=prov.algorithm_version,
        input_hashes=prov.hashes,
    )
    content = render_pdf(report) if fmt == "pdf" else render_html(report).encode("utf-8")
    name = f"{_safe(subject.subject_id)}_report.{fmt}"
    out = Output(
        content, _MEDIA[fmt], name, prov.algorithm_version, prov.input_sha256, attachment=False
    )
    _record(session, actor, ("subject", subject.subject_id), out, key_images=len(images))
    return out


def _trial_subject(session: Session, subject: Subject) -> tuple[TrialSubject, dict[str, Any]]:
    """One subject of the trial view, and what its numbers rest on (for the input hash)."""
    try:
        read: dict[str, Any] | None = eligibility(session, subject).to_json()
    except NotFoundError:
        read = None
    assessment = optional_assessment(session, subject)
    best = None if assessment is None else best_hepatic_change_pct(assessment.output)
    try:
        hpfs, provisional = subject_hpfs(session, subject)
        note = ""
    except (InvalidRequestError, RecistError) as exc:
        hpfs, provisional, note = None, False, " ".join(str(exc).split())
    row = TrialSubject(
        subject.subject_id,
        subject.arm,
        hpfs,
        eligibility=read,
        best_hepatic_change_pct=best,
        provisional=provisional,
        note=note,
    )
    basis = {
        "measurement": None if read is None else read.get("measurement_id"),
        "assessment_input": None if assessment is None else assessment.input_sha256,
        "hpfs": None if hpfs is None else hpfs.as_dict(),
    }
    return row, basis


def _version_lines(session: Session) -> tuple[VersionLine, ...]:
    """Per algorithm version: the live timepoints whose record it made, and its adoption."""
    counts: Counter[str] = Counter()
    for subject in repo.live_subjects(session):
        for tp in repo.subject_timepoints(session, subject):
            record = repo.measurement_of_record(session, tp)
            if record is not None:
                counts[record.algorithm_version] += 1
    adopted = {
        a.algorithm_version: f"by {a.adopted_by} on {a.adopted_at:%Y-%m-%d}: {a.reason}"
        for a in session.scalars(select(Adoption))
    }
    return tuple(
        VersionLine(version, counts.get(version, 0), adopted.get(version, ""))
        for version in sorted(set(counts) | set(adopted))
    )


def _run_lines(session: Session) -> tuple[RunLine, ...]:
    """Return the service's reprocessing runs, newest first."""
    runs = session.scalars(
        select(Job).where(Job.kind == JobKind.REPROCESS_RUN).order_by(Job.created_at.desc(), Job.id)
    )
    return tuple(
        RunLine(
            run_id=run.id,
            started=f"{run.created_at:%Y-%m-%d %H:%M} UTC",
            requested_by=run.created_by,
            algorithm_version=run.algorithm_version or "",
            outcome=(run.result or {}).get("summary") or f"{run.status}: {run.message}",
            subjects_flipped=(run.result or {}).get("subjects_flipped"),
            report_url=f"/v1/reprocess/{run.id}/report",
        )
        for run in runs
    )


def trial_report(
    session: Session,
    fmt: ReportFormat,
    study_id: str,
    actor: str,
    *,
    generated_at: dt.datetime | None = None,
) -> Output:
    """Return the trial view of every live subject, HTML or PDF.

    Eligibility, H-PFS by arm with Kaplan-Meier, best hepatic response, baseline burden.
    """
    rows: list[TrialSubject] = []
    basis: dict[str, Any] = {}
    for subject in repo.live_subjects(session):
        row, used = _trial_subject(session, subject)
        rows.append(row)
        basis[subject.subject_id] = used
    hashes = tuple((sid, canonical_sha256(v)) for sid, v in basis.items())
    report = TrialReport(
        study_id,
        tuple(rows),
        generated_at or dt.datetime.now(dt.UTC).replace(microsecond=0),
        ALGORITHM_VERSION,
        hashes,
        _version_lines(session),
        _run_lines(session),
    )
    content = (
        render_trial_pdf(report) if fmt == "pdf" else render_trial_html(report).encode("utf-8")
    )
    out = Output(
        content,
        _MEDIA[fmt],
        f"{_safe(study_id)}_trial_report.{fmt}",
        ALGORITHM_VERSION,
        canonical_sha256(basis),
        attachment=False,
    )
    _record(session, actor, ("trial", study_id), out, subjects=len(rows))
    return out

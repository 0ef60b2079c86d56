"""The database schema: SQLAlchemy 2 typed models (Alembic migrations in :mod:`app.db.migrations`).

Public identifiers are UUID strings (timepoints, segmentations, jobs, measurements), DICOM UIDs
and trial subject ids; integer primary keys stay internal. No table holds a patient name,
patient ID or birth date: subjects are known by their trial subject id only.

The job table is the source of truth for measurement work (whatever engine runs it); measurements
are immutable rows, versioned per (timepoint, series, segmentation); audit events form an
append-only hash chain whose head is kept in ``audit_head``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from app.vocab import JobKind, JobStatus, MeasurementOrigin

__all__ = [
    "IN_FLIGHT_INDEX",
    "Adoption",
    "ApiKey",
    "AuditEvent",
    "AuditHead",
    "Base",
    "Instance",
    "Job",
    "Lesion",
    "LesionMeasurement",
    "Measurement",
    "Segmentation",
    "Series",
    "Study",
    "Subject",
    "Timepoint",
    "new_id",
    "utcnow",
]

UID = String(64)  # DICOM UIDs are at most 64 characters (PS3.5 section 9.1)
HASH = String(64)  # SHA-256 hex digest


def new_id() -> str:
    """Return a new public identifier (UUID4, 36 characters)."""
    return str(uuid.uuid4())


def utcnow() -> dt.datetime:
    """Return the current time, timezone-aware UTC."""
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timestamp stored in UTC and read back timezone-aware on every backend (SQLite too)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; expected a timezone-aware UTC timestamp")
        return value.astimezone(dt.UTC)

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with a naming convention (stable constraint names for migrations)."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dt.datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        list[Any]: JSON(),
    }


class Voidable:
    """A row a user can void with a reason: kept (and audited) but left out of every reading."""

    voided_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    voided_by: Mapped[str | None] = mapped_column(String(100), default=None)
    void_reason: Mapped[str | None] = mapped_column(String(500), default=None)

    @property
    def voided(self) -> bool:
        """Whether the row was voided."""
        return self.voided_at is not None


class ApiKey(Base):
    """An API key: a public ``key_id`` to look it up and the SHA-256 of the whole key."""

    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_id: Mapped[str] = mapped_column(String(32), unique=True)
    key_hash: Mapped[str] = mapped_column(HASH)
    role: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class Subject(Voidable, Base):
    """A trial subject, by trial subject id (never a patient name or hospital ID)."""

    __tablename__ = "subjects"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[str] = mapped_column(String(64), unique=True)
    arm: Mapped[str | None] = mapped_column(String(64), default=None)
    #: Start of the hepatic progression-free interval (else the baseline scan); migration 0008.
    randomization_date: Mapped[dt.date | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))
    timepoints: Mapped[list[Timepoint]] = relationship(
        back_populates="subject", order_by="Timepoint.date"
    )


class Timepoint(Voidable, Base):
    """One imaging visit of a subject, linked to a study."""

    __tablename__ = "timepoints"
    #: A label is unique among the subject's timepoints that are not voided (migration 0005).
    __table_args__ = (
        Index(
            "uq_timepoints_live_label",
            "subject_pk",
            "label",
            unique=True,
            sqlite_where=text("voided_at IS NULL"),
            postgresql_where=text("voided_at IS NULL"),
        ),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    subject_pk: Mapped[int] = mapped_column(ForeignKey("subjects.id"), index=True)
    label: Mapped[str] = mapped_column(String(64))
    date: Mapped[dt.date] = mapped_column(Date)
    study_instance_uid: Mapped[str | None] = mapped_column(UID, default=None)
    baseline: Mapped[bool] = mapped_column(Boolean, default=False)
    new_lesions: Mapped[list[Any]] = mapped_column(default=list)
    #: The measurement a radiologist picked as the timepoint's measurement of record (migration
    #: 0005); none: the latest succeeded measurement with a liver.
    record_measurement_id: Mapped[str | None] = mapped_column(String(36), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))
    subject: Mapped[Subject] = relationship(back_populates="timepoints")


class Study(Base):
    """A DICOM study seen in an upload."""

    __tablename__ = "studies"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_instance_uid: Mapped[str] = mapped_column(UID, unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    #: QIDO-RS cache: study-level attributes as DICOM JSON, no patient data (DICOMweb QIDO)
    dicom_attrs: Mapped[dict[str, Any] | None] = mapped_column(default=None)


class Series(Base):
    """A DICOM series; ``phase`` is the contrast phase shown in listings."""

    __tablename__ = "series"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    series_instance_uid: Mapped[str] = mapped_column(UID, unique=True)
    study_pk: Mapped[int] = mapped_column(ForeignKey("studies.id"), index=True)
    modality: Mapped[str] = mapped_column(String(16), default="")
    phase: Mapped[str] = mapped_column(String(32), default="unknown")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    #: QIDO-RS cache: series-level attributes as DICOM JSON (app.api.dicomweb.routes)
    dicom_attrs: Mapped[dict[str, Any] | None] = mapped_column(default=None)


class Instance(Base):
    """One stored DICOM instance: its bytes live in the blob store under ``sha256``."""

    __tablename__ = "instances"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sop_instance_uid: Mapped[str] = mapped_column(UID, unique=True)
    sop_class_uid: Mapped[str] = mapped_column(UID, default="")
    series_pk: Mapped[int] = mapped_column(ForeignKey("series.id"), index=True)
    instance_number: Mapped[int | None] = mapped_column(Integer, default=None)
    sha256: Mapped[str] = mapped_column(HASH, index=True)
    blob_path: Mapped[str] = mapped_column(String(80))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))
    #: QIDO-RS cache: instance-level attributes as DICOM JSON (app.api.dicomweb.routes)
    dicom_attrs: Mapped[dict[str, Any] | None] = mapped_column(default=None)


class Segmentation(Base):
    """An uploaded label map (NIfTI/NRRD) for a series; SEG/RTSTRUCT are stored as instances."""

    __tablename__ = "segmentations"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    series_instance_uid: Mapped[str] = mapped_column(UID, index=True)
    kind: Mapped[str] = mapped_column(String(16), default="labelmap")
    file_suffix: Mapped[str] = mapped_column(String(16))
    sha256: Mapped[str] = mapped_column(HASH)
    blob_path: Mapped[str] = mapped_column(String(80))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))


#: The rows of :data:`IN_FLIGHT_INDEX`: unforced measurement jobs not finished yet.
_IN_FLIGHT_WHERE = "kind = 'measurement' AND status IN ('queued', 'running') AND NOT forced"
#: At most one unforced in-flight measurement job per request and algorithm version, so that
#: identical requests arriving at the same instant cannot both create a job (app.measure.submit).
#: Failed jobs (a retry makes a new row), forced re-runs and batch rows are left out.
IN_FLIGHT_INDEX = "uq_jobs_measurement_in_flight"


class Job(Base):
    """A unit of work; its row is the source of truth whatever engine runs it."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index(
            IN_FLIGHT_INDEX,
            "request_sha256",
            "algorithm_version",
            unique=True,
            sqlite_where=text(_IN_FLIGHT_WHERE),
            postgresql_where=text(_IN_FLIGHT_WHERE),
        ),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(32), default=JobKind.MEASUREMENT)
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.QUEUED, index=True)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    message: Mapped[str] = mapped_column(String(200), default="")
    error: Mapped[str | None] = mapped_column(Text, default=None)
    error_type: Mapped[str | None] = mapped_column(String(200), default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(100), default=None)
    request: Mapped[dict[str, Any]] = mapped_column(default=dict)
    request_sha256: Mapped[str] = mapped_column(HASH, index=True)
    algorithm_version: Mapped[str] = mapped_column(String(32))
    measurement_id: Mapped[str | None] = mapped_column(ForeignKey("measurements.id"), default=None)
    #: A batch row's result line (``kind == "batch"``; migration 0002); measurements keep theirs in
    #: the measurements table.
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    #: A re-run asked for with ``force`` (a new job even while an identical one is in flight):
    #: left out of the unique index of in-flight requests (migration 0004).
    forced: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    finished_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class Measurement(Voidable, Base):
    """An immutable measurement result, versioned per (timepoint, series, segmentation)."""

    __tablename__ = "measurements"
    __table_args__ = (
        UniqueConstraint("timepoint_id", "series_instance_uid", "segmentation_ref", "version"),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    timepoint_id: Mapped[str] = mapped_column(ForeignKey("timepoints.id"), index=True)
    series_instance_uid: Mapped[str] = mapped_column(UID)
    segmentation_ref: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer)
    input_sha256: Mapped[str] = mapped_column(HASH, index=True)
    request_sha256: Mapped[str] = mapped_column(HASH)
    algorithm_version: Mapped[str] = mapped_column(String(32))
    result: Mapped[dict[str, Any]] = mapped_column()
    #: Blob of the masks it was made from (app.measure.masks; migration 0006); None before.
    masks_sha256: Mapped[str | None] = mapped_column(HASH, default=None)
    job_id: Mapped[str | None] = mapped_column(String(36), default=None)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    #: ``request`` (someone asked for it) or ``reprocess`` (a re-measurement under a later
    #: algorithm version, held back until that version is adopted; migration 0009).
    origin: Mapped[str] = mapped_column(
        String(16), default=MeasurementOrigin.REQUEST, server_default=MeasurementOrigin.REQUEST
    )


class Adoption(Base):
    """An algorithm version whose reprocessed measurements the service serves (an admin's act)."""

    __tablename__ = "adoptions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    algorithm_version: Mapped[str] = mapped_column(String(32), unique=True)
    reason: Mapped[str] = mapped_column(String(500))
    adopted_by: Mapped[str] = mapped_column(String(100))
    adopted_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Lesion(Base):
    """A lesion a radiologist follows for a subject (RECIST role, organ, node)."""

    __tablename__ = "lesions"
    __table_args__ = (UniqueConstraint("subject_pk", "lesion_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_pk: Mapped[int] = mapped_column(ForeignKey("subjects.id"), index=True)
    lesion_id: Mapped[str] = mapped_column(String(32))
    organ: Mapped[str] = mapped_column(String(64))
    lymph_node: Mapped[bool] = mapped_column(Boolean, default=False)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(100))
    #: ``proposed`` by lesion tracking, ``confirmed`` by a reader (migration 0007).
    state: Mapped[str] = mapped_column(String(16), default="confirmed", server_default="confirmed")
    #: The measured lesion it was found as (mask reference), and where it lay then (LPS mm).
    measurement_id: Mapped[str | None] = mapped_column(String(36), default=None)
    measurement_lesion_id: Mapped[str | None] = mapped_column(String(16), default=None)
    centroid_mm: Mapped[list[Any] | None] = mapped_column(default=None)
    #: For a new lesion (role ``new``): the timepoint it was first seen at.
    first_timepoint_id: Mapped[str | None] = mapped_column(String(36), default=None)


class LesionMeasurement(Base):
    """A lesion's measurement at one timepoint: a diameter (caliper or mask-derived) or a status."""

    __tablename__ = "lesion_measurements"
    __table_args__ = (UniqueConstraint("lesion_pk", "timepoint_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lesion_pk: Mapped[int] = mapped_column(ForeignKey("lesions.id", ondelete="CASCADE"))
    timepoint_id: Mapped[str] = mapped_column(ForeignKey("timepoints.id"), index=True)
    diameter_mm: Mapped[float | None] = mapped_column(Float, default=None)
    status: Mapped[str | None] = mapped_column(String(32), default=None)
    fragments_mm: Mapped[list[Any] | None] = mapped_column(default=None)
    source: Mapped[str] = mapped_column(String(16), default="caliper")
    measurement_id: Mapped[str | None] = mapped_column(String(36), default=None)
    source_lesion_id: Mapped[str | None] = mapped_column(String(16), default=None)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(100))
    #: ``proposed`` by lesion tracking, ``confirmed`` by a reader (migration 0007).
    state: Mapped[str] = mapped_column(String(16), default="confirmed", server_default="confirmed")
    #: How tracking found the link: kind, distance after alignment, overlap, confidence.
    evidence: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    merged_into: Mapped[str | None] = mapped_column(String(32), default=None)
    merged_from: Mapped[list[Any] | None] = mapped_column(default=None)


class AuditEvent(Base):
    """One audit event; ``hash`` = SHA-256(prev_hash + canonical JSON of the event)."""

    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, unique=True)
    ts: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(64), index=True)
    entity_type: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str] = mapped_column(String(100))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    prev_hash: Mapped[str] = mapped_column(HASH)
    hash: Mapped[str] = mapped_column(HASH)


class AuditHead(Base):
    """The chain's head (one row): the last sequence number and hash; locked to append."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(HASH)

"""Request and response bodies of the HTTP API (pydantic): ``*Create``/``*In`` in, ``*Public`` out.

``from_domain`` builds a public body from a database row; field names follow contracts/http.md.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self, cast

from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator

from app.db.models import (
    ApiKey,
    AuditEvent,
    Job,
    Segmentation,
    Subject,
    Timepoint,
    Voidable,
)
from app.subjects.lesions import (
    LesionDefinition,
    LesionTableEdit,
    LesionValue,
    NewLesion,
    TimepointLesionsEdit,
)
from app.subjects.timepoints import TimepointDraft
from app.subjects.tracking import LesionChange
from app.vocab import JobStatus

if TYPE_CHECKING:
    from app.archive.uploads import UploadSummary

__all__ = [
    "AuditEventPublic",
    "AuditVerifyPublic",
    "EligibilityPublic",
    "JobAccepted",
    "JobPublic",
    "KeyCreate",
    "KeyCreated",
    "KeyPublic",
    "LesionIn",
    "LesionMeasurementIn",
    "LesionsPut",
    "MeasurementCreate",
    "NewLesionIn",
    "SegmentationPublic",
    "SubjectCreate",
    "SubjectPublic",
    "TimepointCreate",
    "TimepointLesionsPut",
    "TimepointPublic",
    "UploadPublic",
]

_ID = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
_UID = r"^[0-9]+(\.[0-9]+)*$"


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    return False


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        """No NUL character in any text: PostgreSQL cannot store one (SQLite would, silently)."""
        if _has_nul(data):
            raise ValueError("text must not contain NUL characters")
        return data


class _Row(BaseModel):
    """A public body whose fields are the stored row's attributes of the same names."""

    @classmethod
    def from_domain(cls, row: Subject | ApiKey | AuditEvent) -> Self:
        return cls.model_validate(row, from_attributes=True)


class SubjectCreate(_In):
    """A trial subject: its trial subject id (never a patient name or hospital ID) and arm."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"subject_id": "S-001", "arm": "TAE"}]}
    )
    subject_id: str = Field(pattern=_ID)
    arm: str | None = Field(default=None, max_length=64)
    randomization_date: dt.date | None = Field(
        default=None, description="Start of the hepatic progression-free interval."
    )


class SubjectPatch(_In):
    """A correction of a subject's arm or randomization date, with its reason (audited)."""

    arm: str | None = Field(default=None, max_length=64)
    randomization_date: dt.date | None = None
    reason: str = Field(min_length=1, max_length=500)


class SubjectPublic(_Row):
    """A subject as stored."""

    subject_id: str
    arm: str | None
    randomization_date: dt.date | None = None
    created_at: dt.datetime


class TimepointCreate(_In):
    """An imaging visit; scans dated on or before the baseline are pre-enrolment scans."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "label": "baseline",
                    "date": "2020-01-01",
                    "study_instance_uid": "1.2.826.0.1.3680043.8.498.1",
                    "baseline": True,
                }
            ]
        }
    )
    label: str = Field(pattern=_ID)
    date: dt.date | None = Field(
        default=None, description="The visit's date; default: the linked study's StudyDate."
    )
    study_instance_uid: str | None = Field(default=None, pattern=_UID, max_length=64)
    baseline: StrictBool = False
    date_reason: str | None = Field(
        default=None,
        min_length=3,
        max_length=500,
        description="Why ``date`` differs from the study's StudyDate (required then; audited).",
    )

    def to_domain(self) -> TimepointDraft:
        return TimepointDraft(
            label=self.label,
            date=self.date,
            study_instance_uid=self.study_instance_uid,
            baseline=self.baseline,
            date_reason=self.date_reason,
        )


class TimepointPatch(_In):
    """A correction of a timepoint's date and/or label; ``reason`` is audited with before/after."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"date": "2026-07-13", "reason": "visit date mistyped"}]}
    )
    date: dt.date | None = None
    label: str | None = Field(default=None, pattern=_ID)
    reason: str = Field(min_length=3, max_length=500)

    @model_validator(mode="after")
    def _something(self) -> Self:
        if self.date is None and self.label is None:
            raise ValueError("give a new date and/or label")
        return self


class RecordChoice(_In):
    """The measurement a timepoint's burden and outputs are to come from, and why."""

    measurement_id: str = Field(min_length=1, max_length=36)
    reason: str = Field(min_length=3, max_length=500)


class VoidRequest(_In):
    """Why a record is voided (kept, audited, left out of every reading)."""

    reason: str = Field(min_length=3, max_length=500)


class VoidedPublic(BaseModel):
    """A voided record: what, when, by whom."""

    entity: Literal["subject", "timepoint", "measurement"]
    id: str
    voided_at: str
    voided_by: str

    @classmethod
    def from_domain(cls, entity: str, ident: str, row: Voidable) -> Self:
        assert row.voided_at is not None and row.voided_by is not None
        return cls(
            entity=cast(Any, entity),
            id=ident,
            voided_at=row.voided_at.isoformat(),
            voided_by=row.voided_by,
        )


class TimepointPublic(BaseModel):
    """A timepoint as stored."""

    timepoint_id: str
    subject_id: str
    label: str
    date: dt.date
    study_instance_uid: str | None
    baseline: bool

    @classmethod
    def from_domain(cls, row: Timepoint, subject_id: str) -> Self:
        return cls(
            timepoint_id=row.id,
            subject_id=subject_id,
            label=row.label,
            date=row.date,
            study_instance_uid=row.study_instance_uid,
            baseline=row.baseline,
        )


class UploadSeries(BaseModel):
    """A series touched by an upload; ``instances`` counts its instances in this upload."""

    series_instance_uid: str
    modality: str
    instances: int
    phase: str
    series_number: int | None = None
    series_description: str = ""


class UploadStudy(BaseModel):
    """A study touched by an upload, with what tells it apart before a timepoint is linked to
    it: StudyDate, description and a SHA-256 digest of the PatientID (never the ID)."""

    study_instance_uid: str
    study_date: str | None = None
    study_description: str = ""
    patient_id_digest: str | None = None
    series: list[UploadSeries]


class UploadSkipped(BaseModel):
    """An archive member that is not a DICOM instance (file name only)."""

    name: str
    reason: str


class UploadPublic(BaseModel):
    """What an upload stored: studies and series, new and already-stored instance counts."""

    studies: list[UploadStudy]
    stored: int = 0
    duplicates: int = 0
    skipped: list[UploadSkipped] = Field(default_factory=list)

    @classmethod
    def from_domain(
        cls, summary: UploadSummary, described: Mapping[str, Mapping[str, Any]] | None = None
    ) -> Self:
        """The summary, with each study's listing entry (``described``) where given."""
        described = described or {}

        def series_of(study_uid: str) -> dict[str, Mapping[str, Any]]:
            listed = described.get(study_uid, {}).get("series") or []
            return {s["series_instance_uid"]: s for s in listed}

        def study(uid: str) -> dict[str, Any]:
            found = described.get(uid, {})
            keys = ("study_date", "study_description", "patient_id_digest")
            return {k: found[k] for k in keys if found.get(k) is not None}

        def series(study_uid: str, uid: str) -> dict[str, Any]:
            found = series_of(study_uid).get(uid, {})
            keys = ("series_number", "series_description")
            return {k: found[k] for k in keys if found.get(k) is not None}

        return cls(
            studies=[
                UploadStudy(
                    study_instance_uid=st.study_instance_uid,
                    **study(st.study_instance_uid),
                    series=[
                        UploadSeries(
                            series_instance_uid=s.series_instance_uid,
                            modality=s.modality,
                            instances=s.instances,
                            phase=s.phase,
                            **series(st.study_instance_uid, s.series_instance_uid),
                        )
                        for s in st.series
                    ],
                )
                for st in summary.studies
            ],
            stored=summary.stored,
            duplicates=summary.duplicates,
            skipped=[UploadSkipped(name=m.name, reason=m.reason) for m in summary.skipped],
        )


class SegmentationPublic(BaseModel):
    """An uploaded label map."""

    segmentation_upload_id: str
    series_instance_uid: str
    sha256: str
    size_bytes: int

    @classmethod
    def from_domain(cls, row: Segmentation) -> Self:
        return cls(
            segmentation_upload_id=row.id,
            series_instance_uid=row.series_instance_uid,
            sha256=row.sha256,
            size_bytes=row.size_bytes,
        )


class MeasurementCreate(_In):
    """A measurement request; ``force`` re-runs an identical request as a new version."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "timepoint_id": "5d9e...",
                    "series_instance_uid": "1.2.3.4",
                    "segmentation_upload_id": "0b7c...",
                    "liver_label": "1",
                    "tumor_labels": ["2"],
                }
            ]
        }
    )
    timepoint_id: str
    series_instance_uid: str = Field(pattern=_UID, max_length=64)
    segmentation_sop_instance_uid: str | None = Field(default=None, pattern=_UID, max_length=64)
    segmentation_upload_id: str | None = None
    liver_label: str | None = Field(default=None, max_length=64)
    tumor_labels: list[str] | None = None
    other_tumor_labels: list[OtherTumorLabel] | None = Field(
        default=None,
        max_length=32,
        description="Tumours outside the liver, each measured as lesions of its organ and never "
        "counted as hepatic (organ: the label's name when left out, else 'other').",
    )
    force: StrictBool = False

    @model_validator(mode="after")
    def _one_segmentation(self) -> Self:
        if (self.segmentation_sop_instance_uid is None) == (self.segmentation_upload_id is None):
            raise ValueError(
                "give exactly one of segmentation_sop_instance_uid or segmentation_upload_id"
            )
        return self


class OtherTumorLabel(_In):
    """A label (value or name) of tumour outside the liver, and its organ."""

    label: str = Field(min_length=1, max_length=64)
    organ: str | None = Field(default=None, min_length=1, max_length=64)


class JobAccepted(BaseModel):
    """A queued (or deduplicated) job."""

    job_id: str


class JobPublic(BaseModel):
    """A job's state; ``result_url`` once it succeeded, ``error`` once it failed."""

    job_id: str
    status: JobStatus
    progress: float = Field(ge=0.0, le=1.0)
    message: str = ""
    result_url: str | None = None
    error: str | None = None
    error_type: str | None = None
    attempts: int = 0
    created_at: dt.datetime
    finished_at: dt.datetime | None = None

    @classmethod
    def from_domain(cls, row: Job) -> Self:
        url = f"/v1/measurements/{row.measurement_id}" if row.measurement_id else None
        return cls(
            job_id=row.id,
            status=JobStatus(row.status),
            progress=row.progress,
            message=row.message,
            result_url=url,
            error=row.error,
            error_type=row.error_type,
            attempts=row.attempts,
            created_at=row.created_at,
            finished_at=row.finished_at,
        )


class LesionIn(_In):
    """A lesion followed for a subject (RECIST 1.1 section 4.2)."""

    lesion_id: str = Field(pattern=r"^[A-Za-z0-9._-]{1,32}$")
    organ: str = Field(min_length=1, max_length=64)
    lymph_node: StrictBool = False
    role: Literal["target", "non_target"]


class LesionsPut(_In):
    """The subject's whole lesion table; lesions left out are removed. ``reason`` is audited."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "reason": "baseline read",
                    "lesions": [
                        {"lesion_id": "T1", "organ": "liver", "lymph_node": False, "role": "target"}
                    ],
                }
            ]
        }
    )
    reason: str = Field(min_length=3, max_length=500)
    lesions: list[LesionIn]

    def to_domain(self) -> LesionTableEdit:
        return LesionTableEdit(
            reason=self.reason,
            lesions=tuple(LesionDefinition(**x.model_dump()) for x in self.lesions),
        )


class LesionMeasurementIn(_In):
    """One lesion at one timepoint: a caliper diameter, fragments, a status, or a mask lesion.

    ``measurement_id`` + ``measurement_lesion_id`` take the diameter from a stored measurement of
    this timepoint (long axis; short axis for lymph nodes).
    """

    lesion_id: str
    diameter_mm: float | None = Field(default=None, ge=0.0, allow_inf_nan=False)
    fragments_mm: list[Annotated[float, Field(ge=0.0, allow_inf_nan=False)]] | None = None
    status: str | None = None
    measurement_id: str | None = None
    measurement_lesion_id: str | None = None

    @model_validator(mode="after")
    def _one_value(self) -> Self:
        given = [
            self.diameter_mm is not None,
            self.fragments_mm is not None,
            self.status is not None,
            self.measurement_id is not None,
        ]
        if sum(given) != 1:
            raise ValueError(
                "give exactly one of diameter_mm, fragments_mm, status, or measurement_id with "
                "measurement_lesion_id"
            )
        if (self.measurement_id is None) != (self.measurement_lesion_id is None):
            raise ValueError("measurement_id and measurement_lesion_id go together")
        return self


class NewLesionIn(_In):
    """A new lesion seen at a timepoint."""

    organ: str = Field(min_length=1, max_length=64)
    equivocal: StrictBool = False


class LesionChangeIn(_In):
    """A reader's change to a tracking proposal: at least one of the optional fields."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 2})

    lesion_id: str = Field(pattern=r"^[A-Za-z0-9._-]{1,32}$")
    role: Literal["target", "non_target"] | None = Field(
        default=None, description="At the baseline: the lesion's RECIST role."
    )
    measurement_lesion_id: str | None = Field(
        default=None,
        pattern=r"^L[0-9]{1,4}$",
        description="Re-link to this lesion of the timepoint's measurement of record, or of "
        "``measurement_id``.",
    )
    measurement_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=36,
        description="With measurement_lesion_id: the measurement of this timepoint the lesion is "
        "in (one without a liver, say); default the timepoint's measurement of record.",
    )
    status: Literal["absent", "too_small", "present", "not_evaluated"] | None = None
    reject: StrictBool | None = Field(default=None, description="A new lesion that is none.")
    equivocal: StrictBool | None = Field(default=None, description="A new lesion's call.")

    @model_validator(mode="after")
    def _some_change(self) -> Self:
        fields = (self.role, self.measurement_lesion_id, self.status, self.reject, self.equivocal)
        if all(v is None for v in fields):
            raise ValueError(
                "a change names at least one of role, measurement_lesion_id, status, reject, "
                "equivocal"
            )
        if self.measurement_lesion_id is not None and self.status is not None:
            raise ValueError("give measurement_lesion_id or status, not both")
        if self.measurement_id is not None and self.measurement_lesion_id is None:
            raise ValueError("measurement_id names where measurement_lesion_id is; give both")
        return self

    def to_domain(self) -> LesionChange:
        return LesionChange(**self.model_dump())


class ConfirmIn(_In):
    """Confirm a timepoint's tracking proposal; ``changes`` (overrides) need a ``reason``."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {},
                {
                    "reason": "NEW1 is a cyst",
                    "changes": [{"lesion_id": "NEW1", "reject": True}],
                },
            ]
        }
    )
    changes: list[LesionChangeIn] = Field(default_factory=list)
    reason: str | None = Field(default=None, min_length=3, max_length=500)

    @model_validator(mode="after")
    def _reason_for_changes(self) -> Self:
        if self.changes and self.reason is None:
            raise ValueError("changes to a proposal need a reason")
        return self


class TimepointLesionsPut(_In):
    """All lesion measurements and new lesions of one timepoint; ``reason`` is audited."""

    reason: str = Field(min_length=3, max_length=500)
    measurements: list[LesionMeasurementIn]
    new_lesions: list[NewLesionIn] = Field(default_factory=list)

    def to_domain(self) -> TimepointLesionsEdit:
        return TimepointLesionsEdit(
            reason=self.reason,
            measurements=tuple(
                LesionValue(
                    **m.model_dump(exclude={"fragments_mm"}),
                    fragments_mm=None if m.fragments_mm is None else tuple(m.fragments_mm),
                )
                for m in self.measurements
            ),
            new_lesions=tuple(NewLesion(**n.model_dump()) for n in self.new_lesions),
        )


class EligibilityPublic(BaseModel):
    """The EDC's eligibility read (contracts/http.md), from the baseline's latest measurement."""

    subject_id: str
    timepoint_id: str
    measurement_id: str
    burden_fraction: float | None
    burden_le_70pct: bool | None
    burden_gt_25pct: bool | None
    measurable_liver_lesion: bool | None
    liver_progression_by_recist: bool | None
    burden_dominant_in_liver: bool | None
    hepatic_share: float | None
    symptomatic: bool | None = Field(description="As the EDC gave it (?symptomatic=); null if not.")
    criteria: list[CriterionPublic]
    imaging_eligible: bool | None = Field(
        description="All four imaging criteria met (true), one not met (false), else null."
    )
    algorithm_version: str


class CriterionPublic(BaseModel):
    """One imaging inclusion criterion: met (true), not met (false) or unknown (null)."""

    criterion: Literal[
        "measurable_liver_metastasis",
        "burden_dominant_in_liver",
        "burden_le_70pct",
        "symptoms_or_liver_progression_or_burden_gt_25pct",
    ]
    met: bool | None
    detail: str


class KeyCreate(_In):
    """A new API key."""

    role: Literal["radiologist", "edc", "admin"]
    name: str = Field(default="", max_length=200)


class KeyPublic(_Row):
    """An API key's public part (never the key or its hash)."""

    key_id: str
    role: str
    name: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None


class KeyCreated(KeyPublic):
    """A new key: ``key`` is shown this once and never stored."""

    key: str


class AuditEventPublic(_Row):
    """One audit event with its chain hashes."""

    seq: int
    ts: str
    actor: str
    action: str
    entity_type: str
    entity_id: str
    details: dict[str, Any]
    prev_hash: str
    hash: str


class AuditVerifyPublic(BaseModel):
    """The outcome of a chain verification."""

    ok: bool
    events: int
    head_seq: int
    problems: list[str]


class ReprocessIn(_In):
    """Which measurements of record to re-measure under this algorithm version (all by default)."""

    subject_ids: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=10000
    )
    since: dt.date | None = Field(
        default=None, description="Only measurements made on or after this day."
    )


class ReprocessRunPublic(BaseModel):
    """A reprocessing run: its progress; once over, the change report (``liverburden reprocess
    --report``'s JSON: counts, the summary line and a row per measurement of record)."""

    run_id: str
    status: JobStatus
    progress: float = Field(ge=0.0, le=1.0)
    summary: str | None = Field(
        default=None, description="`N re-measured, N skipped, N failed, N changed` once over"
    )
    algorithm_version: str | None = None
    requested_by: str | None = None
    measurements: int | None = None
    re_measured: int | None = None
    skipped: int | None = None
    failed: int | None = None
    changed: int | None = None
    flipped: int | None = None
    subjects_flipped: int | None = None
    rows: list[dict[str, Any]] | None = None
    decisions: dict[str, list[dict[str, Any]]] | None = Field(
        default=None,
        description="Per subject, each decision adopting this version would flip: "
        "`{what, now, adopted}` (eligibility criteria, responses, best overall response, "
        "hepatic progression date, H-PFS event); null when there is nothing to adopt",
    )


class AdoptionIn(_In):
    """Why the service is to serve an algorithm version's reprocessed results (audited)."""

    reason: str = Field(min_length=3, max_length=500)


class SwitchedPublic(BaseModel):
    """A timepoint whose measurement of record changed with an adoption, or linked again."""

    subject_id: str
    timepoint: str
    timepoint_id: str
    record_before: str | None
    record_after: str | None
    tracking: str = Field(
        description="How its lesions were linked afterwards, or `kept: why` (confirmed readings "
        "are never replaced: confirm the timepoint again on the new numbers)"
    )


class AdoptionPublic(BaseModel):
    """What adopting an algorithm version changed."""

    algorithm_version: str
    reason: str
    adopted_by: str
    adopted_at: dt.datetime
    reprocessed_measurements: int
    records_switched: int
    timepoints_kept: int
    timepoints: list[SwitchedPublic]


class HpfsPublic(BaseModel):
    """A subject's hepatic progression-free interval (contracts/trial-record.md, Endpoint)."""

    start_date: dt.date
    start: Literal["randomization", "baseline"]
    event: bool = Field(description="True: first hepatic PD by RECIST 1.1; false: censored.")
    date: dt.date = Field(description="The event's date, or the censoring date.")
    days: int = Field(description="date - start_date + 1 (ADaM AVAL).")
    censor_reason: str | None = None
    provisional: bool = Field(description="Rests on readings not confirmed by a radiologist.")


class EndpointsPublic(BaseModel):
    """A subject's endpoints: the trial's primary one, H-PFS."""

    subject_id: str
    arm: str | None
    hpfs: HpfsPublic

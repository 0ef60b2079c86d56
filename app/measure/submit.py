"""Measurement requests: validate, deduplicate and queue a measurement job.

An identical request -- same timepoint, same series bytes (the sorted SHA-256 of its instances),
same segmentation bytes, same label choices and the same algorithm version -- returns the existing
queued, running or succeeded job instead of a new one, unless ``force`` asks for a new version.

Identical requests at the same instant: the look-up alone cannot see a job another transaction
has not committed yet, so the database holds at most one unforced in-flight job per request
(the unique index :data:`app.db.models.IN_FLIGHT_INDEX`). The insert runs in a savepoint; when it
violates the index (PostgreSQL answers once the other transaction has committed) the request
looks again and returns the job that won. On SQLite write transactions are serialised anyway.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.auth import audit
from app.db import repo
from app.db.models import Job, Measurement, Series, Study, Timepoint
from app.errors import ConflictError, InvalidRequestError
from app.store.blobs import BlobStore
from app.version import ALGORITHM_VERSION
from app.vocab import JobKind, JobStatus
from dicomio.references import referenced_series_uids

__all__ = ["submit_measurement"]

logger = logging.getLogger(__name__)

#: Look-up and insert rounds before giving up: a second round is needed only when an identical
#: request committed its job between our look-up and our insert; a third when that job failed
#: at once and yet another identical request won the next round.
_INSERT_ROUNDS = 3

_SEG_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.66.4": "seg",  # Segmentation Storage
    "1.2.840.10008.5.1.4.1.1.481.3": "rtstruct",  # RT Structure Set Storage
}


def _digest(obj: Any) -> str:
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _segmentation(
    session: Session, blobs: BlobStore, body: dict[str, Any], series_uid: str
) -> dict[str, Any]:
    sop_uid = body.get("segmentation_sop_instance_uid")
    upload_id = body.get("segmentation_upload_id")
    if bool(sop_uid) == bool(upload_id):
        raise InvalidRequestError(
            "give exactly one of segmentation_sop_instance_uid (a stored SEG/RTSTRUCT) "
            "or segmentation_upload_id (POST /v1/segmentations)"
        )
    if upload_id:
        seg = repo.get_segmentation(session, str(upload_id))
        if seg.series_instance_uid != series_uid:
            raise InvalidRequestError(
                f"segmentation upload {upload_id} belongs to series {seg.series_instance_uid}, "
                f"not to {series_uid}"
            )
        return {"kind": "upload", "id": seg.id, "sha256": seg.sha256, "suffix": seg.file_suffix}
    inst = repo.get_instance(session, str(sop_uid))
    if inst.sop_class_uid not in _SEG_SOP_CLASSES:
        raise InvalidRequestError(
            f"instance {sop_uid} is not a DICOM SEG or RTSTRUCT; expected one of those"
        )
    referenced = referenced_series_uids(blobs.path(inst.sha256))
    if referenced and series_uid not in referenced:
        raise InvalidRequestError(
            f"{_SEG_SOP_CLASSES[inst.sop_class_uid].upper()} {sop_uid} references series "
            f"{', '.join(sorted(referenced))}, not {series_uid}; expected a segmentation drawn "
            "on the measured series"
        )
    return {
        "kind": _SEG_SOP_CLASSES[inst.sop_class_uid],
        "sop_instance_uid": inst.sop_instance_uid,
        "sha256": inst.sha256,
    }


def _seg_ref(seg: dict[str, Any]) -> str:
    return f"upload:{seg['id']}" if seg["kind"] == "upload" else f"sop:{seg['sop_instance_uid']}"


def _identical_job(session: Session, request_sha: str) -> Job | None:
    """Return the newest queued, running or succeeded measurement job of this request and version.

    A job whose measurement was voided is not one: the request measures again.
    """
    return session.execute(
        select(Job)
        .outerjoin(Measurement, Measurement.id == Job.measurement_id)
        .where(
            Job.kind == JobKind.MEASUREMENT,
            Job.request_sha256 == request_sha,
            Job.algorithm_version == ALGORITHM_VERSION,
            Job.status.in_((JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.SUCCEEDED)),
            Measurement.voided_at.is_(None),
        )
        .order_by(Job.created_at.desc())
        .limit(1)
    ).scalar_one_or_none()


def _queue(
    session: Session, request: dict[str, Any], request_sha: str, actor: str, force: bool
) -> tuple[Job, bool]:
    """Return the identical job to join and False, else a new queued job and True."""
    conflict: IntegrityError | None = None
    for _ in range(_INSERT_ROUNDS):
        if not force:
            existing = _identical_job(session, request_sha)
            if existing is not None:
                return existing, False
        job = Job(
            kind="measurement",
            request=request,
            request_sha256=request_sha,
            algorithm_version=ALGORITHM_VERSION,
            forced=force,
            created_by=actor,
        )
        try:
            with session.begin_nested():  # a conflict leaves the rest of the transaction usable
                session.add(job)
        except IntegrityError as exc:
            if force:  # forced jobs are outside the in-flight index: not a race
                raise
            conflict = exc
            logger.info(
                "an identical measurement request %s queued its job first; looking again",
                request_sha[:12],
            )
            continue
        return job, True
    raise ConflictError(
        f"identical measurement requests are being queued at this moment ({_INSERT_ROUNDS} "
        "conflicts in a row); expected to succeed when sent again"
    ) from conflict


def _check_series_in_timepoint_study(
    session: Session, series: Series, timepoint: Timepoint
) -> None:
    """Refuse a series outside the study its timepoint names (measured on that study only)."""
    if timepoint.study_instance_uid is None:
        return
    study = session.get(Study, series.study_pk)
    if study is None or study.study_instance_uid != timepoint.study_instance_uid:
        raise InvalidRequestError(
            f"series {series.series_instance_uid} is not in study {timepoint.study_instance_uid} "
            f"of timepoint {timepoint.label!r}; expected a series of the timepoint's study"
        )


def submit_measurement(
    session: Session, blobs: BlobStore, body: dict[str, Any], actor: str, *, force: bool = False
) -> tuple[Job, bool]:
    """Queue a measurement job; return ``(job, created)``; the caller commits and enqueues.

    An identical request (same timepoint, series bytes, segmentation bytes, label choices and
    algorithm version) returns the existing queued, running or succeeded job unless ``force``.
    """
    timepoint = repo.get_timepoint(session, str(body["timepoint_id"]))
    series_uid = str(body["series_instance_uid"])
    series = repo.get_series(session, series_uid)
    _check_series_in_timepoint_study(session, series, timepoint)
    instances = repo.series_instances(session, series)
    seg = _segmentation(session, blobs, body, series_uid)
    choices: dict[str, Any] = {
        "liver_label": body.get("liver_label"),
        "tumor_labels": list(body.get("tumor_labels") or []),
    }
    others = [
        [str(o["label"]), None if o.get("organ") is None else str(o["organ"])]
        for o in body.get("other_tumor_labels") or []
    ]
    if others:  # only then: earlier identical requests keep their digest
        choices["other_tumor_labels"] = others
    request_sha = _digest(
        {
            "timepoint_id": timepoint.id,
            "series_sha256": sorted(i.sha256 for i in instances),
            "segmentation_sha256": seg["sha256"],
            "choices": choices,
        }
    )
    request = {
        "timepoint_id": timepoint.id,
        "series_instance_uid": series_uid,
        "segmentation": seg,
        "segmentation_ref": _seg_ref(seg),
        **choices,
    }
    job, created = _queue(session, request, request_sha, actor, force)
    if not created:
        return job, False
    audit.record(
        session,
        actor,
        "measurement.requested",
        "job",
        job.id,
        {
            "request_sha256": request_sha,
            "timepoint_id": timepoint.id,
            "series_instance_uid": series_uid,
            "segmentation": _seg_ref(seg),
            "algorithm_version": ALGORITHM_VERSION,
            "force": force,
        },
    )
    return job, True

"""Administration: API keys, the audit trail and algorithm versions (admin role)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Response
from fastapi.responses import JSONResponse

from app.api.deps import SQL_INT_MAX, BlobsDep, JobsDep, ReadSessionDep, SessionDep, require
from app.api.responses import problems
from app.api.schemas import (
    AdoptionIn,
    AdoptionPublic,
    AuditEventPublic,
    AuditVerifyPublic,
    KeyCreate,
    KeyCreated,
    KeyPublic,
    ReprocessIn,
    ReprocessRunPublic,
)
from app.auth import audit
from app.auth.keys import Permission, Principal, create_key, list_keys, revoke_key
from app.batch.adopt import adopt_version
from app.batch.reprocess import Reprocessed, report_files, run_state, start_run
from app.db import repo
from app.errors import ConflictError, NotFoundError
from app.vocab import JobKind, JobStatus

router = APIRouter(tags=["admin"])

Keys = Annotated[Principal, Depends(require(Permission.MANAGE_KEYS))]
Auditor = Annotated[Principal, Depends(require(Permission.READ_AUDIT))]
Adopter = Annotated[Principal, Depends(require(Permission.ADOPT))]
Reprocessor = Annotated[Principal, Depends(require(Permission.REPROCESS))]


@router.post(
    "/v1/keys",
    status_code=201,
    response_model=KeyCreated,
    summary="Create a key",
    responses=problems(401, 403, 422),
)
def post_key(body: KeyCreate, principal: Keys, session: SessionDep) -> KeyCreated:
    """A new key; the plain key is in this answer only."""
    row, key = create_key(session, body.role, body.name, principal.actor)
    session.commit()
    return KeyCreated(**KeyPublic.from_domain(row).model_dump(), key=key)


@router.get(
    "/v1/keys", response_model=list[KeyPublic], summary="List keys", responses=problems(401, 403)
)
def get_keys(_: Keys, session: ReadSessionDep) -> list[KeyPublic]:
    """Every key's public part."""
    return [KeyPublic.from_domain(r) for r in list_keys(session)]


@router.delete(
    "/v1/keys/{key_id}",
    response_model=KeyPublic,
    summary="Revoke a key",
    responses=problems(401, 403, 404),
)
def delete_key(key_id: str, principal: Keys, session: SessionDep) -> KeyPublic:
    """Revoke a key (idempotent)."""
    row = revoke_key(session, key_id, principal.actor)
    session.commit()
    return KeyPublic.from_domain(row)


@router.get(
    "/v1/audit/events",
    response_model=list[AuditEventPublic],
    summary="Audit events",
    responses=problems(401, 403),
)
def get_events(
    _: Auditor,
    session: ReadSessionDep,
    after_seq: Annotated[int, Query(ge=0, le=SQL_INT_MAX)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    action: Annotated[str | None, Query(max_length=64)] = None,
) -> list[AuditEventPublic]:
    """Events in chain order after ``after_seq``."""
    events = audit.iter_events(session, after_seq=after_seq, limit=limit, action=action)
    return [AuditEventPublic.from_domain(e) for e in events]


@router.get(
    "/v1/audit/verify",
    response_model=AuditVerifyPublic,
    summary="Verify the chain",
    responses=problems(401, 403),
)
def get_verify(_: Auditor, session: ReadSessionDep) -> AuditVerifyPublic:
    """Recompute the hash chain; ``ok`` is false when any event was edited or deleted."""
    report = audit.verify(session)
    return AuditVerifyPublic(
        ok=report.ok, events=report.events, head_seq=report.head_seq, problems=list(report.problems)
    )


@router.post(
    "/v1/algorithm-versions/{version}/adopt",
    response_model=AdoptionPublic,
    summary="Adopt an algorithm version",
    responses=problems(401, 403, 409, 422),
)
def post_adoption(
    version: Annotated[str, Path(min_length=1, max_length=32)],
    body: AdoptionIn,
    principal: Adopter,
    session: SessionDep,
    blobs: BlobsDep,
) -> AdoptionPublic:
    """The service starts serving the measurements `liverburden reprocess` made under `version`:
    each becomes its timepoint's measurement of record (unless a reader picked one by hand) and
    the lesions are linked again; readings a reader confirmed are kept and named. Audited as
    `algorithm.adopted`; 409 when already adopted or nothing was reprocessed under it."""
    done = adopt_version(session, blobs, version, body.reason, principal.actor)
    session.commit()
    return AdoptionPublic.model_validate(done)


@router.post(
    "/v1/reprocess",
    status_code=202,
    response_model=ReprocessRunPublic,
    summary="Re-measure the measurements of record under this algorithm version",
    responses=problems(401, 403, 422),
)
def post_reprocess(
    body: ReprocessIn, principal: Reprocessor, session: SessionDep, jobs: JobsDep
) -> JSONResponse:
    """`liverburden reprocess` run by the service's workers: each measurement of record (all, or
    the subjects named; made on or after `since`) is re-measured and kept as a new measurement,
    held back until the version is adopted; one already done under this version is skipped.
    Answers 202 with `Location: /v1/reprocess/{run_id}` (progress, then the change report)."""
    run, queued = start_run(session, body.subject_ids, body.since, principal.actor)
    session.commit()
    for job_id in queued:
        jobs.enqueue(job_id)
    state = ReprocessRunPublic(run_id=run.id, status=JobStatus(run.status), progress=0.0)
    return JSONResponse(
        state.model_dump(mode="json"),
        status_code=202,
        headers={"Location": f"/v1/reprocess/{run.id}"},
    )


def _run_state(session: SessionDep, blobs: BlobsDep, run_id: str) -> dict[str, Any]:
    """A run's state (its report once over, stored then: committed here)."""
    run = repo.get_job(session, run_id)
    if run.kind != JobKind.REPROCESS_RUN:
        raise NotFoundError(
            f"no reprocessing run {run_id!r}; expected an id POST /v1/reprocess gave"
        )
    state = run_state(session, blobs, run)
    session.commit()
    return state


@router.get(
    "/v1/reprocess/{run_id}",
    response_model=ReprocessRunPublic,
    summary="A reprocessing run: progress, then the change report",
    responses=problems(401, 403, 404),
)
def get_reprocess(
    run_id: str, _: Reprocessor, session: SessionDep, blobs: BlobsDep
) -> ReprocessRunPublic:
    """Progress 0..1 while its re-measurements run; once over, the counts, the summary line and
    a row per measurement of record with every difference and flipped decision."""
    return ReprocessRunPublic.model_validate(_run_state(session, blobs, run_id))


@router.get(
    "/v1/reprocess/{run_id}/report",
    summary="A reprocessing run's change report as CSV or an HTML page",
    responses={
        **problems(401, 403, 404, 409),
        200: {"content": {"text/csv": {}, "text/html": {}}},
    },
)
def get_reprocess_report(
    run_id: str,
    _: Reprocessor,
    session: SessionDep,
    blobs: BlobsDep,
    format: Annotated[Literal["csv", "html"], Query()] = "html",
) -> Response:
    """One line per difference (CSV) or one page (HTML); 409 while the run is not over."""
    state = _run_state(session, blobs, run_id)
    if state["status"] != "succeeded":
        raise ConflictError(
            f"the run is not over ({state['progress']:.0%} done); expected its report once "
            "GET /v1/reprocess/{run_id} says succeeded"
        )
    csv_text, page = report_files([Reprocessed.from_dict(r) for r in state["rows"]], state)
    if format == "csv":
        return Response(csv_text, media_type="text/csv")
    return Response(page, media_type="text/html")

"""Administration: API keys, the audit trail and algorithm versions (admin role)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from app.api.deps import SQL_INT_MAX, BlobsDep, ReadSessionDep, SessionDep, require
from app.api.responses import problems
from app.api.schemas import (
    AdoptionIn,
    AdoptionPublic,
    AuditEventPublic,
    AuditVerifyPublic,
    KeyCreate,
    KeyCreated,
    KeyPublic,
)
from app.auth import audit
from app.auth.keys import Permission, Principal, create_key, list_keys, revoke_key
from app.batch.adopt import adopt_version

router = APIRouter(tags=["admin"])

Keys = Annotated[Principal, Depends(require(Permission.MANAGE_KEYS))]
Auditor = Annotated[Principal, Depends(require(Permission.READ_AUDIT))]
Adopter = Annotated[Principal, Depends(require(Permission.ADOPT))]


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

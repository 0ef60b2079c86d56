"""The append-only, hash-chained audit trail.

Each event stores the hash of the event before it (``prev_hash``; 64 zeros for the first) and its
own ``hash = SHA-256(prev_hash + canonical JSON of the event)``, where the canonical JSON holds the
sequence number, time, actor, action, entity and details with sorted keys and no whitespace.
Appending locks the one-row ``audit_head`` table (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite
transactions are serialised already), so concurrent writers extend one chain. An event is written
in the same transaction as the change it records.

:func:`verify` recomputes the chain: an edited event breaks its own hash, a deleted or reordered
one breaks the sequence or the next ``prev_hash``, a deleted tail no longer matches the head.
Details carry ids, hashes and reasons only, never patient identifiers.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import AuditEvent, AuditHead, utcnow

__all__ = ["GENESIS_HASH", "VerifyReport", "event_hash", "iter_events", "record", "verify"]

GENESIS_HASH = "0" * 64


def _canonical(fields: Mapping[str, Any]) -> str:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _fields(event: AuditEvent) -> dict[str, Any]:
    return {
        "seq": event.seq,
        "ts": event.ts,
        "actor": event.actor,
        "action": event.action,
        "entity_type": event.entity_type,
        "entity_id": event.entity_id,
        "details": event.details,
    }


def event_hash(prev_hash: str, fields: Mapping[str, Any]) -> str:
    """SHA-256 hex of ``prev_hash`` followed by the canonical JSON of the event's fields."""
    return hashlib.sha256((prev_hash + _canonical(fields)).encode("utf-8")).hexdigest()


def record(
    session: Session,
    actor: str,
    action: str,
    entity_type: str,
    entity_id: str,
    details: Mapping[str, Any] | None = None,
) -> AuditEvent:
    """Append an event to the chain inside the caller's transaction (the caller commits)."""
    head = session.execute(
        select(AuditHead).where(AuditHead.id == 1).with_for_update()
    ).scalar_one()
    # Round-trip through JSON so that the hashed form is exactly what the database returns later.
    clean: dict[str, Any] = json.loads(_canonical(dict(details or {})))
    event = AuditEvent(
        seq=head.seq + 1,
        ts=utcnow().isoformat(timespec="microseconds"),
        actor=actor,
        action=action,
        entity_type=entity_type,
        entity_id=str(entity_id),
        details=clean,
        prev_hash=head.hash,
        hash="",
    )
    event.hash = event_hash(head.hash, _fields(event))
    session.add(event)
    head.seq = event.seq
    head.hash = event.hash
    session.flush()
    return event


def iter_events(
    session: Session, *, after_seq: int = 0, limit: int | None = None, action: str | None = None
) -> Iterator[AuditEvent]:
    """Events in chain order, after ``after_seq``, optionally of one action."""
    stmt = select(AuditEvent).where(AuditEvent.seq > after_seq).order_by(AuditEvent.seq)
    if action is not None:
        stmt = stmt.where(AuditEvent.action == action)
    if limit is not None:
        stmt = stmt.limit(limit)
    yield from session.execute(stmt.execution_options(yield_per=1000)).scalars()


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """The outcome of :func:`verify`: ``ok``, events checked, and what is wrong (first faults)."""

    ok: bool
    events: int
    head_seq: int
    problems: tuple[str, ...] = field(default=())


def verify(session: Session, max_problems: int = 20) -> VerifyReport:
    """Recompute the whole chain and compare it with the stored hashes and the head."""
    problems: list[str] = []
    prev = GENESIS_HASH
    expected_seq = 1
    count = 0
    for event in iter_events(session):
        count += 1
        if event.seq != expected_seq:
            problems.append(
                f"event seq {event.seq}: expected seq {expected_seq} "
                "(an event was deleted or reordered)"
            )
        if event.prev_hash != prev:
            problems.append(f"event seq {event.seq}: prev_hash does not match the event before")
        recomputed = event_hash(event.prev_hash, _fields(event))
        if recomputed != event.hash:
            problems.append(f"event seq {event.seq}: content does not match its hash (edited)")
        prev = event.hash
        expected_seq = event.seq + 1
        if len(problems) >= max_problems:
            break
    head = session.execute(select(AuditHead).where(AuditHead.id == 1)).scalar_one()
    if len(problems) < max_problems and (head.seq != expected_seq - 1 or head.hash != prev):
        problems.append(
            f"the chain ends at seq {expected_seq - 1} but its head records seq {head.seq} "
            "(events were deleted at the end, or the head was edited)"
        )
    return VerifyReport(ok=not problems, events=count, head_seq=head.seq, problems=tuple(problems))

"""The hash-chained audit trail: appends, verification, and tampering detected."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from app.auth import audit
from app.db import get_engine, make_session_factory, session_scope, upgrade_database


@pytest.fixture
def factory(tmp_path: Path) -> sessionmaker[Session]:
    """A migrated SQLite database with five audit events."""
    url = f"sqlite:///{tmp_path / 'a.db'}"
    upgrade_database(url)
    factory = make_session_factory(get_engine(url))
    for n in range(5):
        with session_scope(factory) as s:
            audit.record(
                s,
                "test:actor",
                "thing.done",
                "thing",
                f"T{n}",
                {"n": n, "sha256": "ab" * 32, "reason": "because"},
            )
    return factory


def _verify(factory: sessionmaker[Session]) -> audit.VerifyReport:
    with session_scope(factory) as s:
        return audit.verify(s)


def _sql(factory: sessionmaker[Session], statement: str) -> None:
    with session_scope(factory) as s:
        s.execute(text(statement))


def test_intact_chain_verifies(factory: sessionmaker[Session]) -> None:
    """An untouched chain verifies with every event counted and linked to the one before."""
    report = _verify(factory)
    assert report.ok, report.problems
    assert (report.events, report.head_seq) == (5, 5)
    with session_scope(factory) as s:
        events = list(audit.iter_events(s))
    assert events[0].prev_hash == audit.GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(events))


@pytest.mark.parametrize(
    ("statement", "needle"),
    [
        ("UPDATE audit_events SET details = '{\"n\": 99}' WHERE seq = 3", "seq 3: content"),
        ("UPDATE audit_events SET actor = 'someone:else' WHERE seq = 1", "seq 1: content"),
        ("UPDATE audit_events SET ts = '2000-01-01T00:00:00+00:00' WHERE seq = 5", "seq 5"),
        ("DELETE FROM audit_events WHERE seq = 2", "expected seq 2"),
        ("DELETE FROM audit_events WHERE seq = 5", "head records seq 5"),
        (
            "UPDATE audit_events SET seq = CASE seq WHEN 2 THEN 3 WHEN 3 THEN 2 END "
            "WHERE seq IN (2, 3)",
            "seq",
        ),
    ],
    ids=["edit-details", "edit-actor", "edit-time", "delete-middle", "delete-last", "reorder"],
)
def test_tampering_is_detected(factory: sessionmaker[Session], statement: str, needle: str) -> None:
    """Editing, deleting or reordering any event through SQL breaks verification."""
    if "CASE seq" in statement:  # swap through a free value: seq is unique
        _sql(factory, "UPDATE audit_events SET seq = 1000 WHERE seq = 2")
        _sql(factory, "UPDATE audit_events SET seq = 2 WHERE seq = 3")
        _sql(factory, "UPDATE audit_events SET seq = 3 WHERE seq = 1000")
    else:
        _sql(factory, statement)
    report = _verify(factory)
    assert not report.ok
    assert any(needle in p for p in report.problems), report.problems


def test_rehashing_one_event_still_breaks_the_next_link(factory: sessionmaker[Session]) -> None:
    """A forger who recomputes an edited event's hash is caught by the next event's prev_hash."""
    with session_scope(factory) as s:
        event = next(e for e in audit.iter_events(s) if e.seq == 2)
        event.details = {"n": 42}
        event.hash = audit.event_hash(
            event.prev_hash,
            {
                "seq": event.seq,
                "ts": event.ts,
                "actor": event.actor,
                "action": event.action,
                "entity_type": event.entity_type,
                "entity_id": event.entity_id,
                "details": event.details,
            },
        )
    report = _verify(factory)
    assert not report.ok
    assert any("seq 3: prev_hash" in p for p in report.problems), report.problems

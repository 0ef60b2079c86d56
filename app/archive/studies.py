"""Listings of stored studies and series (with contrast phase)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db.models import Instance, Series, Study

__all__ = ["list_studies"]


def list_studies(session: Session, *, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
    """Studies (newest first) with their series' modality, phase and instance count."""
    studies = list(
        session.execute(
            select(Study)
            .order_by(Study.created_at.desc(), Study.id.desc())
            .limit(limit)
            .offset(offset)
        ).scalars()
    )
    if not studies:
        return []
    counts = (
        select(Series, func.count(Instance.id))
        .join(Instance, Instance.series_pk == Series.id, isouter=True)
        .where(Series.study_pk.in_([s.id for s in studies]))
        .group_by(Series.id)
        .order_by(Series.id)
    )
    by_study: dict[int, list[dict[str, Any]]] = {s.id: [] for s in studies}
    for series, count in session.execute(counts):
        by_study[series.study_pk].append(
            {
                "series_instance_uid": series.series_instance_uid,
                "modality": series.modality,
                "phase": series.phase,
                "instances": int(count),
            }
        )
    return [{"study_instance_uid": s.study_instance_uid, "series": by_study[s.id]} for s in studies]

"""At most one in-flight job per identical measurement request: a partial unique index.

Two identical ``POST /v1/measurements`` at the same instant could both miss the other's job and
create two. The index ``uq_jobs_measurement_in_flight`` on ``(request_sha256, algorithm_version)``
covers measurement jobs that are queued or running and not forced; the new ``forced`` column marks
re-runs asked for with ``force``, which may run beside an identical job. Failed jobs (a retry makes
a new row) and batch rows (``kind = 'batch'``) are outside the index.

Duplicates the race already made are kept and marked ``forced`` (all but the oldest of each
request), so that the index can be built.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 10:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEX = "uq_jobs_measurement_in_flight"
_WHERE = "kind = 'measurement' AND status IN ('queued', 'running') AND NOT forced"
_IN_FLIGHT = ("queued", "running")


def _mark_duplicates() -> None:
    jobs = sa.table(
        "jobs",
        sa.column("id", sa.String()),
        sa.column("kind", sa.String()),
        sa.column("status", sa.String()),
        sa.column("request_sha256", sa.String()),
        sa.column("algorithm_version", sa.String()),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("forced", sa.Boolean()),
    )
    older = jobs.alias("older")
    has_older_twin = (
        sa.select(sa.literal(1))
        .where(
            older.c.kind == "measurement",
            older.c.status.in_(_IN_FLIGHT),
            older.c.request_sha256 == jobs.c.request_sha256,
            older.c.algorithm_version == jobs.c.algorithm_version,
            sa.or_(
                older.c.created_at < jobs.c.created_at,
                sa.and_(older.c.created_at == jobs.c.created_at, older.c.id < jobs.c.id),
            ),
        )
        .exists()
    )
    op.execute(
        sa.update(jobs)
        .where(jobs.c.kind == "measurement", jobs.c.status.in_(_IN_FLIGHT), has_older_twin)
        .values(forced=sa.true())
    )


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.add_column(
            sa.Column("forced", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    _mark_duplicates()
    op.create_index(
        _INDEX,
        "jobs",
        ["request_sha256", "algorithm_version"],
        unique=True,
        sqlite_where=sa.text(_WHERE),
        postgresql_where=sa.text(_WHERE),
    )


def downgrade() -> None:
    op.drop_index(_INDEX, table_name="jobs")
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.drop_column("forced")

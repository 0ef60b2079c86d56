"""Voiding with a reason, and the measurement of record a radiologist picks for a timepoint.

Adds ``voided_at``, ``voided_by`` and ``void_reason`` to the three tables. A voided row stays in the
database and the audit trail and leaves every reading. A timepoint's label is unique among the
subject's timepoints that are not voided (partial unique index ``uq_timepoints_live_label``, in
place of the constraint ``uq_timepoints_subject_pk_label``), so a voided visit's label can be
used again. ``timepoints.record_measurement_id`` names the measurement a radiologist picked as the
timepoint's measurement of record (none: the latest succeeded measurement with a liver).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 02:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("subjects", "timepoints", "measurements")
_INDEX = "uq_timepoints_live_label"
_WHERE = "voided_at IS NULL"


def _columns() -> list[sa.Column[object]]:
    return [
        sa.Column("voided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("voided_by", sa.String(length=100), nullable=True),
        sa.Column("void_reason", sa.String(length=500), nullable=True),
    ]


def upgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch_op:
            for column in _columns():
                batch_op.add_column(column)
            if table == "timepoints":
                batch_op.add_column(
                    sa.Column("record_measurement_id", sa.String(length=36), nullable=True)
                )
                batch_op.drop_constraint("uq_timepoints_subject_pk_label", type_="unique")
    op.create_index(
        _INDEX,
        "timepoints",
        ["subject_pk", "label"],
        unique=True,
        sqlite_where=sa.text(_WHERE),
        postgresql_where=sa.text(_WHERE),
    )


def downgrade() -> None:
    op.drop_index(_INDEX, table_name="timepoints")
    for table in _TABLES:
        with op.batch_alter_table(table) as batch_op:
            if table == "timepoints":
                batch_op.create_unique_constraint(
                    "uq_timepoints_subject_pk_label", ["subject_pk", "label"]
                )
                batch_op.drop_column("record_measurement_id")
            for name in ("void_reason", "voided_by", "voided_at"):
                batch_op.drop_column(name)

"""Reprocessing: re-measurements held back until their algorithm version is adopted.

``measurements.origin``: ``request`` (every row before: someone asked for it) or ``reprocess``
(``liverburden reprocess`` re-measured a measurement of record under a later algorithm version).
``adoptions``: the algorithm versions an admin adopted, with who, when and why; a reprocessed
measurement takes part in a timepoint's record only once its version is adopted
(contracts/trial-record.md, Reprocessing; issue 18).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 22:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("measurements") as batch_op:
        batch_op.add_column(
            sa.Column("origin", sa.String(length=16), nullable=False, server_default="request")
        )
    op.create_table(
        "adoptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("algorithm_version", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("adopted_by", sa.String(length=100), nullable=False),
        sa.Column("adopted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_adoptions")),
        sa.UniqueConstraint("algorithm_version", name=op.f("uq_adoptions_algorithm_version")),
    )


def downgrade() -> None:
    op.drop_table("adoptions")
    with op.batch_alter_table("measurements") as batch_op:
        batch_op.drop_column("origin")

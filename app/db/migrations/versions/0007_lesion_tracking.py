"""Lesion tracking: proposed and confirmed lesion records, with the evidence of each link.

``lesions``: ``state`` (``proposed`` by the service, ``confirmed`` by a reader; rows from before
are readers' tables: confirmed), the mask reference (``measurement_id``, ``measurement_lesion_id``),
``centroid_mm`` (patient LPS at that measurement) and, for a new lesion (role ``new``), the
timepoint it was first seen at. ``lesion_measurements``: ``state``, ``evidence`` (how the link
was found: kind, distance after alignment, overlap, confidence) and the coalescence of lesions
(``merged_into``, ``merged_from``).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 05:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("lesions") as batch_op:
        batch_op.add_column(
            sa.Column("state", sa.String(length=16), nullable=False, server_default="confirmed")
        )
        batch_op.add_column(sa.Column("measurement_id", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("measurement_lesion_id", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("centroid_mm", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("first_timepoint_id", sa.String(length=36), nullable=True))
    with op.batch_alter_table("lesion_measurements") as batch_op:
        batch_op.add_column(
            sa.Column("state", sa.String(length=16), nullable=False, server_default="confirmed")
        )
        batch_op.add_column(sa.Column("evidence", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("merged_into", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("merged_from", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("lesion_measurements") as batch_op:
        for column in ("merged_from", "merged_into", "evidence", "state"):
            batch_op.drop_column(column)
    with op.batch_alter_table("lesions") as batch_op:
        for column in (
            "first_timepoint_id",
            "centroid_mm",
            "measurement_lesion_id",
            "measurement_id",
            "state",
        ):
            batch_op.drop_column(column)

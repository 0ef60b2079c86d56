"""Measured masks: ``measurements.masks_sha256`` names the blob of the masks a measurement used.

The blob (:class:`app.measure.masks.MeasuredMasks`) holds the lesion labels (``L1``, ``L2``, ...
by number), the tumour and the liver mask. Measurements made before this revision have none;
their outputs re-read the segmentation as before.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 05:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("measurements") as batch_op:
        batch_op.add_column(sa.Column("masks_sha256", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("measurements") as batch_op:
        batch_op.drop_column("masks_sha256")

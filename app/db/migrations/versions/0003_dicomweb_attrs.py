"""DICOMweb query cache: a ``dicom_attrs`` JSON column on studies, series and instances.

Holds each level's standard QIDO-RS attributes as DICOM JSON (no patient data), filled from the
stored headers when an instance is stored by STOW-RS or at the first query that needs it.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 14:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("studies", "series", "instances")


def upgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch_op:
            batch_op.add_column(sa.Column("dicom_attrs", sa.JSON(), nullable=True))


def downgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_column("dicom_attrs")

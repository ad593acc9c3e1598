"""The number's form in calls out per trunk: ``trunks.dial_format`` ("e164", "national",
"international"; NULL = as dialled, which every existing trunk keeps).

Revision ID: 0008_trunk_dial_format
Revises: 0006_media_encryption
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_trunk_dial_format"
down_revision: str | None = "0007_history_direction"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("trunks") as batch_op:
        batch_op.add_column(sa.Column("dial_format", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("trunks") as batch_op:
        batch_op.drop_column("dial_format")

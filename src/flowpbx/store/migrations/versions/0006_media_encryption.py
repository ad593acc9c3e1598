"""SRTP per extension and per trunk: ``media_encryption`` ("none", "optional", "required").

Only adds columns with a server default of "none", so every row keeps today's behaviour
(plain RTP).

Revision ID: 0006_media_encryption
Revises: 0004_trunk_limits
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_media_encryption"
down_revision: str | None = "0005_trunk_tls"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ("extensions", "trunks"):
        with op.batch_alter_table(table) as batch_op:
            batch_op.add_column(
                sa.Column(
                    "media_encryption", sa.String(length=8), nullable=False, server_default="none"
                )
            )


def downgrade() -> None:
    for table in ("trunks", "extensions"):
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_column("media_encryption")

"""Call history by parties: ``direction`` (inbound, outbound, internal) and ``extension``
(the extension that placed the call), so history filters find an agent's outgoing calls.

Rows written before this migration keep NULL in both (their direction is not known).

Revision ID: 0007_history_direction
Revises: 0006_media_encryption
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_history_direction"
down_revision: str | None = "0006_media_encryption"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("call_history") as batch_op:
        batch_op.add_column(sa.Column("direction", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("extension", sa.String(length=100), nullable=True))
        batch_op.create_index(batch_op.f("ix_call_history_direction"), ["direction"], unique=False)
        batch_op.create_index(batch_op.f("ix_call_history_extension"), ["extension"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("call_history") as batch_op:
        batch_op.drop_index(batch_op.f("ix_call_history_extension"))
        batch_op.drop_index(batch_op.f("ix_call_history_direction"))
        batch_op.drop_column("extension")
        batch_op.drop_column("direction")

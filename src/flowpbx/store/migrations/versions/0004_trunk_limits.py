"""Per-trunk limits: concurrent calls and the INVITE rate a trunk may send (NULL: the
process-wide defaults, FLOWPBX_SIP_MAX_CALLS_PER_TRUNK and FLOWPBX_SIP_RATE_TRUNK_INVITE).

Only adds nullable columns, so every row of a 0003 database is kept.

Revision ID: 0004_trunk_limits
Revises: 0003
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_trunk_limits"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("trunks") as batch_op:
        batch_op.add_column(sa.Column("max_calls", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("invite_rate", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("trunks") as batch_op:
        batch_op.drop_column("invite_rate")
        batch_op.drop_column("max_calls")

"""Per-extension allow-lists (CIDR) and call waiting, per-trunk number format (country code,
national prefix), and the audit log of configuration changes.

Only adds a table and columns with defaults, so every row of a 0002 database is kept.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("extensions") as batch_op:
        batch_op.add_column(
            sa.Column("allowed_cidrs", sa.JSON(), nullable=False, server_default="[]")
        )
        batch_op.add_column(
            sa.Column("call_waiting", sa.Boolean(), nullable=False, server_default=sa.true())
        )
    with op.batch_alter_table("trunks") as batch_op:
        batch_op.add_column(sa.Column("country_code", sa.String(length=4), nullable=True))
        batch_op.add_column(sa.Column("national_prefix", sa.String(length=4), nullable=True))

    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("entity", sa.String(length=50), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log") as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_log_at"), ["at"])
        batch_op.create_index(batch_op.f("ix_audit_log_actor"), ["actor"])
        batch_op.create_index(batch_op.f("ix_audit_log_entity"), ["entity"])


def downgrade() -> None:
    with op.batch_alter_table("audit_log") as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_log_entity"))
        batch_op.drop_index(batch_op.f("ix_audit_log_actor"))
        batch_op.drop_index(batch_op.f("ix_audit_log_at"))
    op.drop_table("audit_log")
    with op.batch_alter_table("trunks") as batch_op:
        batch_op.drop_column("national_prefix")
        batch_op.drop_column("country_code")
    with op.batch_alter_table("extensions") as batch_op:
        batch_op.drop_column("call_waiting")
        batch_op.drop_column("allowed_cidrs")

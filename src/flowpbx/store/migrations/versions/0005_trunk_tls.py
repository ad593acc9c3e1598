"""TLS trunks: whether the provider's certificate is verified (default yes) and the CA
bundle it is verified against (NULL: the system CA store). See pbx/tls.py.

Only adds columns (tls_verify with a server default of true, written "1": a plain string
lets SQLite add the column in place instead of copying the table), so every row of a 0004
database is kept.

Revision ID: 0005_trunk_tls
Revises: 0004_trunk_limits
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_trunk_tls"
down_revision: str | None = "0004_trunk_limits"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("trunks") as batch_op:
        batch_op.add_column(
            sa.Column("tls_verify", sa.Boolean(), nullable=False, server_default="1")
        )
        batch_op.add_column(sa.Column("tls_ca_file", sa.String(length=1024), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("trunks") as batch_op:
        batch_op.drop_column("tls_ca_file")
        batch_op.drop_column("tls_verify")

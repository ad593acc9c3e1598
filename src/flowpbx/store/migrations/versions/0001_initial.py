"""Initial schema: directory, flows and revisions, audio, history, users, settings.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audio",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("file", sa.String(length=500), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("builtin", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audio")),
        sa.UniqueConstraint("name", name=op.f("uq_audio_name")),
    )
    op.create_table(
        "call_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.String(length=300), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("answered_at", sa.DateTime(), nullable=True),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.Column("caller", sa.String(length=100), nullable=False),
        sa.Column("caller_name", sa.String(length=200), nullable=True),
        sa.Column("did", sa.String(length=32), nullable=True),
        sa.Column("flow", sa.String(length=200), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=True),
        sa.Column("answered_by", sa.String(length=100), nullable=True),
        sa.Column("outcome", sa.String(length=50), nullable=False),
        sa.Column("trace", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_history")),
    )
    with op.batch_alter_table("call_history", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_call_history_answered_by"), ["answered_by"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_call_history_call_id"), ["call_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_call_history_caller"), ["caller"], unique=False)
        batch_op.create_index(batch_op.f("ix_call_history_did"), ["did"], unique=False)
        batch_op.create_index(batch_op.f("ix_call_history_outcome"), ["outcome"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_call_history_started_at"), ["started_at"], unique=False
        )

    op.create_table(
        "extensions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=6), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("ha1_md5", sa.String(length=32), nullable=False),
        sa.Column("ha1_sha256", sa.String(length=64), nullable=False),
        sa.Column("supervisor", sa.Boolean(), nullable=False),
        sa.Column("outbound", sa.Boolean(), nullable=False),
        sa.Column("caller_id", sa.String(length=32), nullable=True),
        sa.Column("mailbox", sa.String(length=16), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_extensions")),
        sa.UniqueConstraint("number", name=op.f("uq_extensions_number")),
    )
    op.create_table(
        "flows",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("draft", sa.JSON(), nullable=False),
        sa.Column("published_revision_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flows")),
        sa.UniqueConstraint("name", name=op.f("uq_flows_name")),
    )
    op.create_table(
        "mailboxes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("pin", sa.String(length=16), nullable=True),
        sa.Column("email", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mailboxes")),
        sa.UniqueConstraint("number", name=op.f("uq_mailboxes_number")),
    )
    op.create_table(
        "schedules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("hours", sa.JSON(), nullable=False),
        sa.Column("holidays", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedules")),
        sa.UniqueConstraint("name", name=op.f("uq_schedules_name")),
    )
    op.create_table(
        "settings",
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_settings")),
    )
    op.create_table(
        "trunks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("transport", sa.String(length=8), nullable=False),
        sa.Column("username", sa.String(length=200), nullable=True),
        sa.Column("password", sa.String(length=200), nullable=True),
        sa.Column("register", sa.Boolean(), nullable=False),
        sa.Column("from_domain", sa.String(length=255), nullable=True),
        sa.Column("trusted", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trunks")),
        sa.UniqueConstraint("name", name=op.f("uq_trunks_name")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    op.create_table(
        "auth_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_auth_tokens_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_tokens")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_auth_tokens_token_sha256")),
    )
    with op.batch_alter_table("auth_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_auth_tokens_user_id"), ["user_id"], unique=False)

    op.create_table(
        "flow_revisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("flow_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("author", sa.String(length=100), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["flow_id"],
            ["flows.id"],
            name=op.f("fk_flow_revisions_flow_id_flows"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flow_revisions")),
        sa.UniqueConstraint("flow_id", "number", name="uq_flow_revisions_number"),
    )
    with op.batch_alter_table("flow_revisions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_flow_revisions_flow_id"), ["flow_id"], unique=False)

    op.create_table(
        "numbers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("trunk", sa.String(length=100), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["trunk"],
            ["trunks.name"],
            name=op.f("fk_numbers_trunk_trunks"),
            onupdate="CASCADE",
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_numbers")),
        sa.UniqueConstraint("number", name=op.f("uq_numbers_number")),
    )
    op.create_table(
        "registrations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("extension", sa.String(length=6), nullable=False),
        sa.Column("contact", sa.String(length=500), nullable=False),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("transport", sa.String(length=8), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("user_agent", sa.String(length=300), nullable=True),
        sa.Column("call_id", sa.String(length=300), nullable=True),
        sa.Column("cseq", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["extension"],
            ["extensions.number"],
            name=op.f("fk_registrations_extension_extensions"),
            onupdate="CASCADE",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registrations")),
        sa.UniqueConstraint("extension", "contact", name="uq_registrations_binding"),
    )
    with op.batch_alter_table("registrations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_registrations_expires_at"), ["expires_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_registrations_extension"), ["extension"], unique=False)

    # flows.published_revision_id -> flow_revisions.id closes a cycle, so it is added last
    with op.batch_alter_table("flows") as batch_op:
        batch_op.create_foreign_key(
            op.f("fk_flows_published_revision_id_flow_revisions"),
            "flow_revisions",
            ["published_revision_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("flows") as batch_op:
        batch_op.drop_constraint(
            op.f("fk_flows_published_revision_id_flow_revisions"), type_="foreignkey"
        )
    with op.batch_alter_table("registrations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_registrations_extension"))
        batch_op.drop_index(batch_op.f("ix_registrations_expires_at"))

    op.drop_table("registrations")
    op.drop_table("numbers")
    with op.batch_alter_table("flow_revisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_flow_revisions_flow_id"))

    op.drop_table("flow_revisions")
    with op.batch_alter_table("auth_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_auth_tokens_user_id"))

    op.drop_table("auth_tokens")
    op.drop_table("users")
    op.drop_table("trunks")
    op.drop_table("settings")
    op.drop_table("schedules")
    op.drop_table("mailboxes")
    op.drop_table("flows")
    op.drop_table("extensions")
    with op.batch_alter_table("call_history", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_call_history_started_at"))
        batch_op.drop_index(batch_op.f("ix_call_history_outcome"))
        batch_op.drop_index(batch_op.f("ix_call_history_did"))
        batch_op.drop_index(batch_op.f("ix_call_history_caller"))
        batch_op.drop_index(batch_op.f("ix_call_history_call_id"))
        batch_op.drop_index(batch_op.f("ix_call_history_answered_by"))

    op.drop_table("call_history")
    op.drop_table("audio")

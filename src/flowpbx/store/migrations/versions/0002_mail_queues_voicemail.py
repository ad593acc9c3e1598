"""Voicemail messages, queues and their statistics, the email outbox; API token names and
call recordings.

Only adds tables and nullable columns, so every row of a 0001 database is kept as it was.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "voicemail_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mailbox", sa.String(length=16), nullable=False),
        sa.Column("file", sa.String(length=500), nullable=False),
        sa.Column("caller", sa.String(length=100), nullable=False),
        sa.Column("caller_name", sa.String(length=200), nullable=True),
        sa.Column("call_id", sa.String(length=300), nullable=True),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("heard", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["mailbox"],
            ["mailboxes.number"],
            name=op.f("fk_voicemail_messages_mailbox_mailboxes"),
            onupdate="CASCADE",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_voicemail_messages")),
    )
    with op.batch_alter_table("voicemail_messages") as batch_op:
        batch_op.create_index(batch_op.f("ix_voicemail_messages_mailbox"), ["mailbox"])
        batch_op.create_index(batch_op.f("ix_voicemail_messages_received_at"), ["received_at"])

    op.create_table(
        "queues",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("strategy", sa.String(length=32), nullable=False),
        sa.Column("members", sa.JSON(), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queues")),
        sa.UniqueConstraint("name", name=op.f("uq_queues_name")),
    )
    op.create_table(
        "queue_calls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("queue", sa.String(length=200), nullable=False),
        sa.Column("call_id", sa.String(length=300), nullable=False),
        sa.Column("caller", sa.String(length=100), nullable=False),
        sa.Column("joined_at", sa.DateTime(), nullable=False),
        sa.Column("wait_s", sa.Float(), nullable=False),
        sa.Column("result", sa.String(length=16), nullable=False),
        sa.Column("member", sa.String(length=16), nullable=True),
        sa.Column("talk_s", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queue_calls")),
    )
    with op.batch_alter_table("queue_calls") as batch_op:
        batch_op.create_index(batch_op.f("ix_queue_calls_queue"), ["queue"])
        batch_op.create_index(batch_op.f("ix_queue_calls_joined_at"), ["joined_at"])
        batch_op.create_index(batch_op.f("ix_queue_calls_member"), ["member"])

    op.create_table(
        "email_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("recipients", sa.JSON(), nullable=False),
        sa.Column("subject", sa.String(length=500), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("attachments", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_outbox")),
    )
    with op.batch_alter_table("email_outbox") as batch_op:
        batch_op.create_index(batch_op.f("ix_email_outbox_status"), ["status"])
        batch_op.create_index(batch_op.f("ix_email_outbox_next_attempt_at"), ["next_attempt_at"])

    with op.batch_alter_table("auth_tokens") as batch_op:
        batch_op.add_column(sa.Column("name", sa.String(length=100), nullable=True))
    with op.batch_alter_table("call_history") as batch_op:
        batch_op.add_column(sa.Column("recording", sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("call_history") as batch_op:
        batch_op.drop_column("recording")
    with op.batch_alter_table("auth_tokens") as batch_op:
        batch_op.drop_column("name")
    op.drop_table("email_outbox")
    op.drop_table("queue_calls")
    op.drop_table("queues")
    op.drop_table("voicemail_messages")

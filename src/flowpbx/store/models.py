"""SQLAlchemy 2 table models of the flowpbx database.

The schema itself is created by the Alembic migrations in `migrations/versions/`; these
models must match them (a test compares a migrated database with `Base.metadata`).
Timestamps are stored as UTC and always come back timezone-aware (`UTCDateTime`), on
SQLite as on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Stores naive UTC, returns aware UTC; naive input is taken to be UTC already."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        assert isinstance(value, dt.datetime)
        return value.replace(tzinfo=dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Extension(Base):
    __tablename__ = "extensions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(6), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # RFC 3261 §22.4 / RFC 7616 §3.4.2: H(username:realm:password); never the password itself
    ha1_md5: Mapped[str] = mapped_column(String(32))
    ha1_sha256: Mapped[str] = mapped_column(String(64))
    supervisor: Mapped[bool] = mapped_column(Boolean, default=False)
    outbound: Mapped[bool] = mapped_column(Boolean, default=False)
    caller_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    mailbox: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # Source networks (CIDR) the extension may register and call from; empty = anywhere.
    allowed_cidrs: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Off: a second call to an extension already on a call gets busy instead of ringing.
    call_waiting: Mapped[bool] = mapped_column(Boolean, default=True)
    # SRTP with SDES keys (RFC 3711, RFC 4568): "none", "optional" or "required".
    media_encryption: Mapped[str] = mapped_column(String(8), default="none")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Registration(Base):
    __tablename__ = "registrations"
    __table_args__ = (UniqueConstraint("extension", "contact", name="uq_registrations_binding"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    extension: Mapped[str] = mapped_column(
        String(6),
        ForeignKey("extensions.number", ondelete="CASCADE", onupdate="CASCADE"),
        index=True,
    )
    contact: Mapped[str] = mapped_column(String(500))
    source: Mapped[str] = mapped_column(String(100))
    transport: Mapped[str] = mapped_column(String(8))
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    user_agent: Mapped[str | None] = mapped_column(String(300), nullable=True)
    call_id: Mapped[str | None] = mapped_column(String(300), nullable=True)
    cseq: Mapped[int] = mapped_column(Integer, default=0)


class Trunk(Base):
    __tablename__ = "trunks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(Integer, default=5060)
    transport: Mapped[str] = mapped_column(String(8), default="udp")
    username: Mapped[str | None] = mapped_column(String(200), nullable=True)
    password: Mapped[str | None] = mapped_column(String(200), nullable=True)
    register: Mapped[bool] = mapped_column(Boolean, default=False)
    from_domain: Mapped[str | None] = mapped_column(String(255), nullable=True)
    trusted: Mapped[bool] = mapped_column(Boolean, default=False)
    # How this provider writes numbers: country code (e.g. "371") and national prefix
    # (e.g. "0") used to turn what arrives into E.164.
    country_code: Mapped[str | None] = mapped_column(String(4), nullable=True)
    national_prefix: Mapped[str | None] = mapped_column(String(4), nullable=True)
    # Concurrent calls and new INVITEs per second ("RATE:BURST") this trunk may send; NULL:
    # the process-wide default.
    max_calls: Mapped[int | None] = mapped_column(Integer, nullable=True)
    invite_rate: Mapped[str | None] = mapped_column(String(32), nullable=True)
    media_encryption: Mapped[str] = mapped_column(String(8), default="none")
    # TLS trunks: verify the provider's certificate; the CA bundle (NULL: the system store).
    tls_verify: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    tls_ca_file: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    # How numbers are written in the Request-URI of calls out: "e164", "national",
    # "international"; NULL: as dialled (migration 0008).
    dial_format: Mapped[str | None] = mapped_column(String(16), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Number(Base):
    __tablename__ = "numbers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    trunk: Mapped[str] = mapped_column(
        String(100), ForeignKey("trunks.name", ondelete="RESTRICT", onupdate="CASCADE")
    )
    position: Mapped[int] = mapped_column(Integer)


class Mailbox(Base):
    __tablename__ = "mailboxes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    pin: Mapped[str | None] = mapped_column(String(16), nullable=True)
    email: Mapped[list[str]] = mapped_column(JSON, default=list)


class Schedule(Base):
    __tablename__ = "schedules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    timezone: Mapped[str] = mapped_column(String(64))
    hours: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    holidays: Mapped[list[Any]] = mapped_column(JSON, default=list)


class Flow(Base):
    __tablename__ = "flows"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    draft: Mapped[dict[str, Any]] = mapped_column(JSON)
    published_revision_id: Mapped[int | None] = mapped_column(
        Integer,
        ForeignKey("flow_revisions.id", use_alter=True, ondelete="SET NULL"),
        nullable=True,
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class FlowRevision(Base):
    """Immutable: rows are inserted, never updated (SPEC §3, revisions)."""

    __tablename__ = "flow_revisions"
    __table_args__ = (UniqueConstraint("flow_id", "number", name="uq_flow_revisions_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    flow_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("flows.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int] = mapped_column(Integer)
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    author: Mapped[str] = mapped_column(String(100))
    message: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Audio(Base):
    __tablename__ = "audio"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    file: Mapped[str] = mapped_column(String(500))  # relative to data_dir ("" for built-ins)
    duration_s: Mapped[float] = mapped_column(Float, default=0.0)
    builtin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class CallHistory(Base):
    __tablename__ = "call_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[str] = mapped_column(String(300), index=True)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    answered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    caller: Mapped[str] = mapped_column(String(100), default="", index=True)
    caller_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    did: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    flow: Mapped[str | None] = mapped_column(String(200), nullable=True)
    revision: Mapped[int | None] = mapped_column(Integer, nullable=True)
    answered_by: Mapped[str | None] = mapped_column(String(100), nullable=True, index=True)
    outcome: Mapped[str] = mapped_column(String(50), default="", index=True)
    trace: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # relative to data_dir; set when the call was recorded (migration 0002)
    recording: Mapped[str | None] = mapped_column(String(500), nullable=True)
    # inbound | outbound | internal, and the extension that placed the call (migration 0007)
    direction: Mapped[str | None] = mapped_column(String(16), nullable=True, index=True)
    extension: Mapped[str | None] = mapped_column(String(100), nullable=True, index=True)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))  # argon2id
    role: Mapped[str] = mapped_column(String(16))  # admin | viewer
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuthToken(Base):
    """A login session or API token; only the SHA-256 of the token is stored."""

    __tablename__ = "auth_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16), default="session")  # session | api
    name: Mapped[str | None] = mapped_column(String(100), nullable=True)  # API token label
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Setting(Base):
    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)


# --------------------------------------------------------------------------- migration 0002


class VoicemailMessage(Base):
    """A message left in a mailbox; `file` is the WAV relative to data_dir."""

    __tablename__ = "voicemail_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    mailbox: Mapped[str] = mapped_column(
        String(16),
        ForeignKey("mailboxes.number", ondelete="CASCADE", onupdate="CASCADE"),
        index=True,
    )
    file: Mapped[str] = mapped_column(String(500))
    caller: Mapped[str] = mapped_column(String(100), default="")
    caller_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    call_id: Mapped[str | None] = mapped_column(String(300), nullable=True)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    duration_s: Mapped[float] = mapped_column(Float, default=0.0)
    heard: Mapped[bool] = mapped_column(Boolean, default=False)


class Queue(Base):
    """A named queue's stored configuration (queue elements may also define queues inline)."""

    __tablename__ = "queues"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    strategy: Mapped[str] = mapped_column(String(32), default="ring_all")
    members: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class QueueCall(Base):
    """One caller's stay in a queue: how long they waited and how it ended (statistics)."""

    __tablename__ = "queue_calls"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    queue: Mapped[str] = mapped_column(String(200), index=True)
    call_id: Mapped[str] = mapped_column(String(300))
    caller: Mapped[str] = mapped_column(String(100), default="")
    joined_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    wait_s: Mapped[float] = mapped_column(Float, default=0.0)
    result: Mapped[str] = mapped_column(String(16))  # answered|timeout|full|empty|exit|hangup
    member: Mapped[str | None] = mapped_column(String(16), nullable=True, index=True)
    talk_s: Mapped[float] = mapped_column(Float, default=0.0)


class EmailOutbox(Base):
    """An email waiting to be sent (SPEC §7: SMTP down -> it waits here and is retried)."""

    __tablename__ = "email_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    recipients: Mapped[list[str]] = mapped_column(JSON)
    subject: Mapped[str] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text)
    attachments: Mapped[list[list[str]]] = mapped_column(JSON, default=list)  # [filename, path]
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class AuditEntry(Base):
    """Who changed what in the configuration, and when (write-once)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(100), index=True)  # username or "cli"
    action: Mapped[str] = mapped_column(String(32))  # create | update | delete | publish | ...
    entity: Mapped[str] = mapped_column(String(50), index=True)  # extension | trunk | flow ...
    key: Mapped[str] = mapped_column(String(200), default="")  # natural key of the entity
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

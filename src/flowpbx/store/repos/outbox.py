"""The email outbox (table ``email_outbox``): what services/mail.py sends, retries and
gives up on."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from flowpbx.store import models as m
from flowpbx.store.errors import NotFoundError
from flowpbx.store.records import EmailRec


def _email_rec(r: m.EmailOutbox) -> EmailRec:
    return EmailRec(
        id=r.id,
        to=tuple(r.recipients or ()),
        subject=r.subject,
        body=r.body,
        attachments=tuple((str(a[0]), str(a[1])) for a in (r.attachments or ())),
        status=r.status,
        attempts=r.attempts,
        last_error=r.last_error,
        next_attempt_at=r.next_attempt_at,
        created_at=r.created_at,
        sent_at=r.sent_at,
    )


async def enqueue_email(
    s: AsyncSession,
    *,
    to: Sequence[str],
    subject: str,
    body: str,
    attachments: Sequence[tuple[str, str | Path]],
    now: dt.datetime,
) -> int:
    row = m.EmailOutbox(
        recipients=list(to),
        subject=subject,
        body=body,
        attachments=[[str(name), str(path)] for name, path in attachments],
        status="pending",
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
    s.add(row)
    await s.flush()
    return row.id


async def due_emails(s: AsyncSession, now: dt.datetime, limit: int) -> list[EmailRec]:
    stmt = (
        select(m.EmailOutbox)
        .where(m.EmailOutbox.status == "pending", m.EmailOutbox.next_attempt_at <= now)
        .order_by(m.EmailOutbox.next_attempt_at, m.EmailOutbox.id)
        .limit(limit)
    )
    return [_email_rec(r) for r in await s.scalars(stmt)]


async def get_email(s: AsyncSession, email_id: int) -> EmailRec | None:
    row = await s.get(m.EmailOutbox, email_id)
    return _email_rec(row) if row else None


async def list_emails(s: AsyncSession, *, status: str | None, limit: int) -> list[EmailRec]:
    stmt = select(m.EmailOutbox)
    if status is not None:
        stmt = stmt.where(m.EmailOutbox.status == status)
    rows = await s.scalars(stmt.order_by(m.EmailOutbox.id.desc()).limit(limit))
    return [_email_rec(r) for r in rows]


async def status_counts(s: AsyncSession) -> dict[str, int]:
    """status -> how many emails of the outbox have it."""
    stmt = select(m.EmailOutbox.status, func.count(m.EmailOutbox.id)).group_by(m.EmailOutbox.status)
    return {str(k): int(v) for k, v in (await s.execute(stmt)).all()}


async def mark_sent(s: AsyncSession, email_id: int, now: dt.datetime) -> None:
    row = await s.get(m.EmailOutbox, email_id)
    if row is None:
        raise NotFoundError(f"email {email_id} is not in the outbox")
    row.status = "sent"
    row.attempts += 1
    row.sent_at = now
    row.last_error = None


async def mark_failed(
    s: AsyncSession, email_id: int, error: str, retry_at: dt.datetime | None
) -> None:
    """One failed attempt; with `retry_at` None the email is given up (status failed)."""
    row = await s.get(m.EmailOutbox, email_id)
    if row is None:
        raise NotFoundError(f"email {email_id} is not in the outbox")
    row.attempts += 1
    row.last_error = error[:4000]
    if retry_at is None:
        row.status = "failed"
    else:
        row.status = "pending"
        row.next_attempt_at = retry_at

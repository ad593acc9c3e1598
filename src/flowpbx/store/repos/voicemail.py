"""Voicemail: mailboxes (table ``mailboxes``) and their messages (``voicemail_messages``;
the WAV files live under the data directory, the caller deletes them)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import case, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from flowpbx.store import models as m
from flowpbx.store.errors import ConflictError, NotFoundError
from flowpbx.store.records import MailboxRec, VoicemailRec
from flowpbx.store.repos.rows import delete_by, update_row


async def list_mailboxes(s: AsyncSession) -> list[MailboxRec]:
    rows = await s.scalars(select(m.Mailbox).order_by(m.Mailbox.number))
    return [
        MailboxRec(number=r.number, name=r.name, pin=r.pin, email=tuple(r.email or ()))
        for r in rows
    ]


async def upsert_mailbox(s: AsyncSession, rec: MailboxRec) -> bool:
    row = await s.scalar(select(m.Mailbox).where(m.Mailbox.number == rec.number))
    values = {"name": rec.name, "pin": rec.pin, "email": list(rec.email)}
    if row is None:
        s.add(m.Mailbox(number=rec.number, **values))
        return True
    return update_row(row, values)


async def delete_mailbox(s: AsyncSession, number: str) -> None:
    users = (await s.scalars(select(m.Extension.number).where(m.Extension.mailbox == number))).all()
    if users:
        raise ConflictError(f"mailbox {number!r} belongs to extensions {', '.join(users)}")
    await delete_by(s, m.Mailbox, m.Mailbox.number, number, "mailbox")


def _vm_rec(r: m.VoicemailMessage) -> VoicemailRec:
    return VoicemailRec(
        id=r.id,
        mailbox=r.mailbox,
        file=r.file,
        caller=r.caller,
        caller_name=r.caller_name,
        call_id=r.call_id,
        received_at=r.received_at,
        duration_s=r.duration_s,
        heard=r.heard,
    )


async def add_voicemail(
    s: AsyncSession,
    *,
    mailbox: str,
    file: str,
    caller: str,
    caller_name: str | None,
    call_id: str | None,
    duration_s: float,
    received_at: dt.datetime,
) -> int:
    if await s.scalar(select(m.Mailbox.id).where(m.Mailbox.number == mailbox)) is None:
        raise NotFoundError(f"mailbox {mailbox} does not exist")
    row = m.VoicemailMessage(
        mailbox=mailbox,
        file=file,
        caller=caller,
        caller_name=caller_name,
        call_id=call_id,
        duration_s=duration_s,
        received_at=received_at,
        heard=False,
    )
    s.add(row)
    await s.flush()
    return row.id


async def list_voicemail(s: AsyncSession, mailbox: str) -> list[VoicemailRec]:
    stmt = (
        select(m.VoicemailMessage)
        .where(m.VoicemailMessage.mailbox == mailbox)
        .order_by(m.VoicemailMessage.received_at.desc(), m.VoicemailMessage.id.desc())
    )
    return [_vm_rec(r) for r in await s.scalars(stmt)]


async def get_voicemail(s: AsyncSession, message_id: int) -> VoicemailRec | None:
    row = await s.get(m.VoicemailMessage, message_id)
    return _vm_rec(row) if row else None


async def mark_heard(s: AsyncSession, message_id: int, heard: bool) -> VoicemailRec:
    row = await s.get(m.VoicemailMessage, message_id)
    if row is None:
        raise NotFoundError(f"message {message_id} does not exist")
    row.heard = heard
    return _vm_rec(row)


async def delete_voicemail(s: AsyncSession, message_id: int) -> VoicemailRec:
    row = await s.get(m.VoicemailMessage, message_id)
    if row is None:
        raise NotFoundError(f"message {message_id} does not exist")
    rec = _vm_rec(row)
    await s.delete(row)
    return rec


async def expired_voicemail(
    s: AsyncSession, before: dt.datetime, *, limit: int = 500
) -> list[tuple[int, str, str]]:
    """(id, file, mailbox) of up to `limit` messages received before `before`, oldest first."""
    v = m.VoicemailMessage
    stmt = (
        select(v.id, v.file, v.mailbox)
        .where(v.received_at < before)
        .order_by(v.received_at, v.id)
        .limit(limit)
    )
    return [(int(pk), f, mb) for pk, f, mb in (await s.execute(stmt)).all()]


async def delete_voicemail_rows(s: AsyncSession, ids: Sequence[int]) -> int:
    """Delete messages by id (their files are the caller's); how many went."""
    if not ids:
        return 0
    result = await s.execute(delete(m.VoicemailMessage).where(m.VoicemailMessage.id.in_(list(ids))))
    return int(getattr(result, "rowcount", 0) or 0)


async def referenced_files(s: AsyncSession, files: Sequence[str]) -> set[str]:
    """Which of `files` (relative to data_dir) a message row names."""
    found: set[str] = set()
    names = list(files)
    for start in range(0, len(names), 500):
        chunk = names[start : start + 500]
        stmt = select(m.VoicemailMessage.file).where(m.VoicemailMessage.file.in_(chunk))
        found.update(await s.scalars(stmt))
    return found


async def mailbox_counts(s: AsyncSession) -> dict[str, tuple[int, int]]:
    """mailbox -> (messages, unheard)."""
    stmt = select(
        m.VoicemailMessage.mailbox,
        func.count(m.VoicemailMessage.id),
        func.sum(case((m.VoicemailMessage.heard.is_(False), 1), else_=0)),
    ).group_by(m.VoicemailMessage.mailbox)
    return {mb: (int(n), int(u or 0)) for mb, n, u in (await s.execute(stmt)).all()}

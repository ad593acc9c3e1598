"""Repository functions for the tables of migration 0002 and API tokens.

Email outbox, voicemail messages, queue configuration and queue statistics, named API
tokens. Like `repos.py`, each takes an `AsyncSession` and never commits.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import case, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from flowpbx.store import models as m
from flowpbx.store.errors import ConflictError, NotFoundError
from flowpbx.store.records import ApiTokenRec, EmailRec, QueueRec, VoicemailRec

# --------------------------------------------------------------------------- email outbox


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


# --------------------------------------------------------------------------- voicemail


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


async def mailbox_counts(s: AsyncSession) -> dict[str, tuple[int, int]]:
    """mailbox -> (messages, unheard)."""
    stmt = select(
        m.VoicemailMessage.mailbox,
        func.count(m.VoicemailMessage.id),
        func.sum(case((m.VoicemailMessage.heard.is_(False), 1), else_=0)),
    ).group_by(m.VoicemailMessage.mailbox)
    return {mb: (int(n), int(u or 0)) for mb, n, u in (await s.execute(stmt)).all()}


# --------------------------------------------------------------------------- queues


def _queue_rec(r: m.Queue) -> QueueRec:
    return QueueRec(
        name=r.name,
        strategy=r.strategy,
        members=list(r.members or []),
        settings=dict(r.settings or {}),
    )


async def list_queues(s: AsyncSession) -> list[QueueRec]:
    return [_queue_rec(r) for r in await s.scalars(select(m.Queue).order_by(m.Queue.name))]


async def get_queue(s: AsyncSession, name: str) -> QueueRec | None:
    row = await s.scalar(select(m.Queue).where(m.Queue.name == name))
    return _queue_rec(row) if row else None


async def upsert_queue(s: AsyncSession, rec: QueueRec) -> bool:
    row = await s.scalar(select(m.Queue).where(m.Queue.name == rec.name))
    values: dict[str, Any] = {
        "strategy": rec.strategy,
        "members": list(rec.members),
        "settings": dict(rec.settings),
    }
    if row is None:
        s.add(m.Queue(name=rec.name, **values))
        return True
    changed = False
    for key, value in values.items():
        if getattr(row, key) != value:
            setattr(row, key, value)
            changed = True
    return changed


async def delete_queue(s: AsyncSession, name: str) -> None:
    result = await s.execute(delete(m.Queue).where(m.Queue.name == name))
    if not getattr(result, "rowcount", 0):
        raise NotFoundError(f"queue {name!r} does not exist")


async def record_queue_call(
    s: AsyncSession,
    *,
    queue: str,
    call_id: str,
    caller: str,
    joined_at: dt.datetime,
    wait_s: float,
    result: str,
    member: str | None,
    talk_s: float,
) -> None:
    s.add(
        m.QueueCall(
            queue=queue,
            call_id=call_id,
            caller=caller,
            joined_at=joined_at,
            wait_s=wait_s,
            result=result,
            member=member,
            talk_s=talk_s,
        )
    )
    await s.flush()


async def queue_member_stats(
    s: AsyncSession, queue: str | None, since: dt.datetime
) -> dict[str, dict[str, Any]]:
    """member -> {answered, talk_s, last_call_at, last_call_end} for answered queue calls
    since `since` (last_call_at: when the caller joined; last_call_end: when the call ended,
    joined + wait + talk, what `least_recent` orders by)."""
    stmt = select(
        m.QueueCall.member,
        func.count(m.QueueCall.id),
        func.sum(m.QueueCall.talk_s),
        func.max(m.QueueCall.joined_at),
    ).where(
        m.QueueCall.result == "answered",
        m.QueueCall.member.is_not(None),
        m.QueueCall.joined_at >= since,
    )
    if queue is not None:
        stmt = stmt.where(m.QueueCall.queue == queue)
    out: dict[str, dict[str, Any]] = {}
    for member, n, talk, last in (await s.execute(stmt.group_by(m.QueueCall.member))).all():
        if isinstance(last, dt.datetime) and last.tzinfo is None:
            last = last.replace(tzinfo=dt.UTC)
        out[str(member)] = {
            "answered": int(n),
            "talk_s": float(talk or 0.0),
            "last_call_at": last,
            "last_call_end": last,
        }
    ends = select(
        m.QueueCall.member, m.QueueCall.joined_at, m.QueueCall.wait_s, m.QueueCall.talk_s
    ).where(
        m.QueueCall.result == "answered",
        m.QueueCall.member.is_not(None),
        m.QueueCall.joined_at >= since,
    )
    if queue is not None:
        ends = ends.where(m.QueueCall.queue == queue)
    for member, joined, wait, talk in (await s.execute(ends)).all():
        if joined.tzinfo is None:
            joined = joined.replace(tzinfo=dt.UTC)
        end = joined + dt.timedelta(seconds=float(wait or 0.0) + float(talk or 0.0))
        row = out.get(str(member))
        if row is not None and (row["last_call_end"] is None or end > row["last_call_end"]):
            row["last_call_end"] = end
    return out


async def queue_stats(s: AsyncSession, queue: str, since: dt.datetime) -> dict[str, Any]:
    """Counts by result and the mean / max wait of one queue since `since`."""
    stmt = (
        select(
            m.QueueCall.result,
            func.count(m.QueueCall.id),
            func.avg(m.QueueCall.wait_s),
            func.max(m.QueueCall.wait_s),
        )
        .where(m.QueueCall.queue == queue, m.QueueCall.joined_at >= since)
        .group_by(m.QueueCall.result)
    )
    by_result: dict[str, int] = {}
    total = 0
    wait_sum = 0.0
    wait_max = 0.0
    for result, n, avg, mx in (await s.execute(stmt)).all():
        by_result[str(result)] = int(n)
        total += int(n)
        wait_sum += float(avg or 0.0) * int(n)
        wait_max = max(wait_max, float(mx or 0.0))
    return {
        "calls": total,
        "by_result": by_result,
        "mean_wait_s": round(wait_sum / total, 3) if total else 0.0,
        "max_wait_s": round(wait_max, 3),
    }


# --------------------------------------------------------------------------- API tokens


async def list_api_tokens(s: AsyncSession, user_id: int) -> list[ApiTokenRec]:
    stmt = (
        select(m.AuthToken)
        .where(m.AuthToken.user_id == user_id, m.AuthToken.kind == "api")
        .order_by(m.AuthToken.id)
    )
    return [
        ApiTokenRec(id=r.id, name=r.name or "", created_at=r.created_at)
        for r in await s.scalars(stmt)
    ]


async def revoke_api_token(s: AsyncSession, user_id: int, token_id: int) -> None:
    result = await s.execute(
        delete(m.AuthToken).where(
            m.AuthToken.id == token_id,
            m.AuthToken.user_id == user_id,
            m.AuthToken.kind == "api",
        )
    )
    if not getattr(result, "rowcount", 0):
        raise NotFoundError(f"token {token_id} does not exist")


async def issue_api_token(
    s: AsyncSession, user_id: int, name: str, now: dt.datetime
) -> tuple[ApiTokenRec, str]:
    """A new never-expiring API token; returns its record and the token (shown once)."""
    token = secrets.token_urlsafe(32)
    row = m.AuthToken(
        token_sha256=hashlib.sha256(token.encode()).hexdigest(),
        user_id=user_id,
        kind="api",
        name=name,
        created_at=now,
        expires_at=None,
    )
    s.add(row)
    await s.flush()
    return ApiTokenRec(id=row.id, name=name, created_at=now), token


# --------------------------------------------------------------------------- directory deletes


async def _delete_by(s: AsyncSession, model: Any, column: Any, key: str, what: str) -> None:
    result = await s.execute(delete(model).where(column == key))
    if not getattr(result, "rowcount", 0):
        raise NotFoundError(f"{what} {key!r} does not exist")


async def delete_trunk(s: AsyncSession, name: str) -> None:
    used = (await s.scalars(select(m.Number.number).where(m.Number.trunk == name))).all()
    if used:
        raise ConflictError(f"trunk {name!r} is used by numbers {', '.join(used)}")
    await _delete_by(s, m.Trunk, m.Trunk.name, name, "trunk")


async def delete_number(s: AsyncSession, number: str) -> None:
    await _delete_by(s, m.Number, m.Number.number, number, "number")
    rows = (await s.scalars(select(m.Number).order_by(m.Number.position, m.Number.number))).all()
    for pos, row in enumerate(rows, start=1):
        if row.position != pos:
            row.position = pos


async def move_number(s: AsyncSession, number: str, position: int) -> None:
    """Put `number` at `position` (1-based, clamped) of the caller-ID list."""
    rows = list(
        (await s.scalars(select(m.Number).order_by(m.Number.position, m.Number.number))).all()
    )
    target = next((r for r in rows if r.number == number), None)
    if target is None:
        raise NotFoundError(f"number {number!r} does not exist")
    rows.remove(target)
    rows.insert(max(0, min(position - 1, len(rows))), target)
    for pos, row in enumerate(rows, start=1):
        if row.position != pos:
            row.position = pos


async def delete_mailbox(s: AsyncSession, number: str) -> None:
    users = (await s.scalars(select(m.Extension.number).where(m.Extension.mailbox == number))).all()
    if users:
        raise ConflictError(f"mailbox {number!r} belongs to extensions {', '.join(users)}")
    await _delete_by(s, m.Mailbox, m.Mailbox.number, number, "mailbox")


async def delete_schedule(s: AsyncSession, name: str) -> None:
    await _delete_by(s, m.Schedule, m.Schedule.name, name, "schedule")


async def delete_flow(s: AsyncSession, name: str) -> None:
    row = await s.scalar(select(m.Flow).where(m.Flow.name == name))
    if row is None:
        raise NotFoundError(f"flow {name!r} does not exist")
    row.published_revision_id = None  # the FK cycle: unlink before the revisions go
    await s.flush()
    await s.execute(delete(m.FlowRevision).where(m.FlowRevision.flow_id == row.id))
    await s.delete(row)


async def delete_audio_row(s: AsyncSession, name: str) -> None:
    await _delete_by(s, m.Audio, m.Audio.name, name, "audio")


async def get_revision(s: AsyncSession, flow_id: int, number: int) -> m.FlowRevision | None:
    return await s.scalar(
        select(m.FlowRevision).where(
            m.FlowRevision.flow_id == flow_id, m.FlowRevision.number == number
        )
    )


async def count_call_history(
    s: AsyncSession,
    *,
    since: dt.datetime | None,
    until: dt.datetime | None,
    number: str | None,
    extension: str | None,
    outcome: str | None,
) -> int:
    from sqlalchemy import or_

    stmt = select(func.count(m.CallHistory.id))
    if since is not None:
        stmt = stmt.where(m.CallHistory.started_at >= since)
    if until is not None:
        stmt = stmt.where(m.CallHistory.started_at < until)
    if number is not None:
        stmt = stmt.where(or_(m.CallHistory.caller == number, m.CallHistory.did == number))
    if extension is not None:
        stmt = stmt.where(m.CallHistory.answered_by == extension)
    if outcome is not None:
        stmt = stmt.where(m.CallHistory.outcome == outcome)
    return int(await s.scalar(stmt) or 0)


async def call_recording(s: AsyncSession, call_pk: int) -> str | None:
    return await s.scalar(select(m.CallHistory.recording).where(m.CallHistory.id == call_pk))


async def set_call_recording(s: AsyncSession, call_id: str, file: str) -> None:
    await s.execute(
        update(m.CallHistory).where(m.CallHistory.call_id == call_id).values(recording=file)
    )


async def outcome_counts(s: AsyncSession) -> dict[str, int]:
    stmt = select(m.CallHistory.outcome, func.count(m.CallHistory.id)).group_by(
        m.CallHistory.outcome
    )
    return {str(o): int(n) for o, n in (await s.execute(stmt)).all()}

"""Call queues: their configuration (table ``queues``) and one row per caller who left a
queue (``queue_calls``), from which the statistics are computed."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from flowpbx.store import models as m
from flowpbx.store.records import QueueRec
from flowpbx.store.repos.rows import delete_by, update_row


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
    return update_row(row, values)


async def delete_queue(s: AsyncSession, name: str) -> None:
    await delete_by(s, m.Queue, m.Queue.name, name, "queue")


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


async def wait_totals(s: AsyncSession) -> tuple[int, float]:
    """(callers who left any queue, their summed wait in seconds), all time."""
    n, wait = (
        await s.execute(
            select(func.count(m.QueueCall.id), func.coalesce(func.sum(m.QueueCall.wait_s), 0))
        )
    ).one()
    return int(n), float(wait)


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

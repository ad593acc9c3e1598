"""Call history (table ``call_history``): one row per call, written as it starts
(``in_progress``) and replaced by its final row when it ends; a recording attached later.

Every history query filters through `history_filter`, the one builder of its conditions
(period, a number as caller or DID, an extension that answered or placed the call, the
direction, the outcome). An outgoing call's row has the number presented as `caller`, the
number dialled as `did` and the dialling extension as `extension` (pbx/call/parties.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from flowpbx.store import models as m
from flowpbx.store.records import CallRecord

IN_PROGRESS = "in_progress"  # a call's row while it runs; `interrupted` if a crash cut it


def history_filter(
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    number: str | None = None,
    extension: str | None = None,
    outcome: str | None = None,
    direction: str | None = None,
) -> list[ColumnElement[bool]]:
    """The WHERE conditions of a history query: started in [since, until), `number` as
    caller or DID (the number dialled, on outgoing calls), `extension` as the one who
    answered or placed the call, ended with `outcome`, of `direction` (each only when
    given)."""
    h = m.CallHistory
    conditions: list[ColumnElement[bool]] = []
    if since is not None:
        conditions.append(h.started_at >= since)
    if until is not None:
        conditions.append(h.started_at < until)
    if number is not None:
        conditions.append(or_(h.caller == number, h.did == number))
    if extension is not None:
        conditions.append(or_(h.answered_by == extension, h.extension == extension))
    if outcome is not None:
        conditions.append(h.outcome == outcome)
    if direction is not None:
        conditions.append(h.direction == direction)
    return conditions


def _call_rec(r: m.CallHistory) -> CallRecord:
    return CallRecord(
        id=r.id,
        call_id=r.call_id,
        started_at=r.started_at,
        answered_at=r.answered_at,
        ended_at=r.ended_at,
        caller=r.caller,
        caller_name=r.caller_name,
        did=r.did,
        flow=r.flow,
        revision=r.revision,
        answered_by=r.answered_by,
        outcome=r.outcome,
        trace=list(r.trace or []),
        direction=r.direction,
        extension=r.extension,
    )


async def add_call_history(s: AsyncSession, rec: CallRecord) -> int:
    if rec.outcome != IN_PROGRESS:  # the final row of a call replaces its in-progress row
        started = await s.scalar(
            select(m.CallHistory)
            .where(m.CallHistory.call_id == rec.call_id, m.CallHistory.outcome == IN_PROGRESS)
            .limit(1)
        )
        if started is not None:
            for name in ("answered_at", "ended_at", "caller", "caller_name", "did", "flow"):
                setattr(started, name, getattr(rec, name))
            started.direction, started.extension = rec.direction, rec.extension
            started.revision, started.answered_by = rec.revision, rec.answered_by
            started.outcome, started.trace = rec.outcome, list(rec.trace)
            await s.flush()
            return started.id
    row = m.CallHistory(
        call_id=rec.call_id,
        started_at=rec.started_at,
        answered_at=rec.answered_at,
        ended_at=rec.ended_at,
        caller=rec.caller,
        caller_name=rec.caller_name,
        did=rec.did,
        flow=rec.flow,
        revision=rec.revision,
        answered_by=rec.answered_by,
        outcome=rec.outcome,
        trace=list(rec.trace),
        direction=rec.direction,
        extension=rec.extension,
    )
    s.add(row)
    await s.flush()
    return row.id


_FINAL_FIELDS = (  # what a call's final row puts into its in-progress row (add_call_history)
    "answered_at",
    "ended_at",
    "caller",
    "caller_name",
    "did",
    "flow",
    "revision",
    "answered_by",
    "outcome",
    "direction",
    "extension",
)


def _history_values(rec: CallRecord) -> dict[str, Any]:
    values = {name: getattr(rec, name) for name in _FINAL_FIELDS}
    values["trace"] = list(rec.trace)
    return values


async def add_call_history_many(s: AsyncSession, records: Sequence[CallRecord]) -> list[int]:
    """`add_call_history` for many rows with three statements instead of two per row:
    one SELECT of the in-progress rows the final rows replace, one multi-row INSERT (with
    RETURNING, in order) and one executemany UPDATE. A call whose in-progress and final rows
    are both in the batch is written once, as its final row (both get that row's id)."""
    table = cast(Table, m.CallHistory.__table__)
    finals = {rec.call_id for rec in records if rec.outcome != IN_PROGRESS}
    open_rows: dict[str, int] = {}
    ids = sorted(finals)
    for start in range(0, len(ids), 500):
        result = await s.execute(
            select(table.c.id, table.c.call_id)
            .where(table.c.call_id.in_(ids[start : start + 500]))
            .where(table.c.outcome == IN_PROGRESS)
            .order_by(table.c.id)
        )
        for pk, call_id in result:
            open_rows.setdefault(call_id, pk)
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    # Per record: ("insert", index into inserts) or ("row", primary key).
    where: list[tuple[str, int]] = []
    pending: dict[str, int] = {}  # call_id -> index of its in-progress insert in this batch
    for rec in records:
        values = _history_values(rec)
        if rec.outcome != IN_PROGRESS:
            index = pending.pop(rec.call_id, None)
            if index is not None:
                inserts[index].update(values)
                where.append(("insert", index))
                continue
            pk = open_rows.pop(rec.call_id, None)
            if pk is not None:
                updates.append({"b_id": pk, **values})
                where.append(("row", pk))
                continue
        values.update(call_id=rec.call_id, started_at=rec.started_at)
        if rec.outcome == IN_PROGRESS:
            pending[rec.call_id] = len(inserts)
        where.append(("insert", len(inserts)))
        inserts.append(values)
    new_ids: list[int] = []
    if inserts:
        result = await s.execute(
            insert(table).returning(table.c.id, sort_by_parameter_order=True), inserts
        )
        new_ids = [row[0] for row in result]
    if updates:
        await s.execute(
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values({name: bindparam(name) for name in (*_FINAL_FIELDS, "trace")}),
            updates,
        )
    return [new_ids[i] if kind == "insert" else i for kind, i in where]


async def close_interrupted_calls(s: AsyncSession, now: dt.datetime) -> int:
    """Rows still `in_progress` (their process died mid-call) become `interrupted`."""
    result = await s.execute(
        update(m.CallHistory)
        .where(m.CallHistory.outcome == IN_PROGRESS)
        .values(outcome="interrupted", ended_at=now)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def list_call_history(
    s: AsyncSession,
    *,
    limit: int = 50,
    offset: int = 0,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    number: str | None = None,
    extension: str | None = None,
    outcome: str | None = None,
    direction: str | None = None,
) -> list[CallRecord]:
    """Newest first, filtered by `history_filter`."""
    where = history_filter(
        since=since, until=until, number=number, extension=extension, outcome=outcome,
        direction=direction,
    )  # fmt: skip
    stmt = (
        select(m.CallHistory)
        .where(*where)
        .order_by(m.CallHistory.started_at.desc(), m.CallHistory.id.desc())
    )
    rows = await s.scalars(stmt.limit(limit).offset(offset))
    return [_call_rec(r) for r in rows]


async def count_call_history(
    s: AsyncSession,
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    number: str | None = None,
    extension: str | None = None,
    outcome: str | None = None,
    direction: str | None = None,
) -> int:
    """How many rows `list_call_history` pages through with the same filter."""
    where = history_filter(
        since=since, until=until, number=number, extension=extension, outcome=outcome,
        direction=direction,
    )  # fmt: skip
    return int(await s.scalar(select(func.count(m.CallHistory.id)).where(*where)) or 0)


async def get_call_history(s: AsyncSession, call_pk: int) -> CallRecord | None:
    row = await s.get(m.CallHistory, call_pk)
    return _call_rec(row) if row else None


async def call_recording(s: AsyncSession, call_pk: int) -> str | None:
    return await s.scalar(select(m.CallHistory.recording).where(m.CallHistory.id == call_pk))


async def set_call_recording(s: AsyncSession, call_id: str, file: str) -> None:
    await s.execute(
        update(m.CallHistory).where(m.CallHistory.call_id == call_id).values(recording=file)
    )


async def expired_calls(
    s: AsyncSession, before: dt.datetime, *, limit: int = 500
) -> list[tuple[int, str | None]]:
    """(id, recording) of up to `limit` finished calls that started before `before`, oldest
    first (a call still in progress is never expired)."""
    h = m.CallHistory
    stmt = (
        select(h.id, h.recording)
        .where(h.started_at < before, h.outcome != IN_PROGRESS)
        .order_by(h.started_at, h.id)
        .limit(limit)
    )
    return [(int(pk), rec) for pk, rec in (await s.execute(stmt)).all()]


async def delete_calls(s: AsyncSession, ids: Sequence[int]) -> int:
    """Delete history rows by id; how many went."""
    if not ids:
        return 0
    result = await s.execute(delete(m.CallHistory).where(m.CallHistory.id.in_(list(ids))))
    return int(getattr(result, "rowcount", 0) or 0)


async def outcome_counts(s: AsyncSession) -> dict[str, int]:
    stmt = select(m.CallHistory.outcome, func.count(m.CallHistory.id)).group_by(
        m.CallHistory.outcome
    )
    return {str(o): int(n) for o, n in (await s.execute(stmt)).all()}

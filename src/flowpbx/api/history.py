"""/api/v1/history: call history, newest first, each call with its flow trace (SPEC §3, §6)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from flowpbx.api.deps import StoreDep, UserDep
from flowpbx.api.errors import not_found
from flowpbx.store.records import CallRecord

router = APIRouter(prefix="/api/v1/history", tags=["history"])


class CallOut(BaseModel):
    id: int
    call_id: str
    started_at: dt.datetime
    answered_at: dt.datetime | None
    ended_at: dt.datetime | None
    duration_s: float | None
    talk_s: float | None
    caller: str
    caller_name: str | None
    did: str | None
    flow: str | None
    revision: int | None
    answered_by: str | None
    outcome: str
    trace: list[dict[str, Any]]


def call_out(rec: CallRecord) -> CallOut:
    assert rec.id is not None
    end = rec.ended_at
    return CallOut(
        id=rec.id,
        call_id=rec.call_id,
        started_at=rec.started_at,
        answered_at=rec.answered_at,
        ended_at=end,
        duration_s=round((end - rec.started_at).total_seconds(), 3) if end else None,
        talk_s=round((end - rec.answered_at).total_seconds(), 3)
        if end and rec.answered_at
        else None,
        caller=rec.caller,
        caller_name=rec.caller_name,
        did=rec.did,
        flow=rec.flow,
        revision=rec.revision,
        answered_by=rec.answered_by,
        outcome=rec.outcome,
        trace=rec.trace,
    )


@router.get("", response_model=list[CallOut])
async def list_history(
    store: StoreDep,
    _user: UserDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    number: str | None = None,
    extension: str | None = None,
    outcome: str | None = None,
) -> list[CallOut]:
    rows = await store.list_call_history(
        limit=limit,
        offset=offset,
        since=since,
        until=until,
        number=number,
        extension=extension,
        outcome=outcome,
    )
    return [call_out(r) for r in rows]


@router.get("/{call_pk}", response_model=CallOut)
async def get_history(call_pk: int, store: StoreDep, _user: UserDep) -> CallOut:
    rec = await store.get_call_history(call_pk)
    if rec is None:
        raise not_found("call", str(call_pk))
    return call_out(rec)

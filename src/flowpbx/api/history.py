"""/api/v1/history: call history, newest first, each call with its flow trace (SPEC §3, §6).

Filters: `since`, `until` (started_at), `number` (caller or DID: on an outgoing call the
number presented or the number dialled), `extension` (who answered or who placed the call),
`direction` (inbound, outbound, internal), `outcome`; paging with `limit` / `offset` and the
total in `X-Total-Count`.
`/api/v1/history.csv` exports the same selection (built in a worker thread).
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import FileResponse
from pydantic import BaseModel

from flowpbx.api.deps import IntId, StoreDep, UserDep
from flowpbx.api.errors import not_found
from flowpbx.api.files import wav_response
from flowpbx.store.db import Store
from flowpbx.store.records import CallRecord
from flowpbx.store.repos import history as history_repo

router = APIRouter(prefix="/api/v1/history", tags=["history"])
csv_router = APIRouter(prefix="/api/v1", tags=["history"])

CSV_MAX_ROWS = 100_000


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
    # inbound | outbound | internal (None on rows from before it was recorded)
    direction: str | None = None
    extension: str | None = None  # the extension that placed the call (outbound, internal)


Direction = Literal["inbound", "outbound", "internal"]


class Filters(BaseModel):
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    number: str | None = None
    extension: str | None = None
    outcome: str | None = None
    direction: Direction | None = None


def filters(
    since: Annotated[dt.datetime | None, Query(description="started at or after")] = None,
    until: Annotated[dt.datetime | None, Query(description="started before")] = None,
    number: Annotated[str | None, Query(max_length=100, description="caller or DID")] = None,
    extension: Annotated[
        str | None, Query(max_length=100, description="answered or placed the call")
    ] = None,
    outcome: Annotated[str | None, Query(max_length=50)] = None,
    direction: Annotated[Direction | None, Query()] = None,
) -> Filters:
    return Filters(
        since=since, until=until, number=number, extension=extension, outcome=outcome,
        direction=direction,
    )  # fmt: skip


FiltersDep = Annotated[Filters, Depends(filters)]


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
        direction=rec.direction,
        extension=rec.extension,
    )


@router.get("", response_model=list[CallOut])
async def list_history(
    response: Response,
    store: StoreDep,
    _user: UserDep,
    f: FiltersDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> list[CallOut]:
    async with store.sessions() as s:
        rows = await history_repo.list_call_history(s, limit=limit, offset=offset, **f.model_dump())
        total = await history_repo.count_call_history(s, **f.model_dump())
    response.headers["X-Total-Count"] = str(total)
    return [call_out(r) for r in rows]


CSV_COLUMNS = (
    "id", "call_id", "started_at", "answered_at", "ended_at", "duration_s", "talk_s", "caller",
    "caller_name", "did", "flow", "revision", "answered_by", "outcome", "path", "direction",
    "extension",
)  # fmt: skip


def _csv(rows: list[CallOut]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(CSV_COLUMNS)
    for r in rows:
        d = r.model_dump(mode="json")
        d["path"] = " > ".join(str(t.get("node")) for t in r.trace if t.get("type") != "end")
        w.writerow(["" if d[c] is None else d[c] for c in CSV_COLUMNS])
    return buf.getvalue()


@csv_router.get(
    "/history.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
async def history_csv(store: StoreDep, _user: UserDep, f: FiltersDep) -> Response:
    async with store.sessions() as s:
        records = await history_repo.list_call_history(
            s, limit=CSV_MAX_ROWS, offset=0, **f.model_dump()
        )
    rows = [call_out(r) for r in records]
    text = await asyncio.to_thread(_csv, rows)
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="history.csv"'},
    )


async def _record(store: Store, call_pk: int) -> CallRecord:
    async with store.sessions() as s:
        rec = await history_repo.get_call_history(s, call_pk)
    if rec is None:
        raise not_found("call", str(call_pk))
    return rec


@router.get("/{call_pk}", response_model=CallOut, responses={404: {}})
async def get_history(call_pk: IntId, store: StoreDep, _user: UserDep) -> CallOut:
    return call_out(await _record(store, call_pk))


@router.get("/{call_pk}/trace", response_model=list[dict[str, Any]], responses={404: {}})
async def get_trace(call_pk: IntId, store: StoreDep, _user: UserDep) -> list[dict[str, Any]]:
    return (await _record(store, call_pk)).trace


@router.get(
    "/{call_pk}/recording",
    response_class=FileResponse,
    responses={200: {"content": {"audio/wav": {}}}, 206: {}, 404: {}},
)
async def get_recording(call_pk: IntId, store: StoreDep, _user: UserDep) -> FileResponse:
    async with store.sessions() as s:
        rel = await history_repo.call_recording(s, call_pk)
    if not rel:
        raise not_found("recording", str(call_pk))
    return wav_response(
        store.data_dir / rel, allowed_roots=[store.data_dir], filename=f"call-{call_pk}.wav"
    )

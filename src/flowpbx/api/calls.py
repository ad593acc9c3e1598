"""/api/v1/calls: active calls of the running PBX, with hang-up and spy actions (SPEC §4, §6).

Everything here needs the live PBX (503 `pbx-unavailable` without one). Hang-up and spy
call the optional service methods `hangup_call(id)` and `spy(call_id, supervisor, mode)`;
a PBX that does not offer them yet answers 501 `not-implemented`.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from flowpbx.api.deps import LiveDep, StoreDep, UserDep
from flowpbx.api.errors import ApiError, not_found
from flowpbx.api.live_actions import require_live
from flowpbx.store.repos import extensions as extensions_repo

router = APIRouter(prefix="/api/v1/calls", tags=["calls"])


class CallOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str
    caller: str | None = None
    caller_name: str | None = None
    did: str | None = None
    flow: str | None = None
    started_at: str | None = None
    answered_by: str | None = None
    activity: str | None = Field(
        default=None,
        description="what the call does now: flow, ringing, talking, voicemail or queue",
    )
    activity_target: str | None = Field(
        default=None, description="who rings or talks, the mailbox, or the queue"
    )


class SpyIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"supervisor": "103", "mode": "listen"}]},
    )
    supervisor: str = Field(pattern=r"^[0-9]{2,6}$", description="the supervisor's extension")
    mode: Literal["listen", "whisper", "barge"] = "listen"


class ActionOut(BaseModel):
    id: str
    action: str
    ok: bool


def _calls(live: LiveDep) -> list[dict[str, Any]]:
    svc = require_live(live)
    try:
        return [dict(c) for c in svc.active_calls()]
    except RuntimeError as exc:
        raise ApiError(503, "pbx-unavailable", "the PBX is not running") from exc


def _find(live: LiveDep, call_id: str) -> dict[str, Any]:
    for c in _calls(live):
        if str(c.get("id")) == call_id:
            return c
    raise not_found("call", call_id)


@router.get("", response_model=list[CallOut], responses={503: {}})
async def list_calls(live: LiveDep, _user: UserDep) -> list[CallOut]:
    return [CallOut(**c) for c in _calls(live)]


@router.get("/{call_id}", response_model=CallOut, responses={404: {}, 503: {}})
async def get_call(call_id: str, live: LiveDep, _user: UserDep) -> CallOut:
    return CallOut(**_find(live, call_id))


@router.delete(
    "/{call_id}", status_code=202, response_model=ActionOut, responses={404: {}, 503: {}}
)
async def hangup(call_id: str, live: LiveDep, _user: UserDep) -> ActionOut:
    """Hang the call up (both parties)."""
    svc = require_live(live)
    _find(live, call_id)
    ok = await svc.hangup_call(call_id)
    if ok is False:
        raise not_found("call", call_id)
    return ActionOut(id=call_id, action="hangup", ok=True)


@router.post(
    "/{call_id}/spy",
    status_code=202,
    response_model=ActionOut,
    responses={403: {}, 404: {}, 409: {}, 503: {}},
)
async def spy(
    call_id: str, body: SpyIn, store: StoreDep, live: LiveDep, _user: UserDep
) -> ActionOut:
    """Call the supervisor's phone and, when answered, join the call in `mode` (SPEC §4)."""
    svc = require_live(live)
    async with store.sessions() as s:
        ext = await extensions_repo.get_extension(s, body.supervisor)
    if ext is None:
        raise not_found("extension", body.supervisor)
    if not ext.supervisor:
        raise ApiError(
            403, "not-a-supervisor", f"extension {body.supervisor} may not spy (no supervisor flag)"
        )
    _find(live, call_id)
    try:
        await svc.spy(call_id, body.supervisor, body.mode)
    except LookupError as exc:  # not a bridged call, or the supervisor has no phone online
        raise ApiError(
            409, "spy-not-possible", str(exc) or "this call cannot be spied on now"
        ) from exc
    return ActionOut(id=call_id, action=f"spy:{body.mode}", ok=True)

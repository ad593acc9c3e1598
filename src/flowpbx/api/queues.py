"""/api/v1/queues: queue configuration and live state (SPEC §3 `queue`, §6).

A queue exists when it is stored here (PUT) or when a published flow has a `queue`
element (named by its `name`, else "flow name + node id"). Live state — callers waiting,
each member's state — comes from the running PBX when it offers `queues()`; statistics
(today, UTC) come from the queue call log the queue element writes.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator

from flowpbx.api.deps import LiveDep, StoreDep, UserDep
from flowpbx.api.errors import not_found
from flowpbx.api.live_actions import reload_live
from flowpbx.flow.model import QueueParams
from flowpbx.store.db import Store
from flowpbx.store.errors import NotFoundError
from flowpbx.store.records import QueueRec
from flowpbx.store.repos import flows as flows_repo
from flowpbx.store.repos import queues as queues_repo

router = APIRouter(prefix="/api/v1/queues", tags=["queues"])

Strategy = Literal["ring_all", "fewest_calls", "least_recent", "round_robin", "linear", "random"]


class MemberIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    extension: str = Field(pattern=r"^[0-9]{2,6}$")
    penalty: int = Field(default=0, ge=0, le=100)


# The queue element's settings (SPEC §3 `queue`) other than name, members and strategy,
# with the element's own rules: a stored queue takes what the element would take.
QueueSettings = create_model(
    "QueueSettings",
    __config__=ConfigDict(extra="forbid"),
    **{  # type: ignore[call-overload]
        k: (f.annotation, f)
        for k, f in QueueParams.model_fields.items()
        if k not in ("name", "members", "strategy")
    },
)


class QueueIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "strategy": "ring_all",
                    "members": [{"extension": "101"}, {"extension": "102", "penalty": 1}],
                    "settings": {"max_wait_s": 120},
                }
            ]
        },
    )
    strategy: Strategy = "ring_all"
    members: list[MemberIn] = Field(default_factory=list, max_length=200)
    settings: dict[str, Any] = Field(default_factory=dict)

    @field_validator("settings")
    @classmethod
    def _known_settings(cls, v: dict[str, Any]) -> dict[str, Any]:
        """Unknown keys and bad values answer 422 naming ``settings.<key>``."""
        checked: dict[str, Any] = QueueSettings.model_validate(v).model_dump(exclude_unset=True)
        return checked


class QueueOut(BaseModel):
    name: str
    source: str  # "stored" | "flow"
    flows: list[str]
    strategy: str
    members: list[dict[str, Any]]
    settings: dict[str, Any]
    live: dict[str, Any] | None
    stats: dict[str, Any]
    member_stats: dict[str, dict[str, Any]]


def _flow_queues(published: list[Any]) -> dict[str, tuple[list[str], dict[str, Any]]]:
    """queue name -> (flows, params of the first element) from published flows."""
    out: dict[str, tuple[list[str], dict[str, Any]]] = {}
    for pub in published:
        nodes = pub.document.get("nodes") or {}
        for node_id, node in nodes.items() if isinstance(nodes, dict) else ():
            if not isinstance(node, dict) or node.get("type") != "queue":
                continue
            params = node.get("params") if isinstance(node.get("params"), dict) else {}
            assert isinstance(params, dict)
            name = params.get("name") or f"{pub.flow_name}/{node_id}"  # as flow/elements/queue.py
            flows, _first = out.setdefault(str(name), ([], dict(params)))
            if pub.flow_name not in flows:
                flows.append(pub.flow_name)
    return out


def _live(live: LiveDep) -> dict[str, dict[str, Any]]:
    if live is None:
        return {}
    try:
        state = live.queues()
    except RuntimeError:  # the PBX is not running
        return {}
    return {str(q.get("name")): dict(q) for q in state}


async def _all(store: Store, live: LiveDep) -> list[QueueOut]:
    today = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    live_state = _live(live)
    async with store.sessions() as s:
        stored = {q.name: q for q in await queues_repo.list_queues(s)}
        from_flows = _flow_queues(await flows_repo.list_published(s))
        out: list[QueueOut] = []
        for name in sorted(set(stored) | set(from_flows) | set(live_state)):
            flows, params = from_flows.get(name, ([], {}))
            rec = stored.get(name)
            if rec is not None:
                strategy, members, settings = rec.strategy, rec.members, rec.settings
            else:
                strategy = str(params.get("strategy", "ring_all"))
                raw = params.get("members") or []
                members = [
                    {"extension": str(x), "penalty": 0}
                    if not isinstance(x, dict)
                    else {"extension": str(x.get("extension")), "penalty": x.get("penalty", 0)}
                    for x in raw
                ]
                settings = {k: v for k, v in params.items() if k not in ("members", "strategy")}
            out.append(
                QueueOut(
                    name=name,
                    source="stored" if rec is not None else "flow",
                    flows=flows,
                    strategy=strategy,
                    members=members,
                    settings=settings,
                    live=live_state.get(name),
                    stats=await queues_repo.queue_stats(s, name, today),
                    member_stats={
                        k: {**v, "last_call_at": v["last_call_at"].isoformat()}
                        for k, v in (await queues_repo.queue_member_stats(s, name, today)).items()
                    },
                )
            )
    return out


@router.get("", response_model=list[QueueOut])
async def list_queues(store: StoreDep, live: LiveDep, _user: UserDep) -> list[QueueOut]:
    return await _all(store, live)


@router.get("/{name:path}", response_model=QueueOut, responses={404: {}})
async def get_queue(name: str, store: StoreDep, live: LiveDep, _user: UserDep) -> QueueOut:
    for q in await _all(store, live):
        if q.name == name:
            return q
    raise not_found("queue", name)


@router.put("/{name:path}", response_model=QueueOut)
async def put_queue(
    name: str, body: QueueIn, store: StoreDep, live: LiveDep, _user: UserDep
) -> QueueOut:
    """Store (create or replace) a queue's configuration."""
    async with store.transaction() as s:
        await queues_repo.upsert_queue(
            s,
            QueueRec(
                name=name,
                strategy=body.strategy,
                members=[mb.model_dump() for mb in body.members],
                settings=body.settings,
            ),
        )
    await reload_live(live)
    return await get_queue(name, store, live, _user)


@router.delete("/{name:path}", status_code=204, responses={404: {}})
async def delete_queue(name: str, store: StoreDep, live: LiveDep, _user: UserDep) -> Response:
    try:
        async with store.transaction() as s:
            await queues_repo.delete_queue(s, name)
    except NotFoundError as exc:
        raise not_found("queue", name) from exc
    await reload_live(live)
    return Response(status_code=204)

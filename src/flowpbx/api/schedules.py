"""/api/v1/schedules: office-hours schedules with holidays (SPEC §2.1, `time_routing`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from flowpbx.api.deps import LiveDep, StoreDep, UserDep
from flowpbx.api.errors import ApiError, not_found
from flowpbx.api.live_actions import reload_live
from flowpbx.flow.model import ScheduleSpec
from flowpbx.store.db import Store
from flowpbx.store.errors import NotFoundError
from flowpbx.store.records import ScheduleRec
from flowpbx.store.repos import flows as flows_repo
from flowpbx.store.repos import schedules as schedules_repo

router = APIRouter(prefix="/api/v1/schedules", tags=["schedules"])

EXAMPLE: dict[str, Any] = {
    "name": "office",
    "timezone": "Europe/Riga",
    "hours": {"mon": [["09:00", "18:00"]], "tue": [["09:00", "18:00"]], "sat": []},
    "holidays": ["2026-12-25", {"date": "2026-12-31", "hours": [["09:00", "13:00"]]}],
}


class ScheduleBody(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE]})
    timezone: str = Field(default="UTC", min_length=1, max_length=64)
    hours: dict[str, Any] = Field(default_factory=dict)
    holidays: list[Any] = Field(default_factory=list)


class ScheduleCreate(ScheduleBody):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[^/\x00-\x1f]+$")


class ScheduleOut(BaseModel):
    name: str
    timezone: str
    hours: dict[str, Any]
    holidays: list[Any]


def _check(body: ScheduleBody) -> None:
    try:
        ScheduleSpec.model_validate(
            {"timezone": body.timezone, "hours": body.hours, "holidays": body.holidays}
        )
    except ValidationError as exc:
        details = [
            {
                "path": ".".join(["body", *(str(p) for p in e["loc"])]),
                "message": str(e["msg"]).removeprefix("Value error, "),
            }
            for e in exc.errors(include_url=False)
        ]
        raise ApiError(
            422, "invalid-request", f"{details[0]['path']}: {details[0]['message']}", details
        ) from exc


def _out(sc: ScheduleRec) -> ScheduleOut:
    return ScheduleOut(name=sc.name, timezone=sc.timezone, hours=sc.hours, holidays=sc.holidays)


async def _get(store: Store, name: str) -> ScheduleRec:
    async with store.sessions() as s:
        for sc in await schedules_repo.list_schedules(s):
            if sc.name == name:
                return sc
    raise not_found("schedule", name)


@router.get("", response_model=list[ScheduleOut])
async def list_schedules(store: StoreDep, _user: UserDep) -> list[ScheduleOut]:
    async with store.sessions() as s:
        return [_out(sc) for sc in await schedules_repo.list_schedules(s)]


@router.post("", response_model=ScheduleOut, status_code=201, responses={409: {}})
async def create_schedule(
    body: ScheduleCreate, store: StoreDep, live: LiveDep, _user: UserDep
) -> ScheduleOut:
    _check(body)
    async with store.transaction() as s:
        if any(sc.name == body.name for sc in await schedules_repo.list_schedules(s)):
            raise ApiError(409, "schedule-exists", f"schedule {body.name!r} already exists")
        await schedules_repo.upsert_schedule(
            s,
            ScheduleRec(
                name=body.name, timezone=body.timezone, hours=body.hours, holidays=body.holidays
            ),
        )
    await reload_live(live)
    return _out(await _get(store, body.name))


@router.get("/{name}", response_model=ScheduleOut, responses={404: {}})
async def get_schedule(name: str, store: StoreDep, _user: UserDep) -> ScheduleOut:
    return _out(await _get(store, name))


@router.put("/{name}", response_model=ScheduleOut, responses={404: {}})
async def update_schedule(
    name: str, body: ScheduleBody, store: StoreDep, live: LiveDep, _user: UserDep
) -> ScheduleOut:
    await _get(store, name)
    _check(body)
    async with store.transaction() as s:
        await schedules_repo.upsert_schedule(
            s,
            ScheduleRec(
                name=name, timezone=body.timezone, hours=body.hours, holidays=body.holidays
            ),
        )
    await reload_live(live)
    return _out(await _get(store, name))


def schedule_users(published: list[Any], name: str) -> list[str]:
    """Published flows with a `time_routing` element naming schedule `name`."""
    users: list[str] = []
    for pub in published:
        nodes = pub.document.get("nodes") or {}
        for node in nodes.values() if isinstance(nodes, dict) else ():
            params = node.get("params") if isinstance(node, dict) else None
            if (
                node.get("type") == "time_routing"
                and isinstance(params, dict)
                and params.get("schedule") == name
                and pub.flow_name not in users
            ):
                users.append(pub.flow_name)
    return users


@router.delete("/{name}", status_code=204, responses={404: {}, 409: {}})
async def delete_schedule(name: str, store: StoreDep, live: LiveDep, _user: UserDep) -> Response:
    async with store.sessions() as s:
        users = schedule_users(await flows_repo.list_published(s), name)
    if users:
        raise ApiError(
            409,
            "schedule-in-use",
            f"schedule {name!r} is used by the published flow(s) {', '.join(users)}",
            details={"flows": users},
        )
    try:
        async with store.transaction() as s:
            await schedules_repo.delete_schedule(s, name)
    except NotFoundError as exc:
        raise not_found("schedule", name) from exc
    await reload_live(live)
    return Response(status_code=204)

"""/api/v1/numbers: My numbers, in caller-ID order (position 1 = `c1`), SPEC §2."""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from flowpbx.api.deps import LiveDep, StoreDep, UserDep
from flowpbx.api.errors import ApiError, not_found
from flowpbx.api.live_actions import reload_live
from flowpbx.store.config_io import _e164 as e164
from flowpbx.store.db import Store
from flowpbx.store.errors import NotFoundError
from flowpbx.store.records import NumberRec
from flowpbx.store.repos import flows as flows_repo
from flowpbx.store.repos import numbers as numbers_repo
from flowpbx.store.repos import trunks as trunks_repo

router = APIRouter(prefix="/api/v1/numbers", tags=["numbers"])


class NumberOut(BaseModel):
    number: str
    trunk: str
    position: int
    flow: str | None  # the published flow this number leads into


class NumberCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={"examples": [{"number": "+37167000001", "trunk": "provider"}]},
    )
    number: str = Field(max_length=32)
    trunk: str = Field(min_length=1, max_length=100)
    position: int | None = Field(default=None, ge=1, le=100000)

    @field_validator("number")
    @classmethod
    def _number(cls, v: str) -> str:
        return e164(v)


class NumberUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    trunk: str = Field(min_length=1, max_length=100)
    position: int | None = Field(default=None, ge=1, le=100000)


async def _all(store: Store) -> list[NumberOut]:
    async with store.sessions() as s:
        owners: dict[str, str] = {}
        for pub in await flows_repo.list_published(s):
            for did in flows_repo.flow_dids(pub.document):
                owners.setdefault(did, pub.flow_name)
        return [
            NumberOut(
                number=n.number, trunk=n.trunk, position=n.position, flow=owners.get(n.number)
            )
            for n in await numbers_repo.list_numbers(s)
        ]


async def _one(store: Store, number: str) -> NumberOut:
    for n in await _all(store):
        if n.number == number:
            return n
    raise not_found("number", number)


async def _check_trunk(store: Store, trunk: str) -> None:
    async with store.sessions() as s:
        if trunk not in {t.name for t in await trunks_repo.list_trunks(s)}:
            raise ApiError(
                422,
                "invalid-request",
                f"body.trunk: no trunk named {trunk!r}",
                details=[{"path": "body.trunk", "message": f"no trunk named {trunk!r}"}],
            )


@router.get("", response_model=list[NumberOut])
async def list_numbers(store: StoreDep, _user: UserDep) -> list[NumberOut]:
    return await _all(store)


@router.post("", response_model=NumberOut, status_code=201, responses={409: {}, 422: {}})
async def create_number(
    body: NumberCreate, store: StoreDep, live: LiveDep, _user: UserDep
) -> NumberOut:
    await _check_trunk(store, body.trunk)
    async with store.transaction() as s:
        existing = await numbers_repo.list_numbers(s)
        if any(n.number == body.number for n in existing):
            raise ApiError(409, "number-exists", f"number {body.number} already exists")
        last = max((n.position for n in existing), default=0)
        await numbers_repo.upsert_number(
            s, NumberRec(number=body.number, trunk=body.trunk, position=last + 1)
        )
        await s.flush()
        if body.position is not None:
            await numbers_repo.move_number(s, body.number, body.position)
    await reload_live(live)
    return await _one(store, body.number)


@router.get("/{number}", response_model=NumberOut, responses={404: {}})
async def get_number(number: str, store: StoreDep, _user: UserDep) -> NumberOut:
    return await _one(store, number)


@router.put("/{number}", response_model=NumberOut, responses={404: {}, 422: {}})
async def update_number(
    number: str, body: NumberUpdate, store: StoreDep, live: LiveDep, _user: UserDep
) -> NumberOut:
    current = await _one(store, number)
    await _check_trunk(store, body.trunk)
    async with store.transaction() as s:
        await numbers_repo.upsert_number(
            s, NumberRec(number=number, trunk=body.trunk, position=current.position)
        )
        await s.flush()
        if body.position is not None:
            await numbers_repo.move_number(s, number, body.position)
    await reload_live(live)
    return await _one(store, number)


@router.delete("/{number}", status_code=204, responses={404: {}, 409: {}})
async def delete_number(number: str, store: StoreDep, live: LiveDep, _user: UserDep) -> Response:
    current = await _one(store, number)
    if current.flow is not None:
        raise ApiError(
            409,
            "number-in-use",
            f"number {number} leads into the published flow {current.flow!r}",
            details={"flows": [current.flow]},
        )
    try:
        async with store.transaction() as s:
            await numbers_repo.delete_number(s, number)
    except NotFoundError as exc:
        raise not_found("number", number) from exc
    await reload_live(live)
    return Response(status_code=204)

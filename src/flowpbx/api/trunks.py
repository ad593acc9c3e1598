"""/api/v1/trunks: SIP provider accounts (SPEC §2). The password is write-only."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from flowpbx.api.deps import LiveDep, StoreDep, UserDep
from flowpbx.api.errors import ApiError, not_found
from flowpbx.api.live_actions import reload_live
from flowpbx.store.config_io import (
    INVITE_RATE_PATTERN,
    DialFormat,
    MediaEncryption,
    TrunkIn,
    TrunkTlsFields,
    check_dial_format,
)
from flowpbx.store.errors import ConflictError, NotFoundError
from flowpbx.store.records import TrunkRec
from flowpbx.store.repos import trunks as trunks_repo

router = APIRouter(prefix="/api/v1/trunks", tags=["trunks"])


class TrunkOut(BaseModel):
    model_config = ConfigDict(validate_by_name=True, serialize_by_alias=True)
    name: str
    host: str
    port: int
    transport: str
    username: str | None
    password_set: bool
    register_: bool = Field(alias="register")
    from_domain: str | None
    trusted: bool
    country_code: str | None = None
    national_prefix: str | None = None
    max_calls: int | None = None
    invite_rate: str | None = None
    media_encryption: str = "none"
    tls_verify: bool = True
    tls_ca_file: str | None = None
    dial_format: str | None = None
    registration: dict[str, Any] | None


class TrunkUpdate(TrunkTlsFields):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, validate_by_name=True)
    host: str = Field(min_length=1, max_length=255)
    port: int = Field(default=5060, ge=1, le=65535)
    transport: Literal["udp", "tcp", "tls"] = "udp"
    username: str | None = Field(default=None, max_length=200)
    password: str | None = Field(default=None, max_length=200)
    register_: bool = Field(default=False, alias="register")
    from_domain: str | None = Field(default=None, max_length=255)
    trusted: bool = False
    country_code: str | None = Field(default=None, pattern=r"^[1-9][0-9]{0,3}$")
    national_prefix: str | None = Field(default=None, pattern=r"^[0-9]{1,4}$")
    max_calls: int | None = Field(default=None, ge=0, le=100_000)
    invite_rate: str | None = Field(default=None, pattern=INVITE_RATE_PATTERN)
    media_encryption: MediaEncryption = "none"
    dial_format: DialFormat | None = Field(
        default=None,
        description="the number's form in calls out: e164, national, international; "
        "null = as dialled (needs country_code)",
    )

    @field_validator("dial_format")
    @classmethod
    def _dial_format(cls, v: str | None, info: ValidationInfo) -> str | None:
        return check_dial_format(v, info.data.get("country_code"))


def _live_state(live: LiveDep) -> dict[str, dict[str, Any]]:
    if live is None:
        return {}
    try:
        return dict(live.trunk_registrations())
    except RuntimeError:  # the PBX is not running
        return {}


def _out(t: TrunkRec, state: dict[str, dict[str, Any]]) -> TrunkOut:
    return TrunkOut.model_validate(
        {
            "name": t.name,
            "host": t.host,
            "port": t.port,
            "transport": t.transport,
            "username": t.username,
            "password_set": bool(t.password),
            "register": t.register,
            "from_domain": t.from_domain,
            "trusted": t.trusted,
            "country_code": t.country_code,
            "national_prefix": t.national_prefix,
            "max_calls": t.max_calls,
            "invite_rate": t.invite_rate,
            "media_encryption": t.media_encryption,
            "tls_verify": t.tls_verify,
            "tls_ca_file": t.tls_ca_file,
            "dial_format": t.dial_format,
            "registration": state.get(t.name) if t.register else None,
        }
    )


async def _get(store: StoreDep, name: str) -> TrunkRec:
    async with store.sessions() as s:
        for t in await trunks_repo.list_trunks(s):
            if t.name == name:
                return t
    raise not_found("trunk", name)


@router.get("", response_model=list[TrunkOut])
async def list_trunks(store: StoreDep, live: LiveDep, _user: UserDep) -> list[TrunkOut]:
    state = _live_state(live)
    async with store.sessions() as s:
        return [_out(t, state) for t in await trunks_repo.list_trunks(s)]


@router.post("", response_model=TrunkOut, status_code=201, responses={409: {}})
async def create_trunk(body: TrunkIn, store: StoreDep, live: LiveDep, _user: UserDep) -> TrunkOut:
    async with store.transaction() as s:
        if any(t.name == body.name for t in await trunks_repo.list_trunks(s)):
            raise ApiError(409, "trunk-exists", f"trunk {body.name!r} already exists")
        await trunks_repo.upsert_trunk(s, body.record())
    await reload_live(live)
    return _out(await _get(store, body.name), _live_state(live))


@router.get("/{name}", response_model=TrunkOut, responses={404: {}})
async def get_trunk(name: str, store: StoreDep, live: LiveDep, _user: UserDep) -> TrunkOut:
    return _out(await _get(store, name), _live_state(live))


@router.put("/{name}", response_model=TrunkOut, responses={404: {}})
async def update_trunk(
    name: str, body: TrunkUpdate, store: StoreDep, live: LiveDep, _user: UserDep
) -> TrunkOut:
    old = await _get(store, name)
    fields = body.model_dump(by_alias=False)
    if "password" not in body.model_fields_set:
        fields["password"] = old.password  # write-only: omitted keeps the old one
    fields["register"] = fields.pop("register_")
    async with store.transaction() as s:
        await trunks_repo.upsert_trunk(s, TrunkRec(name=name, **fields))
    await reload_live(live)
    return _out(await _get(store, name), _live_state(live))


@router.delete("/{name}", status_code=204, responses={404: {}, 409: {}})
async def delete_trunk(name: str, store: StoreDep, live: LiveDep, _user: UserDep) -> Response:
    try:
        async with store.transaction() as s:
            await trunks_repo.delete_trunk(s, name)
    except NotFoundError as exc:
        raise not_found("trunk", name) from exc
    except ConflictError as exc:
        raise ApiError(409, "trunk-in-use", str(exc)) from exc
    await reload_live(live)
    return Response(status_code=204)

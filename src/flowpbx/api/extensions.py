"""/api/v1/extensions: extensions with their registration state (SPEC §2, §6).

Registration state is live from the running PBX when there is one, else the bindings the
registrar persisted (so a restart or a separate API process still shows them). HA1 values
never leave the server; a password is write-only. SIP passwords are at least 12 characters
(store/config_io.py ``SIP_PASSWORD_RULE``); an extension created without one gets a generated
password, returned once as ``generated_password``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from flowpbx.api.deps import LiveDep, StoreDep, UserDep
from flowpbx.api.errors import ApiError, not_found
from flowpbx.api.live_actions import reload_live
from flowpbx.store.config_io import (
    ExtensionIn,
    MediaEncryption,
    cidr_list,
    generate_sip_password,
    sip_password,
)
from flowpbx.store.config_io import _e164 as e164
from flowpbx.store.db import Store
from flowpbx.store.errors import NotFoundError
from flowpbx.store.records import ExtensionRec, RegistrationRec
from flowpbx.store.repos import extensions as extensions_repo
from flowpbx.store.repos import registrations as registrations_repo
from flowpbx.store.repos import voicemail as voicemail_repo

router = APIRouter(prefix="/api/v1/extensions", tags=["extensions"])


class RegistrationOut(BaseModel):
    contact: str
    source: str
    transport: str | None = None
    expires: int  # seconds left
    expires_at: dt.datetime | None = None
    user_agent: str | None = None


class ExtensionOut(BaseModel):
    number: str
    name: str
    supervisor: bool
    outbound: bool
    caller_id: str | None
    mailbox: str | None
    allowed_cidrs: list[str] = []
    call_waiting: bool = True
    media_encryption: str = "none"
    registered: bool
    registrations: list[RegistrationOut]


class ExtensionCreated(ExtensionOut):
    generated_password: str | None = None  # set once, when flowpbx chose the password


class ExtensionCreate(ExtensionIn):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [{"number": "101", "name": "Alice", "password": "long-s3cret-101"}]
        },
    )
    # absent: flowpbx generates one (returned once as ``generated_password``)
    password: str | None = Field(default=None, max_length=200)


class ExtensionUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    name: str = Field(min_length=1, max_length=200)
    password: str | None = Field(default=None, max_length=200)
    supervisor: bool = False
    outbound: bool = False
    caller_id: str | None = None
    mailbox: str | None = None
    allowed_cidrs: list[str] = Field(default_factory=list, max_length=50)
    call_waiting: bool = True
    media_encryption: MediaEncryption = "none"

    @field_validator("caller_id")
    @classmethod
    def _caller_id(cls, v: str | None) -> str | None:
        return None if v is None else e164(v)

    @field_validator("allowed_cidrs")
    @classmethod
    def _cidrs(cls, v: list[str]) -> list[str]:
        return cidr_list(v)

    @field_validator("password")
    @classmethod
    def _password(cls, v: str | None) -> str | None:
        return sip_password(v)


def _reg_out(reg: RegistrationRec, now: dt.datetime) -> RegistrationOut:
    return RegistrationOut(
        contact=reg.contact,
        source=reg.source,
        transport=reg.transport,
        expires=max(0, int((reg.expires_at - now).total_seconds())),
        expires_at=reg.expires_at,
        user_agent=reg.user_agent,
    )


def _live_out(b: dict[str, Any], now: dt.datetime) -> RegistrationOut:
    expires = int(b.get("expires") or 0)
    return RegistrationOut(
        contact=str(b.get("contact", "")),
        source=str(b.get("source", "")),
        transport=b.get("transport"),
        expires=expires,
        expires_at=now + dt.timedelta(seconds=expires),
        user_agent=b.get("user_agent"),
    )


async def registrations_of(
    store: Store, live: LiveDep, numbers: list[str]
) -> dict[str, list[RegistrationOut]]:
    now = dt.datetime.now(dt.UTC)
    out: dict[str, list[RegistrationOut]] = {n: [] for n in numbers}
    if live is not None:
        try:
            for n in numbers:
                out[n] = [_live_out(b, now) for b in live.registrations(n)]
            return out
        except RuntimeError:  # the PBX is stopping; fall back to the persisted bindings
            pass
    async with store.sessions() as s:
        stored = await registrations_repo.load_registrations(s, now)
    for reg in stored:
        if reg.extension in out:
            out[reg.extension].append(_reg_out(reg, now))
    return out


def _ext_out(ext: ExtensionRec, regs: list[RegistrationOut]) -> ExtensionOut:
    return ExtensionOut(
        number=ext.number,
        name=ext.name,
        supervisor=ext.supervisor,
        outbound=ext.outbound,
        caller_id=ext.caller_id,
        mailbox=ext.mailbox,
        allowed_cidrs=list(ext.allowed_cidrs),
        call_waiting=ext.call_waiting,
        media_encryption=ext.media_encryption,
        registered=bool(regs),
        registrations=regs,
    )


async def _check_mailbox(store: Store, mailbox: str | None) -> None:
    if mailbox is None:
        return
    async with store.sessions() as s:
        if mailbox not in {mb.number for mb in await voicemail_repo.list_mailboxes(s)}:
            raise ApiError(
                422,
                "invalid-request",
                f"body.mailbox: no mailbox {mailbox!r}",
                details=[{"path": "body.mailbox", "message": f"no mailbox {mailbox!r}"}],
            )


async def _extension(store: Store, number: str) -> ExtensionRec | None:
    async with store.sessions() as s:
        return await extensions_repo.get_extension(s, number)


async def _save(store: Store, values: dict[str, Any]) -> None:
    """Create or update one extension; its HA1 is computed for the installation's realm."""
    async with store.transaction() as s:
        await extensions_repo.upsert_extension(s, realm=store.sip_realm, **values)


@router.get("", response_model=list[ExtensionOut])
async def list_extensions(store: StoreDep, live: LiveDep, _user: UserDep) -> list[ExtensionOut]:
    async with store.sessions() as s:
        exts = await extensions_repo.list_extensions(s)
    regs = await registrations_of(store, live, [e.number for e in exts])
    return [_ext_out(e, regs[e.number]) for e in exts]


@router.post("", response_model=ExtensionCreated, status_code=201, responses={409: {}})
async def create_extension(
    body: ExtensionCreate, store: StoreDep, live: LiveDep, _user: UserDep
) -> ExtensionCreated:
    if await _extension(store, body.number) is not None:
        raise ApiError(409, "extension-exists", f"extension {body.number} already exists")
    await _check_mailbox(store, body.mailbox)
    values = body.model_dump()
    generated = None
    if values.get("password") is None:
        generated = values["password"] = generate_sip_password()
    await _save(store, values)
    await reload_live(live)
    out = await get_extension(body.number, store, live, _user)
    return ExtensionCreated(**out.model_dump(), generated_password=generated)


@router.get("/{number}", response_model=ExtensionOut, responses={404: {}})
async def get_extension(
    number: str, store: StoreDep, live: LiveDep, _user: UserDep
) -> ExtensionOut:
    ext = await _extension(store, number)
    if ext is None:
        raise not_found("extension", number)
    regs = await registrations_of(store, live, [number])
    return _ext_out(ext, regs[number])


@router.put("/{number}", response_model=ExtensionOut, responses={404: {}})
async def update_extension(
    number: str, body: ExtensionUpdate, store: StoreDep, live: LiveDep, _user: UserDep
) -> ExtensionOut:
    if await _extension(store, number) is None:
        raise not_found("extension", number)
    await _check_mailbox(store, body.mailbox)
    await _save(store, {"number": number, **body.model_dump()})
    await reload_live(live)
    return await get_extension(number, store, live, _user)


@router.delete("/{number}", status_code=204, responses={404: {}})
async def delete_extension(number: str, store: StoreDep, live: LiveDep, _user: UserDep) -> Response:
    try:
        async with store.transaction() as s:
            await extensions_repo.delete_extension(s, number)
    except NotFoundError as exc:
        raise not_found("extension", number) from exc
    await reload_live(live)
    return Response(status_code=204)

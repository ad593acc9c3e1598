"""/api/v1/extensions: extensions with their registration state (SPEC §2, §6).

Registrations come from the registrations table the registrar persists, so they survive a
restart and are visible whether or not this process runs the PBX. HA1 values never leave
the server.
"""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter
from pydantic import BaseModel

from flowpbx.api.deps import StoreDep, UserDep
from flowpbx.api.errors import not_found
from flowpbx.store.records import ExtensionRec, RegistrationRec

router = APIRouter(prefix="/api/v1/extensions", tags=["extensions"])


class RegistrationOut(BaseModel):
    contact: str
    source: str
    transport: str
    expires: int  # seconds left
    expires_at: dt.datetime
    user_agent: str | None


class ExtensionOut(BaseModel):
    number: str
    name: str
    supervisor: bool
    outbound: bool
    caller_id: str | None
    mailbox: str | None
    registered: bool
    registrations: list[RegistrationOut]


def _reg_out(reg: RegistrationRec, now: dt.datetime) -> RegistrationOut:
    return RegistrationOut(
        contact=reg.contact,
        source=reg.source,
        transport=reg.transport,
        expires=max(0, int((reg.expires_at - now).total_seconds())),
        expires_at=reg.expires_at,
        user_agent=reg.user_agent,
    )


def _ext_out(ext: ExtensionRec, regs: list[RegistrationRec], now: dt.datetime) -> ExtensionOut:
    return ExtensionOut(
        number=ext.number,
        name=ext.name,
        supervisor=ext.supervisor,
        outbound=ext.outbound,
        caller_id=ext.caller_id,
        mailbox=ext.mailbox,
        registered=bool(regs),
        registrations=[_reg_out(r, now) for r in regs],
    )


@router.get("", response_model=list[ExtensionOut])
async def list_extensions(store: StoreDep, _user: UserDep) -> list[ExtensionOut]:
    now = dt.datetime.now(dt.UTC)
    regs: dict[str, list[RegistrationRec]] = {}
    for reg in await store.load_registrations(now=now):
        regs.setdefault(reg.extension, []).append(reg)
    return [_ext_out(e, regs.get(e.number, []), now) for e in await store.list_extensions()]


@router.get("/{number}", response_model=ExtensionOut)
async def get_extension(number: str, store: StoreDep, _user: UserDep) -> ExtensionOut:
    ext = await store.get_extension(number)
    if ext is None:
        raise not_found("extension", number)
    now = dt.datetime.now(dt.UTC)
    return _ext_out(ext, await store.load_registrations(extension=number, now=now), now)

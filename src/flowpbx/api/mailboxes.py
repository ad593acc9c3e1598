"""/api/v1/mailboxes: voicemail boxes and their messages (list, stream, delete, heard)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Body, Response
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from flowpbx.api.deps import IntId, LiveDep, StoreDep, UserDep
from flowpbx.api.errors import ApiError, not_found
from flowpbx.api.files import wav_response
from flowpbx.api.live_actions import reload_live
from flowpbx.store.config_io import MailboxIn
from flowpbx.store.db import Store
from flowpbx.store.errors import ConflictError, NotFoundError
from flowpbx.store.records import MailboxRec, VoicemailRec
from flowpbx.store.repos import voicemail as voicemail_repo

router = APIRouter(prefix="/api/v1/mailboxes", tags=["mailboxes"])


class MailboxOut(BaseModel):
    number: str
    name: str
    pin_set: bool
    email: list[str]
    messages: int
    unheard: int


class MailboxUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    name: str = Field(min_length=1, max_length=200)
    pin: str | None = None
    email: list[str] = Field(default_factory=list, max_length=20)

    @field_validator("pin", mode="before")
    @classmethod
    def _pin(cls, v: object) -> object:
        return MailboxIn._pin(v)

    @field_validator("email")
    @classmethod
    def _email(cls, v: list[str]) -> list[str]:
        return MailboxIn._email(v)


class MessageOut(BaseModel):
    id: int
    mailbox: str
    caller: str
    caller_name: str | None
    call_id: str | None
    received_at: dt.datetime
    duration_s: float
    heard: bool


class HeardIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    heard: bool = True


def _msg_out(m: VoicemailRec) -> MessageOut:
    return MessageOut(
        id=m.id,
        mailbox=m.mailbox,
        caller=m.caller,
        caller_name=m.caller_name,
        call_id=m.call_id,
        received_at=m.received_at,
        duration_s=m.duration_s,
        heard=m.heard,
    )


async def _all(store: Store) -> list[MailboxOut]:
    async with store.sessions() as s:
        counts = await voicemail_repo.mailbox_counts(s)
        return [
            MailboxOut(
                number=mb.number,
                name=mb.name,
                pin_set=bool(mb.pin),
                email=list(mb.email),
                messages=counts.get(mb.number, (0, 0))[0],
                unheard=counts.get(mb.number, (0, 0))[1],
            )
            for mb in await voicemail_repo.list_mailboxes(s)
        ]


async def _one(store: Store, number: str) -> MailboxOut:
    for mb in await _all(store):
        if mb.number == number:
            return mb
    raise not_found("mailbox", number)


async def _pin_of(store: Store, number: str) -> str | None:
    async with store.sessions() as s:
        for mb in await voicemail_repo.list_mailboxes(s):
            if mb.number == number:
                return mb.pin
    return None


@router.get("", response_model=list[MailboxOut])
async def list_mailboxes(store: StoreDep, _user: UserDep) -> list[MailboxOut]:
    return await _all(store)


@router.post("", response_model=MailboxOut, status_code=201, responses={409: {}})
async def create_mailbox(
    body: MailboxIn, store: StoreDep, live: LiveDep, _user: UserDep
) -> MailboxOut:
    async with store.transaction() as s:
        if any(mb.number == body.number for mb in await voicemail_repo.list_mailboxes(s)):
            raise ApiError(409, "mailbox-exists", f"mailbox {body.number} already exists")
        await voicemail_repo.upsert_mailbox(
            s, MailboxRec(number=body.number, name=body.name, pin=body.pin, email=tuple(body.email))
        )
    await reload_live(live)
    return await _one(store, body.number)


@router.get("/{number}", response_model=MailboxOut, responses={404: {}})
async def get_mailbox(number: str, store: StoreDep, _user: UserDep) -> MailboxOut:
    return await _one(store, number)


@router.put("/{number}", response_model=MailboxOut, responses={404: {}})
async def update_mailbox(
    number: str, body: MailboxUpdate, store: StoreDep, live: LiveDep, _user: UserDep
) -> MailboxOut:
    await _one(store, number)
    pin = body.pin if "pin" in body.model_fields_set else await _pin_of(store, number)
    async with store.transaction() as s:
        await voicemail_repo.upsert_mailbox(
            s, MailboxRec(number=number, name=body.name, pin=pin, email=tuple(body.email))
        )
    await reload_live(live)
    return await _one(store, number)


@router.delete("/{number}", status_code=204, responses={404: {}, 409: {}})
async def delete_mailbox(number: str, store: StoreDep, live: LiveDep, _user: UserDep) -> Response:
    try:
        async with store.transaction() as s:
            messages = await voicemail_repo.list_voicemail(s, number)
            await voicemail_repo.delete_mailbox(s, number)
    except NotFoundError as exc:
        raise not_found("mailbox", number) from exc
    except ConflictError as exc:
        raise ApiError(409, "mailbox-in-use", str(exc)) from exc
    for msg in messages:  # rows went with the mailbox (cascade); remove their files
        (store.data_dir / msg.file).unlink(missing_ok=True)
    await reload_live(live)
    return Response(status_code=204)


# --------------------------------------------------------------------------- messages


async def _message(store: Store, number: str, message_id: int) -> VoicemailRec:
    await _one(store, number)
    async with store.sessions() as s:
        msg = await voicemail_repo.get_voicemail(s, message_id)
    if msg is None or msg.mailbox != number:
        raise not_found("message", str(message_id))
    return msg


@router.get("/{number}/messages", response_model=list[MessageOut], responses={404: {}})
async def list_messages(number: str, store: StoreDep, _user: UserDep) -> list[MessageOut]:
    await _one(store, number)
    async with store.sessions() as s:
        return [_msg_out(m) for m in await voicemail_repo.list_voicemail(s, number)]


@router.get("/{number}/messages/{message_id}", response_model=MessageOut, responses={404: {}})
async def get_message(
    number: str, message_id: IntId, store: StoreDep, _user: UserDep
) -> MessageOut:
    return _msg_out(await _message(store, number, message_id))


@router.get(
    "/{number}/messages/{message_id}/file",
    response_class=FileResponse,
    responses={200: {"content": {"audio/wav": {}}}, 206: {}, 404: {}},
)
async def message_file(
    number: str, message_id: IntId, store: StoreDep, _user: UserDep
) -> FileResponse:
    msg = await _message(store, number, message_id)
    return wav_response(
        store.data_dir / msg.file, allowed_roots=[store.data_dir], filename=f"message-{msg.id}.wav"
    )


@router.post(
    "/{number}/messages/{message_id}/heard", response_model=MessageOut, responses={404: {}}
)
async def mark_heard(
    number: str,
    message_id: IntId,
    store: StoreDep,
    _user: UserDep,
    body: Annotated[HeardIn | None, Body()] = None,
) -> MessageOut:
    await _message(store, number, message_id)
    async with store.transaction() as s:
        msg = await voicemail_repo.mark_heard(s, message_id, body.heard if body else True)
    return _msg_out(msg)


@router.delete("/{number}/messages/{message_id}", status_code=204, responses={404: {}})
async def delete_message(
    number: str, message_id: IntId, store: StoreDep, _user: UserDep
) -> Response:
    await _message(store, number, message_id)
    async with store.transaction() as s:
        msg = await voicemail_repo.delete_voicemail(s, message_id)
    (store.data_dir / msg.file).unlink(missing_ok=True)
    return Response(status_code=204)

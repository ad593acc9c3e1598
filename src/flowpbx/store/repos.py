"""Repository functions: one small group per table, each taking an `AsyncSession`.

They never commit: the caller owns the transaction (`Store` methods commit once per call;
`config_io.import_config` commits once for the whole document). Rows go out as the frozen
records of `records.py`. Upserts are by natural key (extension number, trunk name, number,
mailbox number, schedule name, audio name, flow name, username) and report whether they
changed anything, so an import can be idempotent.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from flowpbx.media.audiofile import builtin_sample_path
from flowpbx.store import models as m
from flowpbx.store.errors import ConflictError, NotFoundError
from flowpbx.store.records import (
    CallRecord,
    ExtensionRec,
    MailboxRec,
    NumberRec,
    PublishedFlow,
    RegistrationRec,
    ScheduleRec,
    TrunkRec,
    UserRec,
)

_hasher = PasswordHasher()
ROLES = ("admin", "viewer")
SESSION_TTL = dt.timedelta(days=7)


# --------------------------------------------------------------------------- helpers


def compute_ha1(username: str, realm: str, password: str) -> tuple[str, str]:
    """HA1 = H(username ":" realm ":" password) — RFC 3261 §22.4, RFC 7616 §3.4.2.

    Returns (MD5 hex, SHA-256 hex).
    """
    a1 = f"{username}:{realm}:{password}".encode()
    return hashlib.md5(a1).hexdigest(), hashlib.sha256(a1).hexdigest()


def _set(row: Any, values: dict[str, Any]) -> bool:
    changed = False
    for key, value in values.items():
        if getattr(row, key) != value:
            setattr(row, key, value)
            changed = True
    return changed


# --------------------------------------------------------------------------- extensions


def _ext_rec(row: m.Extension) -> ExtensionRec:
    return ExtensionRec(
        number=row.number,
        name=row.name,
        ha1_md5=row.ha1_md5,
        ha1_sha256=row.ha1_sha256,
        supervisor=row.supervisor,
        outbound=row.outbound,
        caller_id=row.caller_id,
        mailbox=row.mailbox,
        allowed_cidrs=tuple(row.allowed_cidrs or ()),
        call_waiting=row.call_waiting,
    )


async def list_extensions(s: AsyncSession) -> list[ExtensionRec]:
    rows = await s.scalars(select(m.Extension).order_by(m.Extension.number))
    return [_ext_rec(r) for r in rows]


async def get_extension(s: AsyncSession, number: str) -> ExtensionRec | None:
    row = await s.scalar(select(m.Extension).where(m.Extension.number == number))
    return _ext_rec(row) if row else None


async def upsert_extension(
    s: AsyncSession,
    *,
    number: str,
    name: str,
    realm: str,
    password: str | None = None,
    supervisor: bool = False,
    outbound: bool = False,
    caller_id: str | None = None,
    mailbox: str | None = None,
    allowed_cidrs: tuple[str, ...] | list[str] = (),
    call_waiting: bool = True,
) -> bool:
    """Create or update extension `number`; returns True if anything changed.

    Without `password` an existing extension keeps its HA1; a new one needs a password
    (ConflictError otherwise).
    """
    row = await s.scalar(select(m.Extension).where(m.Extension.number == number))
    values: dict[str, Any] = {
        "name": name,
        "supervisor": supervisor,
        "outbound": outbound,
        "caller_id": caller_id,
        "mailbox": mailbox,
        "allowed_cidrs": list(allowed_cidrs),
        "call_waiting": call_waiting,
    }
    if password is not None:
        values["ha1_md5"], values["ha1_sha256"] = compute_ha1(number, realm, password)
    if row is None:
        if password is None:
            raise ConflictError(f"extension {number}: a new extension needs a password")
        s.add(m.Extension(number=number, **values))
        return True
    return _set(row, values)


async def delete_extension(s: AsyncSession, number: str) -> None:
    result = await s.execute(delete(m.Extension).where(m.Extension.number == number))
    if not getattr(result, "rowcount", 0):
        raise NotFoundError(f"extension {number} does not exist")


# --------------------------------------------------------------------------- trunks


def _trunk_rec(r: m.Trunk) -> TrunkRec:
    return TrunkRec(
        name=r.name,
        host=r.host,
        port=r.port,
        transport=r.transport,
        username=r.username,
        password=r.password,
        register=r.register,
        from_domain=r.from_domain,
        trusted=r.trusted,
        country_code=r.country_code,
        national_prefix=r.national_prefix,
        max_calls=r.max_calls,
        invite_rate=r.invite_rate,
        tls_verify=r.tls_verify,
        tls_ca_file=r.tls_ca_file,
    )


async def list_trunks(s: AsyncSession) -> list[TrunkRec]:
    rows = await s.scalars(select(m.Trunk).order_by(m.Trunk.name))
    return [_trunk_rec(r) for r in rows]


async def upsert_trunk(s: AsyncSession, rec: TrunkRec) -> bool:
    row = await s.scalar(select(m.Trunk).where(m.Trunk.name == rec.name))
    values = {
        "host": rec.host,
        "port": rec.port,
        "transport": rec.transport,
        "username": rec.username,
        "password": rec.password,
        "register": rec.register,
        "from_domain": rec.from_domain,
        "trusted": rec.trusted,
        "country_code": rec.country_code,
        "national_prefix": rec.national_prefix,
        "max_calls": rec.max_calls,
        "invite_rate": rec.invite_rate,
        "tls_verify": rec.tls_verify,
        "tls_ca_file": rec.tls_ca_file,
    }
    if row is None:
        s.add(m.Trunk(name=rec.name, **values))
        await s.flush()
        return True
    return _set(row, values)


# --------------------------------------------------------------------------- numbers


async def list_numbers(s: AsyncSession) -> list[NumberRec]:
    rows = await s.scalars(select(m.Number).order_by(m.Number.position, m.Number.number))
    return [NumberRec(number=r.number, trunk=r.trunk, position=r.position) for r in rows]


async def upsert_number(s: AsyncSession, rec: NumberRec) -> bool:
    row = await s.scalar(select(m.Number).where(m.Number.number == rec.number))
    if row is None:
        s.add(m.Number(number=rec.number, trunk=rec.trunk, position=rec.position))
        return True
    return _set(row, {"trunk": rec.trunk, "position": rec.position})


# --------------------------------------------------------------------------- mailboxes, schedules


async def list_mailboxes(s: AsyncSession) -> list[MailboxRec]:
    rows = await s.scalars(select(m.Mailbox).order_by(m.Mailbox.number))
    return [
        MailboxRec(number=r.number, name=r.name, pin=r.pin, email=tuple(r.email or ()))
        for r in rows
    ]


async def upsert_mailbox(s: AsyncSession, rec: MailboxRec) -> bool:
    row = await s.scalar(select(m.Mailbox).where(m.Mailbox.number == rec.number))
    values = {"name": rec.name, "pin": rec.pin, "email": list(rec.email)}
    if row is None:
        s.add(m.Mailbox(number=rec.number, **values))
        return True
    return _set(row, values)


async def list_schedules(s: AsyncSession) -> list[ScheduleRec]:
    rows = await s.scalars(select(m.Schedule).order_by(m.Schedule.name))
    return [
        ScheduleRec(name=r.name, timezone=r.timezone, hours=r.hours, holidays=r.holidays)
        for r in rows
    ]


async def upsert_schedule(s: AsyncSession, rec: ScheduleRec) -> bool:
    row = await s.scalar(select(m.Schedule).where(m.Schedule.name == rec.name))
    values = {"timezone": rec.timezone, "hours": rec.hours, "holidays": rec.holidays}
    if row is None:
        s.add(m.Schedule(name=rec.name, **values))
        return True
    return _set(row, values)


# --------------------------------------------------------------------------- audio


async def list_audio_rows(s: AsyncSession) -> Sequence[m.Audio]:
    return (await s.scalars(select(m.Audio).order_by(m.Audio.name))).all()


async def upsert_audio(
    s: AsyncSession, *, name: str, file: str, duration_s: float, builtin: bool = False
) -> bool:
    row = await s.scalar(select(m.Audio).where(m.Audio.name == name))
    values = {"file": file, "duration_s": duration_s, "builtin": builtin}
    if row is None:
        s.add(m.Audio(name=name, **values))
        return True
    return _set(row, values)


def audio_path(row: m.Audio, data_dir: Path) -> Path:
    """Absolute path of an audio row's WAV; built-ins live in the package."""
    if row.builtin or not row.file:
        return Path(builtin_sample_path(row.name)).resolve()
    return (data_dir / row.file).resolve()


# --------------------------------------------------------------------------- flows


async def list_flow_rows(s: AsyncSession) -> Sequence[m.Flow]:
    return (await s.scalars(select(m.Flow).order_by(m.Flow.name))).all()


async def get_flow_row(s: AsyncSession, name: str) -> m.Flow | None:
    return await s.scalar(select(m.Flow).where(m.Flow.name == name))


async def save_draft(s: AsyncSession, name: str, document: dict[str, Any]) -> bool:
    row = await get_flow_row(s, name)
    if row is None:
        s.add(m.Flow(name=name, draft=document))
        await s.flush()
        return True
    return _set(row, {"draft": document})


async def published_revision(s: AsyncSession, flow: m.Flow) -> m.FlowRevision | None:
    if flow.published_revision_id is None:
        return None
    return await s.get(m.FlowRevision, flow.published_revision_id)


async def publish_flow(s: AsyncSession, name: str, *, author: str, message: str = "") -> int:
    """Publish the draft of flow `name` as a new immutable revision; returns its number.

    If the published revision already holds exactly the draft, nothing is written and its
    number is returned (an unchanged flow gets no new revision).
    """
    flow = await get_flow_row(s, name)
    if flow is None:
        raise NotFoundError(f"flow {name!r} does not exist")
    current = await published_revision(s, flow)
    if current is not None and current.document == flow.draft:
        return current.number
    last = await s.scalar(
        select(func.max(m.FlowRevision.number)).where(m.FlowRevision.flow_id == flow.id)
    )
    rev = m.FlowRevision(
        flow_id=flow.id,
        number=(last or 0) + 1,
        document=flow.draft,
        author=author,
        message=message,
    )
    s.add(rev)
    await s.flush()
    flow.published_revision_id = rev.id
    return rev.number


async def list_revisions(s: AsyncSession, name: str) -> Sequence[m.FlowRevision]:
    flow = await get_flow_row(s, name)
    if flow is None:
        raise NotFoundError(f"flow {name!r} does not exist")
    stmt = (
        select(m.FlowRevision)
        .where(m.FlowRevision.flow_id == flow.id)
        .order_by(m.FlowRevision.number)
    )
    return (await s.scalars(stmt)).all()


def flow_dids(document: dict[str, Any]) -> list[str]:
    """The DIDs a flow document claims: `numbers` of its `numbers` element(s) (SPEC §3)."""
    dids: list[str] = []
    nodes = document.get("nodes")
    if not isinstance(nodes, dict):
        return dids
    for node in nodes.values():
        if isinstance(node, dict) and node.get("type") == "numbers":
            params = node.get("params") or {}
            for did in params.get("numbers") or ():
                if isinstance(did, str) and did not in dids:
                    dids.append(did)
    return dids


async def list_published(s: AsyncSession) -> list[PublishedFlow]:
    stmt = (
        select(m.Flow.name, m.FlowRevision.number, m.FlowRevision.document)
        .join(m.FlowRevision, m.Flow.published_revision_id == m.FlowRevision.id)
        .order_by(m.Flow.name)
    )
    return [
        PublishedFlow(flow_name=name, revision=number, document=doc)
        for name, number, doc in (await s.execute(stmt)).all()
    ]


# --------------------------------------------------------------------------- registrations


def _reg_rec(r: m.Registration) -> RegistrationRec:
    return RegistrationRec(
        extension=r.extension,
        contact=r.contact,
        source=r.source,
        transport=r.transport,
        expires_at=r.expires_at,
        user_agent=r.user_agent,
        call_id=r.call_id,
        cseq=r.cseq,
    )


async def save_registration(s: AsyncSession, reg: RegistrationRec) -> None:
    """Upsert a binding by (extension, contact) — RFC 3261 §10.3 step 8."""
    row = await s.scalar(
        select(m.Registration).where(
            m.Registration.extension == reg.extension, m.Registration.contact == reg.contact
        )
    )
    values = {
        "source": reg.source,
        "transport": reg.transport,
        "expires_at": reg.expires_at,
        "user_agent": reg.user_agent,
        "call_id": reg.call_id,
        "cseq": reg.cseq,
    }
    if row is None:
        s.add(m.Registration(extension=reg.extension, contact=reg.contact, **values))
    else:
        _set(row, values)


async def delete_registration(s: AsyncSession, extension: str, contact: str) -> None:
    await s.execute(
        delete(m.Registration).where(
            m.Registration.extension == extension, m.Registration.contact == contact
        )
    )


async def load_registrations(
    s: AsyncSession, now: dt.datetime, extension: str | None = None
) -> list[RegistrationRec]:
    stmt = select(m.Registration).where(m.Registration.expires_at > now)
    if extension is not None:
        stmt = stmt.where(m.Registration.extension == extension)
    rows = await s.scalars(stmt.order_by(m.Registration.extension, m.Registration.id))
    return [_reg_rec(r) for r in rows]


async def purge_registrations(s: AsyncSession, now: dt.datetime) -> None:
    await s.execute(delete(m.Registration).where(m.Registration.expires_at <= now))


# --------------------------------------------------------------------------- call history


def _call_rec(r: m.CallHistory) -> CallRecord:
    return CallRecord(
        id=r.id,
        call_id=r.call_id,
        started_at=r.started_at,
        answered_at=r.answered_at,
        ended_at=r.ended_at,
        caller=r.caller,
        caller_name=r.caller_name,
        did=r.did,
        flow=r.flow,
        revision=r.revision,
        answered_by=r.answered_by,
        outcome=r.outcome,
        trace=list(r.trace or []),
    )


IN_PROGRESS = "in_progress"  # a call's row while it runs; `interrupted` if a crash cut it


async def add_call_history(s: AsyncSession, rec: CallRecord) -> int:
    if rec.outcome != IN_PROGRESS:  # the final row of a call replaces its in-progress row
        started = await s.scalar(
            select(m.CallHistory)
            .where(m.CallHistory.call_id == rec.call_id, m.CallHistory.outcome == IN_PROGRESS)
            .limit(1)
        )
        if started is not None:
            for name in ("answered_at", "ended_at", "caller", "caller_name", "did", "flow"):
                setattr(started, name, getattr(rec, name))
            started.revision, started.answered_by = rec.revision, rec.answered_by
            started.outcome, started.trace = rec.outcome, list(rec.trace)
            await s.flush()
            return started.id
    row = m.CallHistory(
        call_id=rec.call_id,
        started_at=rec.started_at,
        answered_at=rec.answered_at,
        ended_at=rec.ended_at,
        caller=rec.caller,
        caller_name=rec.caller_name,
        did=rec.did,
        flow=rec.flow,
        revision=rec.revision,
        answered_by=rec.answered_by,
        outcome=rec.outcome,
        trace=list(rec.trace),
    )
    s.add(row)
    await s.flush()
    return row.id


async def close_interrupted_calls(s: AsyncSession, now: dt.datetime) -> int:
    """Rows still `in_progress` (their process died mid-call) become `interrupted`."""
    result = await s.execute(
        update(m.CallHistory)
        .where(m.CallHistory.outcome == IN_PROGRESS)
        .values(outcome="interrupted", ended_at=now)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def list_call_history(
    s: AsyncSession,
    *,
    limit: int = 50,
    offset: int = 0,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    number: str | None = None,
    extension: str | None = None,
    outcome: str | None = None,
) -> list[CallRecord]:
    """Newest first. `number` matches caller or DID; `extension` the one who answered."""
    from sqlalchemy import or_

    stmt = select(m.CallHistory)
    if since is not None:
        stmt = stmt.where(m.CallHistory.started_at >= since)
    if until is not None:
        stmt = stmt.where(m.CallHistory.started_at < until)
    if number is not None:
        stmt = stmt.where(or_(m.CallHistory.caller == number, m.CallHistory.did == number))
    if extension is not None:
        stmt = stmt.where(m.CallHistory.answered_by == extension)
    if outcome is not None:
        stmt = stmt.where(m.CallHistory.outcome == outcome)
    stmt = stmt.order_by(m.CallHistory.started_at.desc(), m.CallHistory.id.desc())
    rows = await s.scalars(stmt.limit(limit).offset(offset))
    return [_call_rec(r) for r in rows]


async def get_call_history(s: AsyncSession, call_pk: int) -> CallRecord | None:
    row = await s.get(m.CallHistory, call_pk)
    return _call_rec(row) if row else None


# --------------------------------------------------------------------------- users and tokens


def _user_rec(r: m.User) -> UserRec:
    return UserRec(id=r.id, username=r.username, role=r.role)


async def create_user(
    s: AsyncSession, username: str, password: str, role: str, *, replace: bool = False
) -> UserRec:
    """Create a web user (argon2id hash). With replace=True an existing user is updated."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    row = await s.scalar(select(m.User).where(m.User.username == username))
    if row is not None and not replace:
        raise ConflictError(f"user {username!r} already exists")
    if row is None:
        row = m.User(username=username, password_hash=_hasher.hash(password), role=role)
        s.add(row)
    else:
        row.role = role
        if not _verify(row.password_hash, password):
            row.password_hash = _hasher.hash(password)
    await s.flush()
    return _user_rec(row)


def _verify(hash_: str, password: str) -> bool:
    try:
        return _hasher.verify(hash_, password)
    except (VerificationError, InvalidHashError):
        return False


async def authenticate(s: AsyncSession, username: str, password: str) -> UserRec | None:
    """Check a web login. The argon2 work (deliberately slow) runs in a worker thread."""
    row = await s.scalar(select(m.User).where(m.User.username == username))
    if row is None:
        # same cost for unknown users (no enumeration)
        await asyncio.to_thread(_verify, _DUMMY_HASH, password)
        return None
    rec, hash_ = _user_rec(row), row.password_hash
    return rec if await asyncio.to_thread(_verify, hash_, password) else None


_DUMMY_HASH = _hasher.hash("flowpbx-dummy-password")


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def issue_token(
    s: AsyncSession, user_id: int, now: dt.datetime, *, kind: str = "session"
) -> str:
    token = secrets.token_urlsafe(32)
    expires = now + SESSION_TTL if kind == "session" else None
    s.add(
        m.AuthToken(
            token_sha256=_token_digest(token),
            user_id=user_id,
            kind=kind,
            created_at=now,
            expires_at=expires,
        )
    )
    await s.flush()
    return token


async def user_for_token(s: AsyncSession, token: str, now: dt.datetime) -> UserRec | None:
    stmt = (
        select(m.User, m.AuthToken.expires_at)
        .join(m.AuthToken, m.AuthToken.user_id == m.User.id)
        .where(m.AuthToken.token_sha256 == _token_digest(token))
    )
    found = (await s.execute(stmt)).first()
    if found is None:
        return None
    user, expires = found
    if expires is not None and expires <= now:
        return None
    return _user_rec(user)


async def revoke_token(s: AsyncSession, token: str) -> None:
    await s.execute(delete(m.AuthToken).where(m.AuthToken.token_sha256 == _token_digest(token)))


# --------------------------------------------------------------------------- settings


async def get_setting(s: AsyncSession, key: str, default: Any = None) -> Any:
    row = await s.get(m.Setting, key)
    return default if row is None else row.value


async def set_setting(s: AsyncSession, key: str, value: Any) -> None:
    row = await s.get(m.Setting, key)
    if row is None:
        s.add(m.Setting(key=key, value=value))
    else:
        row.value = value

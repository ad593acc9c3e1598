"""Extensions (table ``extensions``): phones and their SIP digest credentials."""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from flowpbx.store import models as m
from flowpbx.store.errors import ConflictError, NotFoundError
from flowpbx.store.records import ExtensionRec
from flowpbx.store.repos.rows import update_row


def compute_ha1(username: str, realm: str, password: str) -> tuple[str, str]:
    """HA1 = H(username ":" realm ":" password) — RFC 3261 §22.4, RFC 7616 §3.4.2.

    Returns (MD5 hex, SHA-256 hex).
    """
    a1 = f"{username}:{realm}:{password}".encode()
    return hashlib.md5(a1).hexdigest(), hashlib.sha256(a1).hexdigest()


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
        media_encryption=row.media_encryption or "none",
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
    media_encryption: str = "none",
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
        "media_encryption": media_encryption,
    }
    if password is not None:
        values["ha1_md5"], values["ha1_sha256"] = compute_ha1(number, realm, password)
    if row is None:
        if password is None:
            raise ConflictError(f"extension {number}: a new extension needs a password")
        s.add(m.Extension(number=number, **values))
        return True
    return update_row(row, values)


async def delete_extension(s: AsyncSession, number: str) -> None:
    result = await s.execute(delete(m.Extension).where(m.Extension.number == number))
    if not getattr(result, "rowcount", 0):
        raise NotFoundError(f"extension {number} does not exist")

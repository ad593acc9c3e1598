"""Phone registrations (table ``registrations``): the bindings of the registrar
(RFC 3261 §10), kept so a restart finds its phones again."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from flowpbx.store import models as m
from flowpbx.store.records import RegistrationRec
from flowpbx.store.repos.rows import update_row


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
        update_row(row, values)


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

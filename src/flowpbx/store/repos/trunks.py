"""SIP trunks (table ``trunks``), by name; a trunk that numbers use cannot be deleted."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from flowpbx.store import models as m
from flowpbx.store.errors import ConflictError
from flowpbx.store.records import TrunkRec
from flowpbx.store.repos.rows import delete_by, update_row


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
        media_encryption=r.media_encryption or "none",
        tls_verify=r.tls_verify,
        tls_ca_file=r.tls_ca_file,
        dial_format=r.dial_format,
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
        "media_encryption": rec.media_encryption,
        "tls_verify": rec.tls_verify,
        "tls_ca_file": rec.tls_ca_file,
        "dial_format": rec.dial_format,
    }
    if row is None:
        s.add(m.Trunk(name=rec.name, **values))
        await s.flush()
        return True
    return update_row(row, values)


async def delete_trunk(s: AsyncSession, name: str) -> None:
    used = (await s.scalars(select(m.Number.number).where(m.Number.trunk == name))).all()
    if used:
        raise ConflictError(f"trunk {name!r} is used by numbers {', '.join(used)}")
    await delete_by(s, m.Trunk, m.Trunk.name, name, "trunk")

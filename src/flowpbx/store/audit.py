"""The audit log: who changed what in the configuration, and when (table ``audit_log``).

Entries are write-once. Every change through the API is recorded by `api/audit.py` (actor =
the signed-in user), every change through the command line by `cli.py` (actor ``"cli"``).
`scrub` keeps secrets out: any key that names a password, secret, PIN, token, HA1 or
credential has its value replaced by ``"***"``, at any depth, and long values are cut, so
what lands here is safe to show to every admin.

Like the repositories (`store/repos/`), the functions taking a session never commit;
`record_change` opens its own transaction on a `Store` for callers that have none.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from flowpbx.store import models as m

if TYPE_CHECKING:
    from flowpbx.store.db import Store

__all__ = ["AuditRec", "list_entries", "record", "record_change", "scrub"]

SECRET_KEY = re.compile(
    r"pass(word|wd)?|secret|pin$|^pin|token|ha1|credential|authorization|cookie|api_?key",
    re.IGNORECASE,
)
REDACTED = "***"
MAX_TEXT = 500  # characters kept of one string value
MAX_ITEMS = 50  # entries kept of one list or mapping
MAX_DEPTH = 6


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditRec:
    id: int
    at: dt.datetime
    actor: str
    action: str
    entity: str
    key: str
    details: dict[str, Any]


def scrub(value: Any, depth: int = 0) -> Any:
    """A copy of ``value`` (JSON-like) without secrets and cut to a bounded size."""
    if isinstance(value, dict):
        if depth >= MAX_DEPTH:
            return "…"
        out: dict[str, Any] = {}
        for i, (k, v) in enumerate(value.items()):
            if i >= MAX_ITEMS:
                out["…"] = f"{len(value) - MAX_ITEMS} more"
                break
            key = str(k)
            out[key] = REDACTED if SECRET_KEY.search(key) else scrub(v, depth + 1)
        return out
    if isinstance(value, list | tuple):
        if depth >= MAX_DEPTH:
            return "…"
        items = [scrub(v, depth + 1) for v in value[:MAX_ITEMS]]
        if len(value) > MAX_ITEMS:
            items.append(f"… {len(value) - MAX_ITEMS} more")
        return items
    if isinstance(value, str) and len(value) > MAX_TEXT:
        return value[:MAX_TEXT] + "…"
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)[:MAX_TEXT]


def _rec(row: m.AuditEntry) -> AuditRec:
    return AuditRec(
        id=row.id,
        at=row.at,
        actor=row.actor,
        action=row.action,
        entity=row.entity,
        key=row.key or "",
        details=dict(row.details or {}),
    )


async def record(
    s: AsyncSession,
    *,
    actor: str,
    action: str,
    entity: str,
    key: str = "",
    details: dict[str, Any] | None = None,
    at: dt.datetime | None = None,
) -> None:
    """Add one entry (scrubbed) to the caller's transaction."""
    s.add(
        m.AuditEntry(
            at=at or dt.datetime.now(dt.UTC),
            actor=actor[:100],
            action=action[:32],
            entity=entity[:50],
            key=key[:200],
            details=scrub(details or {}),
        )
    )


async def record_change(
    store: Store,
    *,
    actor: str,
    action: str,
    entity: str,
    key: str = "",
    details: dict[str, Any] | None = None,
) -> None:
    """`record` in a transaction of its own."""
    async with store.transaction() as s:
        await record(s, actor=actor, action=action, entity=entity, key=key, details=details)


async def list_entries(
    s: AsyncSession,
    *,
    entity: str | None = None,
    actor: str | None = None,
    since: dt.datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[AuditRec], int]:
    """Newest first: (one page of entries, how many match in all)."""
    stmt = select(m.AuditEntry)
    count = select(func.count(m.AuditEntry.id))
    if entity:
        stmt = stmt.where(m.AuditEntry.entity == entity)
        count = count.where(m.AuditEntry.entity == entity)
    if actor:
        stmt = stmt.where(m.AuditEntry.actor == actor)
        count = count.where(m.AuditEntry.actor == actor)
    if since is not None:
        stmt = stmt.where(m.AuditEntry.at >= since)
        count = count.where(m.AuditEntry.at >= since)
    stmt = stmt.order_by(m.AuditEntry.at.desc(), m.AuditEntry.id.desc()).limit(limit).offset(offset)
    rows = (await s.scalars(stmt)).all()
    total = int(await s.scalar(count) or 0)
    return [_rec(r) for r in rows], total

"""Web sessions that expire: after ``session_idle_minutes`` without a request and, whatever
happens, ``session_max_hours`` after login (both installation settings, table ``settings``).

A session token's ``expires_at`` is its idle deadline: each request that uses the session
moves it forward to ``now + idle`` (but never past ``created_at + max``), writing only when
it moves by more than a minute, so a busy page costs one UPDATE a minute, not one a
request. A session found past either deadline is deleted. API tokens (kind ``api``) do not
expire this way. Nothing here commits except through the caller's transaction.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from flowpbx.store import models as m
from flowpbx.store.records import UserRec
from flowpbx.store.repos.users import token_digest, user_rec

__all__ = [
    "DEFAULT_IDLE_MINUTES",
    "DEFAULT_MAX_HOURS",
    "session_limits",
    "start_session",
    "touch_session",
]

DEFAULT_IDLE_MINUTES = 120
DEFAULT_MAX_HOURS = 24
IDLE_KEY = "session_idle_minutes"
MAX_KEY = "session_max_hours"
SLACK = dt.timedelta(minutes=1)


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


async def session_limits(s: AsyncSession) -> tuple[dt.timedelta, dt.timedelta]:
    """(idle timeout, absolute lifetime) from the settings, defaults when unset or bad."""
    stmt = select(m.Setting.key, m.Setting.value).where(m.Setting.key.in_((IDLE_KEY, MAX_KEY)))
    rows: dict[str, Any] = {k: v for k, v in (await s.execute(stmt)).all()}
    idle, most = rows.get(IDLE_KEY), rows.get(MAX_KEY)
    idle_min = idle if isinstance(idle, int) and idle > 0 else DEFAULT_IDLE_MINUTES
    max_h = most if isinstance(most, int) and most > 0 else DEFAULT_MAX_HOURS
    return dt.timedelta(minutes=idle_min), dt.timedelta(hours=max_h)


async def start_session(s: AsyncSession, token: str, now: dt.datetime) -> dt.timedelta:
    """Set a freshly issued session's deadlines; returns its absolute lifetime (for the
    cookie's Max-Age)."""
    idle, most = await session_limits(s)
    row = await s.scalar(select(m.AuthToken).where(m.AuthToken.token_sha256 == token_digest(token)))
    if row is not None and row.kind == "session":
        row.created_at = now
        row.expires_at = now + min(idle, most)
    return most


async def touch_session(s: AsyncSession, token: str, now: dt.datetime) -> UserRec | None:
    """The user of ``token`` when it is valid now (moving a session's idle deadline), or
    None — an expired session is deleted on the way."""
    found = (
        await s.execute(
            select(m.User, m.AuthToken)
            .join(m.AuthToken, m.AuthToken.user_id == m.User.id)
            .where(m.AuthToken.token_sha256 == token_digest(token))
        )
    ).first()
    if found is None:
        return None
    user, row = found
    if row.kind != "session":
        if row.expires_at is not None and _aware(row.expires_at) <= now:
            return None
        return user_rec(user)
    idle, most = await session_limits(s)
    hard = _aware(row.created_at) + most
    deadline = min(_aware(row.expires_at), hard) if row.expires_at is not None else hard
    if now >= deadline:
        await s.execute(delete(m.AuthToken).where(m.AuthToken.id == row.id))
        return None
    moved = min(now + idle, hard)
    if row.expires_at is None or abs(moved - _aware(row.expires_at)) > SLACK:
        row.expires_at = moved
    return user_rec(user)

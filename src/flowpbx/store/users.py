"""Repository functions for web UI users beyond login: list, add, delete, reset a password.

Checking a login lives in `repos.py` (`authenticate`); `repos.create_user` is what the
command line uses. Here the argon2id hashing (deliberately slow) runs in a worker thread,
since these are called from the API on the PBX's event loop. The rules that keep the PBX
administrable are enforced inside the caller's transaction: nobody deletes themselves,
and the last admin cannot be deleted. Deleting a user ends its sessions and API tokens; a
password reset ends its sessions (but the one changing its own password) and keeps its API
tokens. Like `repos.py`, nothing here
commits.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from flowpbx.store import models as m
from flowpbx.store import repos
from flowpbx.store.errors import ConflictError, NotFoundError
from flowpbx.store.records import UserRec

__all__ = [
    "MIN_PASSWORD_LENGTH",
    "UserInfo",
    "add_user",
    "delete_user",
    "list_users",
    "password_problem",
    "reset_password",
]

# Password policy for web users (SPEC §7): long enough, and not the user name. The API and
# the command line both ask `password_problem`.
MIN_PASSWORD_LENGTH = 10


def password_problem(username: str, password: str) -> str | None:
    """What is wrong with `password` for `username` under the policy, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"must be at least {MIN_PASSWORD_LENGTH} characters"
    if password.strip().casefold() in (username.strip().casefold(), username[::-1].casefold()):
        return "must not be the user name"
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class UserInfo:
    """A web user as the users page lists it (never the password hash)."""

    username: str
    role: str
    created_at: dt.datetime | None


async def _hash(password: str) -> str:
    # repos' hasher, looked up at call time: one set of argon2 parameters for every user
    return await asyncio.to_thread(repos._hasher.hash, password)


def _info(r: m.User) -> UserInfo:
    return UserInfo(username=r.username, role=r.role, created_at=r.created_at)


async def add_user(s: AsyncSession, username: str, password: str, role: str) -> UserInfo:
    """Create a web user. ValueError for an unknown role, ConflictError when taken."""
    if role not in repos.ROLES:
        raise ValueError(f"role must be one of {', '.join(repos.ROLES)}, not {role!r}")
    if await s.scalar(select(m.User.id).where(m.User.username == username)) is not None:
        raise ConflictError(f"user {username!r} already exists")
    row = m.User(username=username, password_hash=await _hash(password), role=role)
    s.add(row)
    await s.flush()
    return _info(row)


async def list_users(s: AsyncSession) -> list[UserInfo]:
    rows = await s.scalars(select(m.User).order_by(m.User.username))
    return [_info(r) for r in rows]


async def _row(s: AsyncSession, username: str) -> m.User:
    row = await s.scalar(select(m.User).where(m.User.username == username))
    if row is None:
        raise NotFoundError(f"user {username!r} does not exist")
    return row


async def delete_user(s: AsyncSession, username: str, *, acting: UserRec) -> None:
    """Delete `username` and its sessions and tokens. ConflictError for oneself or the last
    admin; NotFoundError when there is no such user."""
    row = await _row(s, username)
    if row.id == acting.id:
        raise ConflictError("you cannot delete the user you are signed in as")
    last = ConflictError("the last admin cannot be deleted")
    if row.role == "admin":
        # lock the admins' rows (PostgreSQL): two admins deleting each other at once wait
        # for one another here
        admins = (
            await s.scalars(select(m.User.id).where(m.User.role == "admin").with_for_update())
        ).all()
        if len(admins) <= 1:
            raise last
    await s.execute(delete(m.AuthToken).where(m.AuthToken.user_id == row.id))
    await s.delete(row)
    await s.flush()
    if row.role == "admin":
        # SQLite has no row locks and reads outside the write lock: count again now that
        # this transaction holds it; the caller's rollback undoes the deletion
        left = await s.scalar(
            select(func.count()).select_from(m.User).where(m.User.role == "admin")
        )
        if not left:
            raise last


async def reset_password(
    s: AsyncSession, username: str, password: str, *, keep_session: str | None = None
) -> UserInfo:
    """Set a new password (argon2id, as at creation) and end the user's login sessions —
    all but `keep_session` (the session token someone changing their own password uses:
    they stay signed in there, a session stolen elsewhere ends). API tokens are kept.
    NotFoundError when there is no such user."""
    row = await _row(s, username)
    row.password_hash = await _hash(password)
    ended = delete(m.AuthToken).where(m.AuthToken.user_id == row.id, m.AuthToken.kind == "session")
    if keep_session is not None:
        ended = ended.where(m.AuthToken.token_sha256 != repos._token_digest(keep_session))
    await s.execute(ended)
    await s.flush()
    return _info(row)

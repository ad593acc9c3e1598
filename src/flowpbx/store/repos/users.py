"""Web users (tables ``users`` and ``auth_tokens``): accounts, logins and bearer tokens.

Passwords are argon2id hashes; the hashing (deliberately slow) runs in a worker thread, since
the API calls these on the PBX's event loop. The rules that keep the PBX administrable are
enforced inside the caller's transaction: nobody deletes themselves, and the last admin
cannot be deleted. Deleting a user ends its sessions and API tokens; a password reset ends
its sessions (but the one changing its own password) and keeps its API tokens.

A token is stored as its SHA-256 only and shown once: login sessions (kind ``session``,
expiry in `store/sessions.py`) and named API tokens that never expire (kind ``api``).
`create_user` is what the command line uses, `add_user` what the users page uses."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from flowpbx.store import models as m
from flowpbx.store.errors import ConflictError, NotFoundError
from flowpbx.store.records import ApiTokenRec, UserRec

__all__ = [
    "MIN_PASSWORD_LENGTH",
    "ROLES",
    "UserInfo",
    "add_user",
    "authenticate",
    "create_user",
    "delete_user",
    "issue_api_token",
    "issue_token",
    "list_api_tokens",
    "list_users",
    "password_problem",
    "reset_password",
    "revoke_api_token",
    "revoke_token",
    "token_digest",
    "user_for_token",
    "user_rec",
]

_hasher = PasswordHasher()
ROLES = ("admin", "viewer")
SESSION_TTL = dt.timedelta(days=7)


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


def user_rec(r: m.User) -> UserRec:
    return UserRec(id=r.id, username=r.username, role=r.role)


def _info(r: m.User) -> UserInfo:
    return UserInfo(username=r.username, role=r.role, created_at=r.created_at)


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
    return user_rec(row)


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
    rec, hash_ = user_rec(row), row.password_hash
    return rec if await asyncio.to_thread(_verify, hash_, password) else None


_DUMMY_HASH = _hasher.hash("flowpbx-dummy-password")


async def _hash(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


async def add_user(s: AsyncSession, username: str, password: str, role: str) -> UserInfo:
    """Create a web user. ValueError for an unknown role, ConflictError when taken."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
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
        ended = ended.where(m.AuthToken.token_sha256 != token_digest(keep_session))
    await s.execute(ended)
    await s.flush()
    return _info(row)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def issue_token(
    s: AsyncSession, user_id: int, now: dt.datetime, *, kind: str = "session"
) -> str:
    token = secrets.token_urlsafe(32)
    expires = now + SESSION_TTL if kind == "session" else None
    s.add(
        m.AuthToken(
            token_sha256=token_digest(token),
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
        .where(m.AuthToken.token_sha256 == token_digest(token))
    )
    found = (await s.execute(stmt)).first()
    if found is None:
        return None
    user, expires = found
    if expires is not None and expires <= now:
        return None
    return user_rec(user)


async def revoke_token(s: AsyncSession, token: str) -> None:
    await s.execute(delete(m.AuthToken).where(m.AuthToken.token_sha256 == token_digest(token)))


async def list_api_tokens(s: AsyncSession, user_id: int) -> list[ApiTokenRec]:
    stmt = (
        select(m.AuthToken)
        .where(m.AuthToken.user_id == user_id, m.AuthToken.kind == "api")
        .order_by(m.AuthToken.id)
    )
    return [
        ApiTokenRec(id=r.id, name=r.name or "", created_at=r.created_at)
        for r in await s.scalars(stmt)
    ]


async def revoke_api_token(s: AsyncSession, user_id: int, token_id: int) -> None:
    result = await s.execute(
        delete(m.AuthToken).where(
            m.AuthToken.id == token_id,
            m.AuthToken.user_id == user_id,
            m.AuthToken.kind == "api",
        )
    )
    if not getattr(result, "rowcount", 0):
        raise NotFoundError(f"token {token_id} does not exist")


async def issue_api_token(
    s: AsyncSession, user_id: int, name: str, now: dt.datetime
) -> tuple[ApiTokenRec, str]:
    """A new never-expiring API token; returns its record and the token (shown once)."""
    token = secrets.token_urlsafe(32)
    row = m.AuthToken(
        token_sha256=token_digest(token),
        user_id=user_id,
        kind="api",
        name=name,
        created_at=now,
        expires_at=None,
    )
    s.add(row)
    await s.flush()
    return ApiTokenRec(id=row.id, name=name, created_at=now), token

"""Request dependencies: the store, the live PBX, and the authenticated user.

A request is authenticated by `Authorization: Bearer TOKEN` or by the session cookie set
at login (SPEC §6); everything except login and health needs one. `current_user` also
enforces the two rules every write shares:

- roles: a `viewer` may only read; any other method answers 403 `admin-only`;
- CSRF: a write authenticated by the *cookie* must carry `X-CSRF-Token` equal to the
  `flowpbx_csrf` cookie (double submit); bearer requests need no such header.
"""

from __future__ import annotations

import datetime as dt
import hmac
from typing import Annotated

from fastapi import Depends, Path, Request

from flowpbx.api.errors import ApiError
from flowpbx.api.live import LiveService
from flowpbx.settings import Settings
from flowpbx.store.db import Store
from flowpbx.store.records import UserRec
from flowpbx.store.sessions import touch_session

SESSION_COOKIE = "flowpbx_session"
CSRF_COOKIE = "flowpbx_csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def get_process_settings(request: Request) -> Settings:
    """The process's `Settings` (FLOWPBX_* environment, read once by `Settings.from_env`)."""
    settings: Settings = request.app.state.settings
    return settings


def get_live(request: Request) -> LiveService | None:
    live: LiveService | None = request.app.state.live
    return live


def bearer_token(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def request_token(request: Request) -> str | None:
    return bearer_token(request) or request.cookies.get(SESSION_COOKIE) or None


def _check_csrf(request: Request) -> None:
    cookie = request.cookies.get(CSRF_COOKIE, "")
    header = request.headers.get(CSRF_HEADER, "")
    if not cookie or not header or not hmac.compare_digest(cookie, header):
        raise ApiError(
            403,
            "csrf-failed",
            "a cookie-authenticated write needs the X-CSRF-Token header "
            "(the value of the flowpbx_csrf cookie)",
        )


async def current_user(request: Request, store: Annotated[Store, Depends(get_store)]) -> UserRec:
    bearer = bearer_token(request)
    token = bearer or request.cookies.get(SESSION_COOKIE) or None
    user = None
    if token:  # store/sessions.py: idle and absolute session expiry
        async with store.transaction() as s:
            user = await touch_session(s, token, dt.datetime.now(dt.UTC))
    if user is None:
        raise ApiError(
            401,
            "unauthorized",
            "log in first: POST /api/v1/auth/login, then send the token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    request.state.user = user  # for the audit trail (api/audit.py)
    if request.method not in SAFE_METHODS:
        if bearer is None:
            _check_csrf(request)
        if user.role != "admin" and not request.url.path.startswith("/api/v1/auth/"):
            raise ApiError(403, "admin-only", "this needs an admin user (viewers only read)")
    return user


async def admin_user(user: Annotated[UserRec, Depends(current_user)]) -> UserRec:
    if user.role != "admin":
        raise ApiError(403, "admin-only", "this needs an admin user")
    return user


StoreDep = Annotated[Store, Depends(get_store)]
LiveDep = Annotated[LiveService | None, Depends(get_live)]
SettingsDep = Annotated[Settings, Depends(get_process_settings)]
UserDep = Annotated[UserRec, Depends(current_user)]
AdminDep = Annotated[UserRec, Depends(admin_user)]
IntId = Annotated[int, Path(ge=1, le=2_147_483_647)]  # fits every database's integer

"""Request dependencies: the store, the live PBX, and the authenticated user.

A request is authenticated by `Authorization: Bearer TOKEN` or by the session cookie set
at login (SPEC §6); everything except login and health needs one.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from flowpbx.api.errors import ApiError
from flowpbx.api.live import LiveService
from flowpbx.store.db import Store
from flowpbx.store.records import UserRec

SESSION_COOKIE = "flowpbx_session"


def get_store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def get_live(request: Request) -> LiveService | None:
    live: LiveService | None = request.app.state.live
    return live


def request_token(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.cookies.get(SESSION_COOKIE) or None


async def current_user(request: Request, store: Annotated[Store, Depends(get_store)]) -> UserRec:
    token = request_token(request)
    user = await store.user_for_token(token) if token else None
    if user is None:
        raise ApiError(
            401,
            "unauthorized",
            "log in first: POST /api/v1/auth/login, then send the token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return user


async def admin_user(user: Annotated[UserRec, Depends(current_user)]) -> UserRec:
    if user.role != "admin":
        raise ApiError(403, "admin-only", "this needs an admin user")
    return user


StoreDep = Annotated[Store, Depends(get_store)]
LiveDep = Annotated[LiveService | None, Depends(get_live)]
UserDep = Annotated[UserRec, Depends(current_user)]
AdminDep = Annotated[UserRec, Depends(admin_user)]

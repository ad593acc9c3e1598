"""/api/v1/users: the web UI's users (admin only, even for reading).

- ``GET /users`` — everyone who can sign in, with role and creation time;
- ``POST /users`` — ``{username, password, role}``, role ``admin`` or ``viewer``;
- ``DELETE /users/{username}`` — 409 `user-is-you` for oneself, 409 `last-admin` for the
  last admin; the user's sessions and API tokens go with it;
- ``PUT /users/{username}/password`` — ``{password}``; ends that user's sessions (when it
  is one's own password: every session but the one asking), keeps its API tokens.

Passwords are 10 to 1000 characters and not the user name (api/auth.py's policy); bad
input is a 422 naming the field.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from flowpbx.api.auth import check_password
from flowpbx.api.deps import AdminDep, StoreDep, request_token
from flowpbx.api.errors import ApiError, not_found
from flowpbx.store.errors import ConflictError, NotFoundError
from flowpbx.store.repos import users as users_repo
from flowpbx.store.repos.users import MIN_PASSWORD_LENGTH

router = APIRouter(prefix="/api/v1/users", tags=["users"])

USERNAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,99}$"
Username = Annotated[str, Path(pattern=USERNAME_PATTERN, description="user name")]
Password = Annotated[str, Field(min_length=MIN_PASSWORD_LENGTH, max_length=1000)]


class UserOut(BaseModel):
    username: str
    role: Literal["admin", "viewer"]
    created_at: dt.datetime | None


class UserIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"username": "reception", "password": "long-secret", "role": "viewer"}]
        },
    )
    username: str = Field(pattern=USERNAME_PATTERN)
    password: Password
    role: Literal["admin", "viewer"]


class PasswordIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    password: Password


def _out(u: users_repo.UserInfo) -> UserOut:
    return UserOut.model_validate(
        {"username": u.username, "role": u.role, "created_at": u.created_at}
    )


@router.get("", response_model=list[UserOut])
async def list_users(store: StoreDep, _admin: AdminDep) -> list[UserOut]:
    async with store.sessions() as s:
        return [_out(u) for u in await users_repo.list_users(s)]


@router.post("", response_model=UserOut, status_code=201, responses={409: {}})
async def create_user(body: UserIn, store: StoreDep, _admin: AdminDep) -> UserOut:
    check_password(body.username, body.password)  # api/auth.py: the password policy
    try:
        async with store.transaction() as s:
            created = await users_repo.add_user(s, body.username, body.password, body.role)
    except ConflictError as exc:
        raise ApiError(
            409,
            "user-exists",
            str(exc),
            [{"path": "body.username", "message": "taken"}],
        ) from exc
    return _out(created)


@router.delete("/{username}", status_code=204, responses={404: {}, 409: {}})
async def delete_user(username: Username, store: StoreDep, admin: AdminDep) -> Response:
    if username == admin.username:
        raise ApiError(409, "user-is-you", "you cannot delete the user you are signed in as")
    try:
        async with store.transaction() as s:
            await users_repo.delete_user(s, username, acting=admin)
    except NotFoundError as exc:
        raise not_found("user", username) from exc
    except ConflictError as exc:
        raise ApiError(409, "last-admin", str(exc)) from exc
    return Response(status_code=204)


@router.put("/{username}/password", status_code=204, responses={404: {}})
async def reset_password(
    username: Username, body: PasswordIn, request: Request, store: StoreDep, admin: AdminDep
) -> Response:
    check_password(username, body.password)  # api/auth.py: the password policy
    keep = request_token(request) if username == admin.username else None
    try:
        async with store.transaction() as s:
            await users_repo.reset_password(s, username, body.password, keep_session=keep)
    except NotFoundError as exc:
        raise not_found("user", username) from exc
    return Response(status_code=204)

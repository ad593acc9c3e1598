"""/api/v1/auth: log in (argon2 check) for a bearer token + an HttpOnly session cookie."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from flowpbx.api.deps import SESSION_COOKIE, StoreDep, UserDep, request_token
from flowpbx.api.errors import ApiError
from flowpbx.store.repos import SESSION_TTL

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=1000)


class UserOut(BaseModel):
    username: str
    role: str


class LoginOut(BaseModel):
    token: str
    user: UserOut


@router.post("/login", response_model=LoginOut)
async def login(body: LoginIn, response: Response, request: Request, store: StoreDep) -> LoginOut:
    user = await store.authenticate(body.username, body.password)
    if user is None:
        raise ApiError(401, "bad-credentials", "wrong user name or password")
    token = await store.issue_token(user.id)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(SESSION_TTL.total_seconds()),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return LoginOut(token=token, user=UserOut(username=user.username, role=user.role))


@router.post("/logout", status_code=204)
async def logout(request: Request, response: Response, store: StoreDep, _user: UserDep) -> None:
    token = request_token(request)
    if token:
        await store.revoke_token(token)
    response.delete_cookie(SESSION_COOKIE, path="/")


@router.get("/me", response_model=UserOut)
async def me(user: UserDep) -> UserOut:
    return UserOut(username=user.username, role=user.role)

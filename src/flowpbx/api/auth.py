"""/api/v1/auth: log in (argon2 check) for a bearer token + an HttpOnly session cookie.

`check_password` is the password policy for web users (used by api/users.py). Login also
sets `flowpbx_csrf`, a random value readable by the page, which cookie-
authenticated writes echo in `X-CSRF-Token`. Failed logins are counted per user name and
per client address; after `LoginLimiter.max_failures` within `window_s` seconds login
answers 429 until the window passes.
"""

from __future__ import annotations

import datetime as dt
import math
import secrets
import time
from collections import deque

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from flowpbx.api.deps import CSRF_COOKIE, SESSION_COOKIE, StoreDep, UserDep, request_token
from flowpbx.api.errors import ApiError
from flowpbx.store.sessions import start_session
from flowpbx.store.users import password_problem

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class LoginLimiter:
    """Sliding-window count of failed logins per key (monotonic clock)."""

    def __init__(self, max_failures: int = 10, window_s: float = 300.0) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self._failures.get(key)
        if q is None:
            return deque()
        while q and q[0] <= now - self.window_s:
            q.popleft()
        if not q:
            del self._failures[key]
        return q

    def retry_after(self, keys: list[str], now: float | None = None) -> float | None:
        """Seconds until a login may be tried again, or None when it may now."""
        now = time.monotonic() if now is None else now
        wait = 0.0
        for key in keys:
            q = self._recent(key, now)
            if len(q) >= self.max_failures:
                wait = max(wait, q[0] + self.window_s - now)
        return wait if wait > 0 else None

    def failed(self, keys: list[str], now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        if len(self._failures) > 100_000:  # bounded memory under a spray of user names
            self._failures.clear()
        for key in keys:
            self._recent(key, now)
            self._failures.setdefault(key, deque()).append(now)

    def succeeded(self, username: str) -> None:
        self._failures.pop(f"user:{username}", None)


def check_password(username: str, password: str, *, path: str = "body.password") -> None:
    """Raise a 422 ``weak-password`` naming ``path`` when ``password`` breaks the policy
    (store/users.py: `password_problem`)."""
    problem = password_problem(username, password)
    if problem is not None:
        raise ApiError(
            422,
            "weak-password",
            f"{path}: the password {problem}",
            [{"path": path, "message": problem}],
        )


class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=100, examples=["admin"])
    password: str = Field(min_length=1, max_length=1000, examples=["demo-admin"])


class UserOut(BaseModel):
    username: str
    role: str


class LoginOut(BaseModel):
    token: str
    csrf_token: str
    user: UserOut


def _limiter(request: Request) -> LoginLimiter:
    limiter: LoginLimiter = request.app.state.login_limiter
    return limiter


@router.post(
    "/login",
    response_model=LoginOut,
    responses={401: {"description": "wrong user name or password"}, 429: {}},
)
async def login(body: LoginIn, response: Response, request: Request, store: StoreDep) -> LoginOut:
    limiter = _limiter(request)
    client = request.client.host if request.client else "unknown"
    keys = [f"user:{body.username}", f"ip:{client}"]
    wait = limiter.retry_after(keys)
    if wait is not None:
        raise ApiError(
            429,
            "too-many-attempts",
            "too many failed logins; try again later",
            details={"retry_after_s": math.ceil(wait)},
            headers={"Retry-After": str(math.ceil(wait))},
        )
    user = await store.authenticate(body.username, body.password)
    if user is None:
        limiter.failed(keys)
        raise ApiError(401, "bad-credentials", "wrong user name or password")
    limiter.succeeded(body.username)
    token = await store.issue_token(user.id)
    async with store.transaction() as s:  # idle and absolute expiry (store/sessions.py)
        lifetime = await start_session(s, token, dt.datetime.now(dt.UTC))
    csrf = secrets.token_urlsafe(24)
    secure = request.url.scheme == "https"
    max_age = int(lifetime.total_seconds())
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=max_age,
        httponly=True,
        samesite="strict",
        secure=secure,
        path="/",
    )
    response.set_cookie(
        CSRF_COOKIE,
        csrf,
        max_age=max_age,
        httponly=False,  # the page reads it to echo it in X-CSRF-Token
        samesite="strict",
        secure=secure,
        path="/",
    )
    return LoginOut(
        token=token, csrf_token=csrf, user=UserOut(username=user.username, role=user.role)
    )


@router.post("/logout", status_code=204)
async def logout(request: Request, response: Response, store: StoreDep, _user: UserDep) -> None:
    token = request_token(request)
    if token:
        await store.revoke_token(token)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")


@router.get("/me", response_model=UserOut)
async def me(user: UserDep) -> UserOut:
    return UserOut(username=user.username, role=user.role)

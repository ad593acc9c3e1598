"""/api/v1/auth: log in (argon2 check) for a bearer token + an HttpOnly session cookie.

`check_password` is the password policy for web users (used by api/users.py). Login also
sets `flowpbx_csrf`, a random value readable by the page, which cookie-
authenticated writes echo in `X-CSRF-Token`. Failed logins are counted per client
address, per user name from an address and per user name (`LoginLimiter`): a source that
guesses too much answers 429 until its failures leave the window, while the right password
from a fresh source still logs in. The client address is the TCP peer (behind a reverse
proxy on this machine, uvicorn takes the proxy's X-Forwarded-For: FORWARDED_ALLOW_IPS).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import math
import secrets
import time
from collections import deque

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from flowpbx.api.deps import CSRF_COOKIE, SESSION_COOKIE, StoreDep, UserDep, request_token
from flowpbx.api.errors import ApiError
from flowpbx.store.repos import users as users_repo
from flowpbx.store.repos.users import password_problem
from flowpbx.store.sessions import start_session

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class LoginLimiter:
    """Failed logins counted in a sliding window (monotonic clock), so that guessing is slow
    and an attacker cannot lock the real user out:

    - per source address (an IPv6 source by its /64): after `max_failures` failures in
      `window_s` seconds every login from that source waits, whatever the user name;
    - per user name from one source: after `max_failures` failures, that source waits for
      that name;
    - per user name overall: once a name has `max_failures` failures in the window (it is
      under attack, from however many sources), a source that has failed even once for it
      waits too — but a *fresh* source (no failure for that name in the window) may still
      log in, so the right password from the user's own browser passes.

    A success forgets that source's failures for that user name; it does not reset the
    source's count (which may be guessing other names) or the name's (the attack goes on).
    """

    def __init__(
        self, max_failures: int = 10, window_s: float = 300.0, max_keys: int = 100_000
    ) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self.max_keys = max_keys
        self._failures: dict[str, deque[float]] = {}

    @staticmethod
    def source_key(host: str) -> str:
        """The address a source is counted by: an IPv6 host by its /64 (one subscriber
        holds a whole /64), an IPv4-mapped address as IPv4."""
        try:
            addr = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return host
        if isinstance(addr, ipaddress.IPv6Address):
            if addr.ipv4_mapped is not None:
                return str(addr.ipv4_mapped)
            return str(ipaddress.IPv6Network((addr, 64), strict=False))
        return str(addr)

    def _keys(self, username: str, source: str) -> tuple[str, str, str]:
        src = self.source_key(source)
        return f"ip:{src}", f"pair:{src}\x00{username}", f"user:{username}"

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self._failures.get(key)
        if q is None:
            return deque()
        while q and q[0] <= now - self.window_s:
            q.popleft()
        if not q:
            del self._failures[key]
        return q

    def _wait(self, q: deque[float], limit: int, now: float) -> float:
        """Seconds until `q` holds fewer than `limit` recent failures (0 when it does)."""
        if len(q) < limit:
            return 0.0
        return q[len(q) - limit] + self.window_s - now

    def retry_after(self, username: str, source: str, now: float | None = None) -> float | None:
        """Seconds until this user name may be tried from this source, or None when now."""
        now = time.monotonic() if now is None else now
        src, pair, user = self._keys(username, source)
        attacked = len(self._recent(user, now)) >= self.max_failures
        wait = max(
            self._wait(self._recent(src, now), self.max_failures, now),
            self._wait(self._recent(pair, now), 1 if attacked else self.max_failures, now),
        )
        return wait if wait > 0 else None

    def failed(self, username: str, source: str, now: float | None = None) -> float:
        """Count one failure; returns its time (for `succeeded`, when it was counted in
        advance: login counts each attempt before the slow password check, so attempts
        sent at once cannot all pass `retry_after` before the first failure is counted)."""
        now = time.monotonic() if now is None else now
        if len(self._failures) > self.max_keys:  # bounded memory under a spray of names
            for key in list(self._failures):
                self._recent(key, now)
            if len(self._failures) > self.max_keys:
                self._failures.clear()
        for key in self._keys(username, source):
            self._recent(key, now)
            self._failures.setdefault(key, deque()).append(now)
        return now

    def succeeded(self, username: str, source: str, attempt: float | None = None) -> None:
        """Forget this source's failures for this name, and the attempt counted in advance
        at time `attempt` (it was no failure)."""
        src, pair, user = self._keys(username, source)
        self._failures.pop(pair, None)
        if attempt is not None:
            for key in (src, user):
                q = self._failures.get(key)
                if q is not None:
                    with contextlib.suppress(ValueError):
                        q.remove(attempt)
                    if not q:
                        del self._failures[key]


def check_password(username: str, password: str, *, path: str = "body.password") -> None:
    """Raise a 422 ``weak-password`` naming ``path`` when ``password`` breaks the policy
    (store/repos/users.py: `password_problem`)."""
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
    wait = limiter.retry_after(body.username, client)
    if wait is not None:
        raise ApiError(
            429,
            "too-many-attempts",
            "too many failed logins; try again later",
            details={"retry_after_s": math.ceil(wait)},
            headers={"Retry-After": str(math.ceil(wait))},
        )
    attempt = limiter.failed(body.username, client)  # counted before the slow check
    async with store.sessions() as s:
        user = await users_repo.authenticate(s, body.username, body.password)
    if user is None:
        raise ApiError(401, "bad-credentials", "wrong user name or password")
    limiter.succeeded(body.username, client, attempt)
    now = dt.datetime.now(dt.UTC)
    async with store.transaction() as s:  # idle and absolute expiry (store/sessions.py)
        token = await users_repo.issue_token(s, user.id, now)
        lifetime = await start_session(s, token, now)
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
    """End this session (or revoke this token) on the server, close its live-event
    websockets, and clear both cookies."""
    token = request_token(request)
    if token:
        async with store.transaction() as s:
            await users_repo.revoke_token(s, token)
        request.app.state.event_sockets.end(token)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")


@router.get("/me", response_model=UserOut)
async def me(user: UserDep) -> UserOut:
    return UserOut(username=user.username, role=user.role)

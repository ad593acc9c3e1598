"""Web/API hardening over real HTTP (SQLite and PostgreSQL): security headers on every kind
of answer, session expiry (idle and absolute, from the settings), the password policy for
web users, and the session cookie's flags."""

from __future__ import annotations

import datetime as dt

import httpx
from sqlalchemy import update

from flowpbx.store import models as m
from flowpbx.store.db import Store
from flowpbx.store.repos.users import token_digest
from tests.api.conftest import bearer


def _assert_secure_headers(r: httpx.Response) -> None:
    h = r.headers
    assert h["x-content-type-options"] == "nosniff", (r.url, dict(h))
    assert h["referrer-policy"] == "no-referrer"
    assert h["x-frame-options"] == "DENY"
    csp = h["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    assert "strict-transport-security" not in h  # plain http: no HSTS


async def test_security_headers_on_every_answer(client: httpx.AsyncClient, token: str) -> None:
    answers = [
        await client.get("/api/v1/health"),
        await client.get("/api/v1/extensions", headers=bearer(token)),  # 200 JSON
        await client.get("/api/v1/extensions"),  # 401
        await client.get("/api/v1/nope", headers=bearer(token)),  # 404
        await client.post("/api/v1/extensions", json={}, headers=bearer(token)),  # 422
        await client.post(  # 413 from the size guard, before any route
            "/api/v1/config",
            content=b"x" * (7 * 1024 * 1024),
            headers={**bearer(token), "Content-Type": "application/json"},
        ),
        await client.get("/"),  # the web UI (or the page that says how to build it)
        await client.get("/flows/some-page"),  # SPA fallback
        await client.get("/openapi.json"),
    ]
    assert [a.status_code for a in answers][:6] == [200, 200, 401, 404, 422, 413]
    for r in answers:
        _assert_secure_headers(r)
    ui_csp = answers[6].headers["content-security-policy"]
    # the built UI needs only its own scripts: no inline script, no eval, no other origin
    assert "script-src 'self';" in ui_csp and "unsafe-eval" not in ui_csp
    assert "default-src 'self'" in ui_csp and "connect-src 'self'" in ui_csp
    docs = await client.get("/docs")
    _assert_secure_headers(docs)
    assert "https://cdn.jsdelivr.net" in docs.headers["content-security-policy"]
    assert "https://cdn.jsdelivr.net" in docs.text  # the policy allows what the page loads
    # behind a TLS proxy (the scheme uvicorn was told) the answer carries HSTS
    # (uvicorn trusts X-Forwarded-Proto from 127.0.0.1 by default)
    r = await client.get("/api/v1/health", headers={"X-Forwarded-Proto": "https"})
    assert r.headers["strict-transport-security"].startswith("max-age=")


async def test_session_cookie_flags_and_lifetime(store: Store, client: httpx.AsyncClient) -> None:
    await store.create_user("ops", "ops-password-1", "admin")
    await store.set_setting("session_max_hours", 8)
    r = await client.post(
        "/api/v1/auth/login", json={"username": "ops", "password": "ops-password-1"}
    )
    assert r.status_code == 200
    cookies = r.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith("flowpbx_session="))
    csrf = next(c for c in cookies if c.startswith("flowpbx_csrf="))
    low = session.lower()
    assert "httponly" in low and "samesite=strict" in low and "path=/" in low
    assert "max-age=28800" in low  # the absolute lifetime: 8 h
    assert "secure" not in low.replace("samesite=strict", "")  # plain http on loopback
    assert "httponly" not in csrf.lower() and "samesite=strict" in csrf.lower()


async def _login(client: httpx.AsyncClient, user: str, password: str) -> str:
    r = await client.post("/api/v1/auth/login", json={"username": user, "password": password})
    assert r.status_code == 200, r.text
    client.cookies.clear()
    return str(r.json()["token"])


async def test_sessions_end_when_idle_or_too_old_and_api_tokens_do_not(
    store: Store, client: httpx.AsyncClient
) -> None:
    await store.create_user("ops", "ops-password-1", "admin")
    await store.set_setting("session_idle_minutes", 30)
    await store.set_setting("session_max_hours", 10)
    idle = await _login(client, "ops", "ops-password-1")
    old = await _login(client, "ops", "ops-password-1")
    fresh = await _login(client, "ops", "ops-password-1")
    r = await client.post("/api/v1/tokens", json={"name": "script"}, headers=bearer(fresh))
    api_token = r.json()["token"]
    for t in (idle, old, fresh, api_token):
        assert (await client.get("/api/v1/auth/me", headers=bearer(t))).status_code == 200
    now = dt.datetime.now(dt.UTC)
    async with store.transaction() as s:
        rows = {r.token_sha256: r for r in (await s.execute(m.AuthToken.__table__.select())).all()}
        assert len(rows) == 4
        # unused for 31 minutes (its idle deadline passed a minute ago)
        await s.execute(
            update(m.AuthToken)
            .where(m.AuthToken.token_sha256 == token_digest(idle))
            .values(expires_at=now - dt.timedelta(minutes=1))
        )
        # in use all along, but logged in 10 h 1 min ago
        await s.execute(
            update(m.AuthToken)
            .where(m.AuthToken.token_sha256 == token_digest(old))
            .values(
                created_at=now - dt.timedelta(hours=10, minutes=1),
                expires_at=now + dt.timedelta(minutes=29),
            )
        )
        # API tokens are not sessions: their age does not matter
        await s.execute(
            update(m.AuthToken)
            .where(m.AuthToken.token_sha256 == token_digest(api_token))
            .values(created_at=now - dt.timedelta(days=400))
        )
    assert (await client.get("/api/v1/auth/me", headers=bearer(idle))).status_code == 401
    assert (await client.get("/api/v1/auth/me", headers=bearer(old))).status_code == 401
    assert (await client.get("/api/v1/auth/me", headers=bearer(fresh))).status_code == 200
    assert (await client.get("/api/v1/auth/me", headers=bearer(api_token))).status_code == 200
    # an expired session is gone from the table, not just refused
    async with store.sessions() as s:
        left = (await s.execute(m.AuthToken.__table__.select())).all()
    assert len(left) == 2
    # using a session moves its idle deadline: it stays about `idle` minutes ahead
    async with store.transaction() as s:
        await s.execute(
            update(m.AuthToken)
            .where(m.AuthToken.token_sha256 == token_digest(fresh))
            .values(expires_at=now + dt.timedelta(minutes=3))
        )
    assert (await client.get("/api/v1/auth/me", headers=bearer(fresh))).status_code == 200
    async with store.sessions() as s:
        row = (
            await s.execute(
                m.AuthToken.__table__.select().where(
                    m.AuthToken.token_sha256 == token_digest(fresh)
                )
            )
        ).first()
    assert row is not None
    moved = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=dt.UTC)
    assert moved > now + dt.timedelta(minutes=25), moved
    # the settings are validated like the others
    r = await client.put(
        "/api/v1/settings", json={"session_idle_minutes": 1}, headers=bearer(fresh)
    )
    assert r.status_code == 422 and "session_idle_minutes" in r.text
    r = await client.put(
        "/api/v1/settings",
        json={"session_idle_minutes": 45, "session_max_hours": 12},
        headers=bearer(fresh),
    )
    assert r.status_code == 200
    assert r.json()["session_idle_minutes"] == 45 and r.json()["session_max_hours"] == 12


async def test_password_policy_for_web_users(client: httpx.AsyncClient, token: str) -> None:
    h = bearer(token)
    cases = [
        ({"username": "reception", "password": "short-9ch", "role": "viewer"}, "10 characters"),
        ({"username": "reception1", "password": "reception1", "role": "viewer"}, "user name"),
        ({"username": "Reception1", "password": "reception1", "role": "viewer"}, "user name"),
    ]
    for body, says in cases:
        r = await client.post("/api/v1/users", json=body, headers=h)
        assert r.status_code == 422, r.text
        err = r.json()["error"]
        assert err["details"][0]["path"] == "body.password", err
        assert says in r.text, r.text
    ok = {"username": "reception", "password": "front-desk-10", "role": "viewer"}
    assert (await client.post("/api/v1/users", json=ok, headers=h)).status_code == 201
    for password, says in (("reception", "10 characters"), ("RECEPTION ", "user name")):
        r = await client.put(
            "/api/v1/users/reception/password", json={"password": password}, headers=h
        )
        assert r.status_code == 422 and says in r.text, r.text
    r = await client.put(
        "/api/v1/users/reception/password", json={"password": "receptionreception"}, headers=h
    )
    assert r.status_code == 204

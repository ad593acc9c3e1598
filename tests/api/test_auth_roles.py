"""Roles, CSRF for cookie-authenticated writes, login rate limiting, API tokens."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from flowpbx.api.auth import LoginLimiter
from flowpbx.store.db import Store
from tests.api.conftest import bearer

EXT = {"number": "150", "name": "Temp", "password": "pw-150-x-long"}


async def test_viewer_reads_but_every_write_is_403(
    client: httpx.AsyncClient, token: str, viewer_token: str
) -> None:
    assert (await client.get("/api/v1/extensions", headers=bearer(viewer_token))).status_code == 200
    writes = [
        ("POST", "/api/v1/extensions", EXT),
        ("PUT", "/api/v1/extensions/150", {"name": "x"}),
        ("DELETE", "/api/v1/extensions/150", None),
        ("POST", "/api/v1/flows", {"name": "f"}),
        ("PUT", "/api/v1/settings", {"timezone": "UTC"}),
        ("POST", "/api/v1/tokens", {"name": "t"}),
    ]
    for method, path, body in writes:
        r = await client.request(method, path, json=body, headers=bearer(viewer_token))
        assert r.status_code == 403, (method, path, r.text)
        assert r.json()["error"]["id"] == "admin-only"
    # the admin may
    r = await client.post("/api/v1/extensions", json=EXT, headers=bearer(token))
    assert r.status_code == 201, r.text
    # a viewer can still log out (their own session)
    assert (
        await client.post("/api/v1/auth/logout", headers=bearer(viewer_token))
    ).status_code == 204


async def test_cookie_writes_need_the_csrf_header(store: Store, client: httpx.AsyncClient) -> None:
    await store.create_user("boss", "boss-password", "admin")
    r = await client.post(
        "/api/v1/auth/login", json={"username": "boss", "password": "boss-password"}
    )
    assert r.status_code == 200
    csrf = r.json()["csrf_token"]
    assert client.cookies.get("flowpbx_csrf") == csrf
    assert "HttpOnly" not in next(
        c for c in r.headers.get_list("set-cookie") if "flowpbx_csrf" in c
    )
    # reads by cookie are fine
    assert (await client.get("/api/v1/extensions")).status_code == 200
    # a write by cookie without the header (what a cross-site form would send) is refused
    r = await client.post("/api/v1/extensions", json=EXT)
    assert r.status_code == 403 and r.json()["error"]["id"] == "csrf-failed"
    r = await client.post("/api/v1/extensions", json=EXT, headers={"X-CSRF-Token": "forged"})
    assert r.status_code == 403 and r.json()["error"]["id"] == "csrf-failed"
    assert (await client.get("/api/v1/extensions/150")).status_code == 404  # nothing written
    r = await client.post("/api/v1/extensions", json=EXT, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201


async def test_login_is_rate_limited(store: Store, app: FastAPI, client: httpx.AsyncClient) -> None:
    app.state.login_limiter = LoginLimiter(max_failures=3, window_s=300)
    await store.create_user("ann", "ann-password", "viewer")
    for _ in range(3):
        r = await client.post("/api/v1/auth/login", json={"username": "ann", "password": "bad"})
        assert r.status_code == 401
    r = await client.post("/api/v1/auth/login", json={"username": "ann", "password": "bad"})
    assert r.status_code == 429
    assert r.json()["error"]["id"] == "too-many-attempts"
    assert int(r.headers["retry-after"]) > 0
    # even the right password waits now
    r = await client.post(
        "/api/v1/auth/login", json={"username": "ann", "password": "ann-password"}
    )
    assert r.status_code == 429


def test_limiter_window_slides() -> None:
    lim = LoginLimiter(max_failures=3, window_s=60)
    for t in (0.0, 1.0, 2.0):
        assert lim.retry_after("a", "1.2.3.4", now=t) is None
        lim.failed("a", "1.2.3.4", now=t)
    assert lim.retry_after("a", "1.2.3.4", now=3.0) == 59.0  # until its last guess leaves
    assert lim.retry_after("b", "1.2.3.4", now=3.0) == 57.0  # the source, for any name
    assert lim.retry_after("b", "5.6.7.8", now=3.0) is None  # other clients unaffected
    assert lim.retry_after("a", "1.2.3.4", now=60.5) is None  # the first failure left the window
    lim.failed("a", "1.2.3.4", now=61.0)
    lim.succeeded("a", "1.2.3.4")
    assert lim.retry_after("a", "1.2.3.4", now=61.5) is None


def test_an_attempt_counted_in_advance_is_no_failure_once_it_succeeds() -> None:
    """Login counts each attempt before the slow password check (attempts sent at once see
    each other); a right password takes its own count back, so logging in often never
    locks anyone out."""
    lim = LoginLimiter(max_failures=3, window_s=60)
    in_flight = [lim.failed("a", "1.2.3.4", now=float(t)) for t in range(3)]
    assert lim.retry_after("a", "1.2.3.4", now=3.0) is not None  # a fourth one waits
    for attempt in in_flight:
        lim.succeeded("a", "1.2.3.4", attempt)
    assert lim.retry_after("a", "1.2.3.4", now=3.0) is None
    assert lim.retry_after("b", "1.2.3.4", now=3.0) is None  # the source's count too
    for t in range(10):
        lim.succeeded("a", "1.2.3.4", lim.failed("a", "1.2.3.4", now=4.0 + t))
    assert lim.retry_after("a", "1.2.3.4", now=20.0) is None


def test_limiter_never_locks_the_user_out_of_a_fresh_source() -> None:
    lim = LoginLimiter(max_failures=3, window_s=60)
    for i in range(3):  # three attackers, one guess each: the name is now under attack
        lim.failed("admin", f"203.0.113.{i}", now=float(i))
    assert lim.retry_after("admin", "203.0.113.0", now=5.0) == 55.0  # a guesser waits
    assert lim.retry_after("admin", "203.0.113.2", now=5.0) == 57.0
    assert lim.retry_after("other", "203.0.113.0", now=5.0) is None  # for that name only
    assert lim.retry_after("admin", "198.51.100.7", now=5.0) is None  # the user's own browser
    lim.failed("admin", "198.51.100.7", now=6.0)  # ...that mistypes once while under attack
    assert lim.retry_after("admin", "198.51.100.7", now=7.0) == 59.0
    assert lim.retry_after("admin", "198.51.100.7", now=66.5) is None


def test_limiter_counts_an_ipv6_source_by_its_64() -> None:
    lim = LoginLimiter(max_failures=2, window_s=60)
    lim.failed("a", "2001:db8:1:2::1", now=0.0)
    lim.failed("b", "2001:db8:1:2:ffff::9", now=0.0)
    assert lim.retry_after("c", "2001:db8:1:2::77", now=1.0) == 59.0
    assert lim.retry_after("c", "2001:db8:1:3::1", now=1.0) is None
    assert LoginLimiter.source_key("::ffff:10.0.0.1") == "10.0.0.1"


def test_limiter_memory_is_bounded() -> None:
    lim = LoginLimiter(max_failures=3, window_s=60, max_keys=30)
    for i in range(100):
        lim.failed(f"user{i}", f"10.0.{i}.1", now=float(i))
        assert len(lim._failures) <= 33


async def test_api_tokens_create_list_use_revoke(client: httpx.AsyncClient, token: str) -> None:
    r = await client.post("/api/v1/tokens", json={"name": "backup script"}, headers=bearer(token))
    assert r.status_code == 201
    new = r.json()
    assert new["name"] == "backup script" and len(new["token"]) > 20
    listed = (await client.get("/api/v1/tokens", headers=bearer(token))).json()
    assert listed == [{"id": new["id"], "name": "backup script", "created_at": new["created_at"]}]
    # the token works for scripts, with no CSRF header
    r = await client.post("/api/v1/extensions", json=EXT, headers=bearer(new["token"]))
    assert r.status_code == 201
    assert (
        await client.delete(f"/api/v1/tokens/{new['id']}", headers=bearer(token))
    ).status_code == 204
    r = await client.get("/api/v1/extensions", headers=bearer(new["token"]))
    assert r.status_code == 401
    r = await client.delete(f"/api/v1/tokens/{new['id']}", headers=bearer(token))
    assert r.status_code == 404 and r.json()["error"]["id"] == "token-not-found"
    r = await client.post("/api/v1/tokens", json={"name": ""}, headers=bearer(token))
    assert r.status_code == 422 and r.json()["error"]["details"][0]["path"] == "body.name"

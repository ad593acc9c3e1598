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
    keys = ["user:a", "ip:1.2.3.4"]
    for t in (0.0, 1.0, 2.0):
        assert lim.retry_after(keys, now=t) is None
        lim.failed(keys, now=t)
    assert lim.retry_after(keys, now=3.0) == 57.0
    assert lim.retry_after(["ip:5.6.7.8"], now=3.0) is None  # other clients unaffected
    assert lim.retry_after(keys, now=60.5) is None  # the first failure left the window
    lim.failed(keys, now=61.0)
    lim.succeeded("a")
    assert lim.retry_after(["user:a"], now=61.5) is None


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

"""/api/v1/security/bans over real HTTP: the ban list of the live PBX, lifting a ban
(admins only), clear errors for a bad address and an address that is not banned."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from flowpbx.api import create_api
from flowpbx.store.db import Store
from tests.api.conftest import bearer
from tests.api.fakepbx import FakePbx
from tests.api.server import serve_in_loop


@pytest.fixture
async def client_pbx(store: Store) -> AsyncIterator[tuple[httpx.AsyncClient, FakePbx]]:
    pbx = FakePbx()
    async with (
        serve_in_loop(create_api(store, pbx)) as url,
        httpx.AsyncClient(base_url=url) as client,
    ):
        yield client, pbx


async def _login(client: httpx.AsyncClient, store: Store, name: str, role: str) -> str:
    await store.create_user(name, f"{name}-pass-123", role)
    r = await client.post(
        "/api/v1/auth/login", json={"username": name, "password": f"{name}-pass-123"}
    )
    assert r.status_code == 200, r.text
    client.cookies.clear()
    return str(r.json()["token"])


async def test_bans_listed_and_lifted_by_an_admin(
    store: Store, client_pbx: tuple[httpx.AsyncClient, FakePbx]
) -> None:
    client, pbx = client_pbx
    admin = await _login(client, store, "admin", "admin")
    viewer = await _login(client, store, "viewer", "viewer")

    r = await client.get("/api/v1/security/bans", headers=bearer(viewer))
    assert r.status_code == 200
    assert [b["ip"] for b in r.json()] == ["203.0.113.9"]

    r = await client.delete("/api/v1/security/bans/203.0.113.9", headers=bearer(viewer))
    assert r.status_code == 403
    assert pbx.banned == ["203.0.113.9"]

    r = await client.delete("/api/v1/security/bans/not-an-ip", headers=bearer(admin))
    assert r.status_code == 422 and r.json()["error"]["id"] == "invalid-ip"

    r = await client.delete("/api/v1/security/bans/203.0.113.9", headers=bearer(admin))
    assert r.status_code == 204
    assert pbx.banned == []

    r = await client.delete("/api/v1/security/bans/203.0.113.9", headers=bearer(admin))
    assert r.status_code == 404
    assert (await client.get("/api/v1/security/bans")).status_code == 401

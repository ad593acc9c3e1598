"""GET /api/v1/sip-server: the address phones register at ("Copy SIP settings")."""

from __future__ import annotations

import httpx
import pytest

from flowpbx.api import create_api
from flowpbx.api.events import EventBus
from flowpbx.store.db import Store
from tests.api.conftest import bearer
from tests.api.fakepbx import FakePbx
from tests.api.server import serve_in_loop


class ListeningPbx(FakePbx):
    def __init__(self, host: str) -> None:
        super().__init__()
        self.host = host

    @property
    def sip_address(self) -> tuple[str, int]:
        return self.host, 5062


async def test_without_a_pbx_only_realm_and_transports(
    client: httpx.AsyncClient, viewer_token: str
) -> None:
    r = await client.get("/api/v1/sip-server", headers=bearer(viewer_token))
    assert r.status_code == 200, r.text
    assert r.json() == {
        "host": None,
        "port": None,
        "transports": ["udp", "tcp"],
        "realm": "flowpbx",
        "tls_port": None,
    }
    assert (await client.get("/api/v1/sip-server")).status_code == 401


@pytest.mark.parametrize(("listen", "shown"), [("192.0.2.10", "192.0.2.10"), ("0.0.0.0", None)])
async def test_the_pbx_listen_address(store: Store, listen: str, shown: str | None) -> None:
    await store.create_user("admin", "admin-pass", "admin")
    app = create_api(store, ListeningPbx(listen), event_bus=EventBus())
    async with serve_in_loop(app) as url, httpx.AsyncClient(base_url=url) as c:
        r = await c.post("/api/v1/auth/login", json={"username": "admin", "password": "admin-pass"})
        r = await c.get("/api/v1/sip-server", headers=bearer(r.json()["token"]))
    assert r.json()["host"] == shown
    assert r.json()["port"] == 5062
    assert r.json()["tls_port"] is None


class TlsPbx(ListeningPbx):
    sip_tls_port = 5063


async def test_the_tls_port_when_the_pbx_listens_on_tls(store: Store) -> None:
    await store.create_user("admin", "admin-pass", "admin")
    app = create_api(store, TlsPbx("192.0.2.10"), event_bus=EventBus())
    async with serve_in_loop(app) as url, httpx.AsyncClient(base_url=url) as c:
        r = await c.post("/api/v1/auth/login", json={"username": "admin", "password": "admin-pass"})
        r = await c.get("/api/v1/sip-server", headers=bearer(r.json()["token"]))
    assert r.json()["transports"] == ["udp", "tcp", "tls"]
    assert r.json()["tls_port"] == 5063

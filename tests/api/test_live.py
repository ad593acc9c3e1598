"""Live parts of the API: the events websocket (a real websocket client against uvicorn),
active calls with hang-up and spy, live registrations and queue state (through
`tests.api.fakepbx.FakePbx`, a stand-in for the PBX service interface)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from flowpbx.api import create_api
from flowpbx.api.events import EventBus
from flowpbx.store.db import Store
from flowpbx.store.records import CallRecord, RegistrationRec
from tests.api.conftest import bearer
from tests.api.fakepbx import FakePbx
from tests.api.server import serve_in_loop


@pytest.fixture
def bus() -> EventBus:
    return EventBus(queue_size=3)


@pytest.fixture
async def live_client(
    store: Store, bus: EventBus
) -> AsyncIterator[tuple[httpx.AsyncClient, str, FakePbx]]:
    pbx = FakePbx()
    app = create_api(store, pbx, event_bus=bus)
    async with serve_in_loop(app) as url, httpx.AsyncClient(base_url=url) as c:
        yield c, url, pbx


async def test_events_websocket_pushes_published_events(
    store: Store, bus: EventBus, live_client: tuple[httpx.AsyncClient, str, FakePbx]
) -> None:
    client, url, _ = live_client
    await store.create_user("admin", "admin-pass", "admin")
    token = (
        await client.post(
            "/api/v1/auth/login", json={"username": "admin", "password": "admin-pass"}
        )
    ).json()["token"]
    ws_url = url.replace("http://", "ws://") + "/api/v1/events"
    # no token: refused before the upgrade
    with pytest.raises(InvalidStatus):
        async with websockets.connect(ws_url):
            pass
    async with websockets.connect(f"{ws_url}?token={token}") as ws:
        hello = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert hello == {"type": "hello", "user": "admin"}
        assert bus.subscribers == 1
        bus.publish({"type": "call.start", "id": "c1", "caller": "+3712"})
        bus.publish({"type": "voicemail", "mailbox": "100", "id": 7})
        first = json.loads(await asyncio.wait_for(ws.recv(), 10))
        second = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert first["type"] == "call.start" and first["caller"] == "+3712" and "at" in first
        assert second == {**second, "type": "voicemail", "mailbox": "100", "id": 7}
        # what the PBX writes through the store is pushed too: a phone registers, a call
        # ends in history
        await store.upsert_extension(number="101", name="A", password="pw-101")
        await store.save_registration(
            RegistrationRec(
                extension="101", contact="sip:101@10.0.0.7", source="10.0.0.7:5060",
                transport="udp", expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5),
            )
        )  # fmt: skip
        reg = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert reg["type"] == "registration" and reg["extension"] == "101" and reg["registered"]
        await store.add_call_history(
            CallRecord(call_id="c9", started_at=dt.datetime.now(dt.UTC), outcome="answered")
        )
        end = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert end["type"] == "call.ended" and end["id"] == "c9" and end["outcome"] == "answered"
    # the subscriber goes away with the socket
    for _ in range(100):
        if bus.subscribers == 0:
            break
        await asyncio.sleep(0.02)
    assert bus.subscribers == 0


def test_bus_drops_oldest_for_a_slow_subscriber() -> None:
    bus = EventBus(queue_size=2)
    q = bus.subscribe()
    for i in range(5):
        bus.publish({"type": "tick", "n": i})
    assert [q.get_nowait()["n"] for _ in range(q.qsize())] == [3, 4]
    with pytest.raises(ValueError):
        bus.publish({"no": "type"})
    bus.unsubscribe(q)
    bus.publish({"type": "tick"})  # nobody listening: fine


async def test_calls_hangup_and_spy(
    store: Store, live_client: tuple[httpx.AsyncClient, str, FakePbx], token: str
) -> None:
    client, _, pbx = live_client
    h = bearer(token)
    calls = (await client.get("/api/v1/calls", headers=h)).json()
    assert [c["id"] for c in calls] == ["abc@host"]
    assert (await client.get("/api/v1/calls/abc@host", headers=h)).json()["answered_by"] == "101"
    await store.upsert_extension(number="103", name="Carol", password="pw-103", supervisor=True)
    await store.upsert_extension(number="102", name="Bob", password="pw-102")
    r = await client.post(
        "/api/v1/calls/abc@host/spy", json={"supervisor": "102", "mode": "listen"}, headers=h
    )
    assert r.status_code == 403 and r.json()["error"]["id"] == "not-a-supervisor"
    r = await client.post(
        "/api/v1/calls/abc@host/spy", json={"supervisor": "103", "mode": "whisper"}, headers=h
    )
    assert r.status_code == 202 and pbx.actions == [("spy", "abc@host", "103", "whisper")]
    await store.upsert_extension(number="104", name="Dan", password="pw-104", supervisor=True)
    r = await client.post("/api/v1/calls/abc@host/spy", json={"supervisor": "104"}, headers=h)
    assert r.status_code == 409 and r.json()["error"]["id"] == "spy-not-possible"
    assert "no registered phone" in r.json()["error"]["message"]
    r = await client.post(
        "/api/v1/calls/abc@host/spy", json={"supervisor": "103", "mode": "shout"}, headers=h
    )
    assert r.status_code == 422 and r.json()["error"]["details"][0]["path"] == "body.mode"
    r = await client.delete("/api/v1/calls/abc@host", headers=h)
    assert r.status_code == 202 and pbx.actions[-1] == ("hangup", "abc@host")
    assert (await client.get("/api/v1/calls/abc@host", headers=h)).status_code == 404
    assert (await client.delete("/api/v1/calls/abc@host", headers=h)).status_code == 404


async def test_live_registrations_queues_metrics_and_reload(
    store: Store, live_client: tuple[httpx.AsyncClient, str, FakePbx], token: str
) -> None:
    client, _, pbx = live_client
    h = bearer(token)
    r = await client.post(
        "/api/v1/extensions",
        json={"number": "101", "name": "A", "password": "pw-101-long-enough"},
        headers=h,
    )
    assert r.status_code == 201
    assert pbx.reloads == 1  # the change was taken live
    ext = r.json()
    assert ext["registered"] and ext["registrations"][0]["contact"] == "sip:101@10.0.0.7"
    assert ext["registrations"][0]["expires"] == 120
    q = (await client.get("/api/v1/queues/sales", headers=h)).json()
    assert q["live"] == {"name": "sales", "waiting": 2, "members": {"101": "in_call"}}
    m = (await client.get("/metrics", headers=h)).text.splitlines()
    assert "flowpbx_active_calls 1.0" in m
    assert "flowpbx_sip_errors_total 3.0" in m and "flowpbx_media_lost_packets_total 7.0" in m
    health = (await client.get("/api/v1/health")).json()
    assert health["pbx"] == "running"


async def test_live_actions_without_a_pbx_are_503(client: httpx.AsyncClient, token: str) -> None:
    h = bearer(token)  # `client` runs the API without a PBX
    for r in (
        await client.get("/api/v1/calls", headers=h),
        await client.delete("/api/v1/calls/abc@host", headers=h),
        await client.post("/api/v1/calls/abc@host/spy", json={"supervisor": "103"}, headers=h),
        await client.get("/api/v1/security/bans", headers=h),
    ):
        assert r.status_code == 503 and r.json()["error"]["id"] == "pbx-unavailable"


class HubPbx(FakePbx):
    """A PBX service with its own event hub (`subscribe`) and counters, like PbxService."""

    def __init__(self) -> None:
        super().__init__()
        self.subscribers: list[Any] = []

    def subscribe(self, subscriber: Any) -> Any:
        self.subscribers.append(subscriber)
        return lambda: self.subscribers.remove(subscriber)

    def counters(self) -> dict[str, int]:
        return {"call.answered": 4, "active_calls": 1, "sip_datagrams_in": 10}


async def test_events_come_from_the_pbx_hub_when_it_has_one(
    store: Store, client: httpx.AsyncClient, token: str
) -> None:
    bus = EventBus()
    pbx = HubPbx()
    app = create_api(store, pbx, event_bus=bus)
    q = bus.subscribe()
    # the PBX's hub feeds the bus ...
    assert len(pbx.subscribers) == 1
    pbx.subscribers[0]({"type": "call.answered", "call_id": "c1", "answered_by": "101"})
    assert q.get_nowait()["answered_by"] == "101"
    # ... and the store does not push a second copy of what the PBX already announces
    assert store.event_sink is None
    await store.add_call_history(CallRecord(call_id="c1", started_at=dt.datetime.now(dt.UTC)))
    assert q.empty()
    async with serve_in_loop(app) as url, httpx.AsyncClient(base_url=url) as c:
        lines = (await c.get("/metrics", headers=bearer(token))).text.splitlines()
    assert "flowpbx_call_answered 4.0" in lines and "flowpbx_sip_datagrams_in 10.0" in lines
    assert "flowpbx_active_calls 1.0" in lines

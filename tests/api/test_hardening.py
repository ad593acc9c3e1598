"""Internet-facing hardening of the HTTP API (issue 16) over a real uvicorn: chunked
bodies capped as they stream, the configuration document for admins only, hostile audio
refused before decoding, websockets closed at logout."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from flowpbx.api.limits import AUTH_CAP, DEFAULT_CAP
from flowpbx.store.db import Store
from flowpbx.store.records import MailboxRec, TrunkRec
from flowpbx.store.repos.trunks import upsert_trunk
from flowpbx.store.repos.voicemail import upsert_mailbox
from tests.api.conftest import bearer
from tests.services.hostile_audio import flac_claiming, flac_silence


async def _chunks(total: int, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    yield b'{"username": "admin", "password": "'
    sent = 0
    while sent < total:
        yield b"a" * size
        sent += size
    yield b'"}'


async def test_a_chunked_login_body_over_the_cap_is_refused(
    store: Store, client: httpx.AsyncClient
) -> None:
    r = await client.post(
        "/api/v1/auth/login",
        content=_chunks(12 * 1024 * 1024),
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 413
    assert r.json()["error"] == {
        "id": "too-large",
        "message": f"the request body is larger than {AUTH_CAP} bytes",
        "details": {"max_bytes": AUTH_CAP},
    }
    # a small chunked body is read as before
    await store.create_user("admin", "admin-pass", "admin")

    async def small() -> AsyncIterator[bytes]:
        yield b'{"username": "admin", '
        yield b'"password": "admin-pass"}'

    r = await client.post(
        "/api/v1/auth/login", content=small(), headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 200, r.text


async def test_a_chunked_write_over_the_cap_stores_nothing(
    client: httpx.AsyncClient, token: str
) -> None:
    async def doc() -> AsyncIterator[bytes]:
        yield b'{"schedules": [{"name": "big", "timezone": "UTC", "hours": {}, "holidays": ["'
        for _ in range(DEFAULT_CAP // (64 * 1024) + 2):
            yield b"x" * 64 * 1024
        yield b'"]}]}'

    r = await client.post(
        "/api/v1/config",
        content=doc(),
        headers={**bearer(token), "Content-Type": "application/json"},
    )
    assert r.status_code == 413 and r.json()["error"]["details"] == {"max_bytes": DEFAULT_CAP}
    assert (await client.get("/api/v1/schedules/big", headers=bearer(token))).status_code == 404


async def test_only_an_admin_reads_the_configuration_with_its_secrets(
    store: Store, client: httpx.AsyncClient, token: str, viewer_token: str
) -> None:
    async with store.transaction() as s:
        await upsert_trunk(
            s, TrunkRec(name="acme", host="sip.example.com", username="u", password="trunk-pw-77")
        )
        await upsert_mailbox(s, MailboxRec(number="100", name="Main", pin="4821"))
    r = await client.get("/api/v1/config", headers=bearer(viewer_token))
    assert r.status_code == 403 and r.json()["error"]["id"] == "admin-only"
    assert "trunk-pw-77" not in r.text
    for path in ("/api/v1/config?format=yaml", "/api/v1/trunks", "/api/v1/mailboxes"):
        r = await client.get(path, headers=bearer(viewer_token))
        assert "trunk-pw-77" not in r.text and "4821" not in r.text, (path, r.text)
    doc = (await client.get("/api/v1/config", headers=bearer(token))).json()
    assert doc["trunks"][0]["password"] == "trunk-pw-77"  # a backup an admin can restore
    assert doc["mailboxes"][0]["pin"] == "4821"


@pytest.mark.parametrize(
    "make",
    [
        lambda p: flac_silence(p, seconds=100, rate=96_000, channels=8),
        lambda p: flac_claiming(p, seconds=600, rate=384_000, channels=8),
    ],
    ids=["real-silence", "lying-header"],
)
async def test_audio_that_would_decode_to_too_many_samples_is_refused(
    store: Store, client: httpx.AsyncClient, token: str, tmp_path: Path, make: object
) -> None:
    src = make(tmp_path / "in.flac")  # type: ignore[operator]
    r = await client.post(
        "/api/v1/audio",
        data={"name": "huge"},
        files={"file": ("huge.flac", src.read_bytes(), "audio/flac")},
        headers=bearer(token),
    )
    assert r.status_code == 413, r.text
    err = r.json()["error"]
    assert err["id"] == "too-many-samples"
    assert err["details"]["max_samples"] == 600 * 48_000 * 2
    assert "at most 57600000" in err["message"]
    names = [a["name"] for a in (await client.get("/api/v1/audio", headers=bearer(token))).json()]
    assert "huge" not in names
    audio_dir = store.data_dir / "audio"
    assert not audio_dir.exists() or list(audio_dir.iterdir()) == []


async def test_logout_closes_the_sessions_websockets(
    store: Store, client: httpx.AsyncClient
) -> None:
    await store.create_user("admin", "admin-pass", "admin")
    login = {"username": "admin", "password": "admin-pass"}
    assert (await client.post("/api/v1/auth/login", json=login)).status_code == 200
    cookies = dict(client.cookies)
    client.cookies.clear()
    other = (await client.post("/api/v1/auth/login", json=login)).json()["token"]
    client.cookies.clear()
    client.cookies.update(cookies)  # the client is the first session's browser
    ws_url = str(client.base_url).replace("http://", "ws://") + "/api/v1/events"
    cookie = f"flowpbx_session={cookies['flowpbx_session']}"
    mine = await websockets.connect(ws_url, additional_headers={"Cookie": cookie})
    theirs = await websockets.connect(f"{ws_url}?token={other}")
    try:
        assert json.loads(await asyncio.wait_for(mine.recv(), 10))["type"] == "hello"
        assert json.loads(await asyncio.wait_for(theirs.recv(), 10))["type"] == "hello"
        r = await client.post(
            "/api/v1/auth/logout", headers={"X-CSRF-Token": cookies["flowpbx_csrf"]}
        )
        assert r.status_code == 204
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(mine.recv(), 10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
        # the session is gone on the server: the cookie opens nothing any more
        r = await client.get("/api/v1/auth/me", headers={"Cookie": cookie})
        assert r.status_code == 401
        # another session is untouched
        await asyncio.wait_for(await theirs.ping(), 10)
    finally:
        for ws in (mine, theirs):
            with contextlib.suppress(ConnectionClosed):
                await ws.close()


async def test_a_revoked_session_loses_its_websocket_while_events_keep_coming(
    store: Store, client: httpx.AsyncClient, app: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The token is checked again every RECHECK_S seconds even when events never pause:
    a busy PBX must not keep feeding a session that expired or was revoked elsewhere."""
    import flowpbx.api.events as events_module

    monkeypatch.setattr(events_module, "RECHECK_S", 0.3)
    await store.create_user("admin", "admin-pass", "admin")
    login = {"username": "admin", "password": "admin-pass"}
    token = (await client.post("/api/v1/auth/login", json=login)).json()["token"]
    client.cookies.clear()
    ws_url = str(client.base_url).replace("http://", "ws://") + "/api/v1/events"
    bus = app.state.events  # type: ignore[attr-defined]
    ws = await websockets.connect(f"{ws_url}?token={token}")
    stop = asyncio.Event()

    async def busy() -> None:  # an event more often than RECHECK_S, all the time
        while not stop.is_set():
            bus.publish({"type": "call.started", "call_id": "x"})
            await asyncio.sleep(0.05)

    feeder = asyncio.create_task(busy())
    try:
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "hello"
        await store.revoke_token(token)  # the session ends without a logout on this server
        with pytest.raises(ConnectionClosed) as closed:
            async with asyncio.timeout(20):
                while True:
                    await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    finally:
        stop.set()
        await feeder
        with contextlib.suppress(ConnectionClosed):
            await ws.close()

"""The audit log over real HTTP, on SQLite and PostgreSQL: every configuration write through
the API leaves who/when/what, never a secret; failed writes and reads leave nothing;
``GET /api/v1/audit`` is for admins, filters by entity/actor/since and pages; the command
line writes as ``cli``."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import AsyncIterator
from typing import Any

import httpx
import numpy as np
import pytest
import soundfile as sf

from flowpbx.api import create_api
from flowpbx.api.audit import classify
from flowpbx.store import audit as audit_repo
from flowpbx.store.db import Store
from tests.api.conftest import bearer
from tests.api.fakepbx import FakePbx
from tests.api.server import serve_in_loop
from tests.api.test_flows import _company, menu_flow

SECRETS = ("s3cret-105-xyz", "trunk-pw-778", "9731", "Str0ng-pass-word", "An0ther-pass-word")


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


async def _audit(client: httpx.AsyncClient, token: str, **params: Any) -> list[dict[str, Any]]:
    r = await client.get("/api/v1/audit", params=params, headers=bearer(token))
    assert r.status_code == 200, r.text
    rows: list[dict[str, Any]] = r.json()
    return rows


async def test_configuration_writes_are_audited_without_secrets(
    store: Store, client_pbx: tuple[httpx.AsyncClient, FakePbx]
) -> None:
    client, _pbx = client_pbx
    admin = await _login(client, store, "admin", "admin")
    h = bearer(admin)
    await _company(store)  # extensions, trunk and numbers the flow needs (not audited: no API)
    writes: list[tuple[str, str, Any, int]] = [
        (
            "POST",
            "/api/v1/extensions",
            {"number": "105", "name": "Eve", "password": SECRETS[0]},
            201,
        ),
        ("PUT", "/api/v1/extensions/105", {"name": "Eve Adams", "password": SECRETS[0]}, 200),
        (
            "POST",
            "/api/v1/trunks",
            {"name": "prov", "host": "127.0.0.1", "password": SECRETS[1]},
            201,
        ),
        ("POST", "/api/v1/mailboxes", {"number": "100", "name": "Main", "pin": SECRETS[2]}, 201),
        ("PUT", "/api/v1/settings", {"timezone": "Europe/Riga"}, 200),
        ("POST", "/api/v1/tokens", {"name": "backup"}, 201),
        (
            "POST",
            "/api/v1/users",
            {"username": "ann", "password": SECRETS[3], "role": "viewer"},
            201,
        ),
        ("PUT", "/api/v1/users/ann/password", {"password": SECRETS[4]}, 204),
        ("POST", "/api/v1/flows", menu_flow(), 201),
        ("POST", "/api/v1/flows/Main line/publish", {"message": "first"}, 200),
        (
            "POST",
            "/api/v1/config",
            {"extensions": [{"number": "106", "name": "Joe", "password": SECRETS[0]}]},
            200,
        ),
        ("DELETE", "/api/v1/security/bans/203.0.113.9", None, 204),
        ("DELETE", "/api/v1/extensions/105", None, 204),
    ]
    token_secret = ""
    for method, path, body, status in writes:
        r = await client.request(method, path, json=body, headers=h)
        assert r.status_code == status, (path, r.text)
        if path == "/api/v1/tokens":
            token_secret = r.json()["token"]
    # failures and reads leave nothing
    r = await client.post("/api/v1/extensions", json={"number": "x"}, headers=h)
    assert r.status_code == 422
    assert (await client.delete("/api/v1/trunks/ghost", headers=h)).status_code == 404
    assert (await client.get("/api/v1/extensions", headers=h)).status_code == 200
    r = await client.post("/api/v1/flows/Main line/validate", headers=h)
    assert r.status_code == 200

    r = await client.get("/api/v1/audit", headers=h)
    assert r.status_code == 200, r.text
    assert r.headers["x-total-count"] == str(len(writes))
    entries = list(reversed(r.json()))  # oldest first
    got = [(e["actor"], e["action"], e["entity"], e["key"]) for e in entries]
    assert got == [
        ("admin", "create", "extension", "105"),
        ("admin", "update", "extension", "105"),
        ("admin", "create", "trunk", "prov"),
        ("admin", "create", "mailbox", "100"),
        ("admin", "update", "settings", ""),
        ("admin", "create", "token", "backup"),
        ("admin", "create", "user", "ann"),
        ("admin", "reset-password", "user", "ann"),
        ("admin", "create", "flow", "Main line"),
        ("admin", "publish", "flow", "Main line"),
        ("admin", "import", "config", ""),
        ("admin", "lift", "ban", "203.0.113.9"),
        ("admin", "delete", "extension", "105"),
    ]
    assert entries[1]["details"]["request"] == {"name": "Eve Adams", "password": "***"}
    assert entries[4]["details"]["request"] == {"timezone": "Europe/Riga"}
    assert entries[10]["details"]["request"]["extensions"][0]["password"] == "***"
    now = dt.datetime.now(dt.UTC)
    for e in entries:
        at = dt.datetime.fromisoformat(e["at"].replace("Z", "+00:00"))
        assert abs((now - at).total_seconds()) < 600, e
    text = r.text
    for secret in (*SECRETS, token_secret):
        assert secret not in text, secret
    # nor in the table itself (HA1 values are never part of a request body to begin with)
    async with store.sessions() as s:
        stored, _ = await audit_repo.list_entries(s, limit=500)
    assert all(secret not in repr(stored) for secret in (*SECRETS, token_secret))


async def test_audit_filters_pages_and_is_for_admins(
    store: Store, client_pbx: tuple[httpx.AsyncClient, FakePbx]
) -> None:
    client, _pbx = client_pbx
    admin = await _login(client, store, "admin", "admin")
    other = await _login(client, store, "chief", "admin")
    viewer = await _login(client, store, "viewer", "viewer")
    for i in range(5):
        body = {"number": f"2{i:02d}", "name": f"N{i}", "password": "pw-long-enough"}
        r = await client.post("/api/v1/extensions", json=body, headers=bearer(admin))
        assert r.status_code == 201, r.text
    r = await client.post(
        "/api/v1/trunks", json={"name": "t1", "host": "127.0.0.1"}, headers=bearer(other)
    )
    assert r.status_code == 201, r.text
    async with store.transaction() as s:  # an old entry, for `since`
        await audit_repo.record(
            s,
            actor="cli",
            action="import",
            entity="config",
            at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
        )

    assert (await client.get("/api/v1/audit", headers=bearer(viewer))).status_code == 403
    assert (await client.get("/api/v1/audit")).status_code == 401
    assert len(await _audit(client, admin)) == 7
    assert [e["key"] for e in await _audit(client, admin, entity="trunk")] == ["t1"]
    assert {e["actor"] for e in await _audit(client, admin, actor="admin")} == {"admin"}
    assert len(await _audit(client, admin, actor="admin")) == 5
    recent = await _audit(client, admin, since="2024-01-01T00:00:00Z")
    assert len(recent) == 6 and all(e["actor"] != "cli" for e in recent)
    naive = await _audit(client, admin, since="2024-01-01T00:00:00")  # read as UTC
    assert len(naive) == 6
    page1 = await _audit(client, admin, limit=3)
    page2 = await _audit(client, admin, limit=3, offset=3)
    page3 = await _audit(client, admin, limit=3, offset=6)
    ids = [e["id"] for e in page1 + page2 + page3]
    assert len(ids) == len(set(ids)) == 7
    assert page3[0]["actor"] == "cli"  # newest first: the 2020 entry is last
    r = await client.get("/api/v1/audit", params={"limit": 0}, headers=bearer(admin))
    assert r.status_code == 422
    r = await client.get("/api/v1/audit", params={"since": "yesterday"}, headers=bearer(admin))
    assert r.status_code == 422


def test_scrub_removes_secrets_at_any_depth() -> None:
    doc = {
        "number": "101",
        "password": "p",
        "ha1_md5": "abc",
        "nested": [{"pin": "1234", "voicemail_pin": "1", "api_token": "t", "ok": "yes"}],
        "trunk": {"secret": "s", "host": "h"},
        "long": "x" * 5000,
    }
    out = audit_repo.scrub(doc)
    assert out["password"] == out["ha1_md5"] == "***"
    assert out["nested"][0] == {
        "pin": "***",
        "voicemail_pin": "***",
        "api_token": "***",
        "ok": "yes",
    }
    assert out["trunk"] == {"secret": "***", "host": "h"}
    assert len(out["long"]) < 600 and out["number"] == "101"


async def test_more_resources_are_audited(
    store: Store, client_pbx: tuple[httpx.AsyncClient, FakePbx]
) -> None:
    client, _pbx = client_pbx
    admin = await _login(client, store, "admin", "admin")
    h = bearer(admin)
    await _company(store)
    assert (await client.post("/api/v1/flows", json=menu_flow(), headers=h)).status_code == 201
    for _ in range(2):
        r = await client.post("/api/v1/flows/Main line/publish", json={"message": "m"}, headers=h)
        assert r.status_code == 200, r.text
    wav = io.BytesIO()
    sf.write(wav, np.zeros(8000, dtype=np.int16), 8000, format="WAV", subtype="PCM_16")
    steps: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "/api/v1/flows/Main line/rollback", {"json": {"revision": 1}}),
        ("POST", "/api/v1/numbers", {"json": {"number": "+37167000077", "trunk": "provider"}}),
        (
            "POST",
            "/api/v1/schedules",
            {"json": {"name": "office", "timezone": "UTC", "hours": {}, "holidays": []}},
        ),
        ("PUT", "/api/v1/queues/sales", {"json": {"strategy": "fewest_calls", "members": []}}),
        (
            "POST",
            "/api/v1/audio",
            {"data": {"name": "hello"}, "files": {"file": ("hello.wav", wav.getvalue())}},
        ),
        ("DELETE", "/api/v1/schedules/office", {}),
    ]
    for method, path, kw in steps:
        r = await client.request(method, path, headers=h, **kw)
        assert 200 <= r.status_code < 300, (path, r.status_code, r.text)
    entries = list(reversed(await _audit(client, admin)))
    got = [(e["action"], e["entity"], e["key"]) for e in entries]
    assert got == [
        ("create", "flow", "Main line"),
        ("publish", "flow", "Main line"),
        ("publish", "flow", "Main line"),
        ("rollback", "flow", "Main line"),
        ("create", "number", "+37167000077"),
        ("create", "schedule", "office"),
        ("update", "queue", "sales"),
        ("create", "audio", "hello"),
        ("delete", "schedule", "office"),
    ]
    upload = entries[7]["details"]["request"]
    assert upload["content_type"].startswith("multipart/form-data") and upload["bytes"] > 16000
    assert entries[3]["details"]["request"] == {"revision": 1}


@pytest.mark.parametrize(
    ("method", "path", "want"),
    [
        ("POST", "/api/v1/auth/login", None),
        ("POST", "/api/v1/auth/logout", None),
        ("POST", "/api/v1/calls/abc/hangup", None),
        ("DELETE", "/api/v1/calls/abc", None),
        ("POST", "/api/v1/flows/Main/validate", None),
        ("POST", "/api/v1/flows/Main/simulate", None),
        ("POST", "/api/v1/flows/test-request", None),
        ("DELETE", "/api/v1/mailboxes/100/messages/7", None),
        ("GET", "/api/v1/extensions", None),
        ("PUT", "/api/v1/extensions/101", ("update", "extension", "101")),
        ("POST", "/api/v1/flows/Main%20line/publish", ("publish", "flow", "Main line")),
        ("POST", "/api/v1/flows/import", ("import", "flow", "")),
        ("PUT", "/api/v1/queues/Main line/q1", ("update", "queue", "Main line/q1")),
        ("DELETE", "/api/v1/security/bans/192.0.2.1", ("lift", "ban", "192.0.2.1")),
        ("PUT", "/api/v1/numbers/%2B37167000001", ("update", "number", "+37167000001")),
    ],
)
def test_classify(method: str, path: str, want: tuple[str, str, str] | None) -> None:
    got = classify(method, path)
    assert (None if got is None else (got.action, got.entity, got.key)) == want

from __future__ import annotations

import datetime as dt

import httpx

from flowpbx.store.db import Store
from flowpbx.store.records import CallRecord, RegistrationRec

T0 = dt.datetime(2026, 5, 4, 10, 0, tzinfo=dt.UTC)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_health_needs_no_auth(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/health")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "database": "ok", "pbx": "absent"}


async def test_login_sets_httponly_cookie_and_returns_token(
    store: Store, client: httpx.AsyncClient
) -> None:
    await store.create_user("ann", "ann-password", "viewer")
    r = await client.post(
        "/api/v1/auth/login", json={"username": "ann", "password": "ann-password"}
    )
    assert r.status_code == 200
    body = r.json()
    assert body["user"] == {"username": "ann", "role": "viewer"}
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"flowpbx_session={body['token']}")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    # the cookie alone authenticates
    me = await client.get("/api/v1/auth/me")
    assert me.status_code == 200 and me.json()["username"] == "ann"


async def test_wrong_password_is_401_with_error_shape(
    store: Store, client: httpx.AsyncClient
) -> None:
    await store.create_user("ann", "ann-password", "viewer")
    for creds in ({"username": "ann", "password": "nope"}, {"username": "x", "password": "y"}):
        r = await client.post("/api/v1/auth/login", json=creds)
        assert r.status_code == 401
        assert r.json()["error"]["id"] == "bad-credentials"
        assert "set-cookie" not in r.headers


async def test_everything_else_needs_auth(client: httpx.AsyncClient) -> None:
    for path in (
        "/api/v1/extensions",
        "/api/v1/extensions/101",
        "/api/v1/history",
        "/api/v1/history/1",
        "/api/v1/auth/me",
    ):
        r = await client.get(path)
        assert r.status_code == 401, path
        err = r.json()["error"]
        assert err["id"] == "unauthorized" and err["message"]
        assert r.headers["www-authenticate"] == "Bearer"
    r = await client.get("/api/v1/extensions", headers=_bearer("forged-token"))
    assert r.status_code == 401


async def test_logout_revokes_the_token(client: httpx.AsyncClient, token: str) -> None:
    assert (await client.get("/api/v1/auth/me", headers=_bearer(token))).status_code == 200
    r = await client.post("/api/v1/auth/logout", headers=_bearer(token))
    assert r.status_code == 204
    assert (await client.get("/api/v1/auth/me", headers=_bearer(token))).status_code == 401


async def test_extensions_list_and_detail_with_registrations(
    store: Store, client: httpx.AsyncClient, token: str
) -> None:
    await store.upsert_extension(number="101", name="Alice", password="pw-101", outbound=True)
    await store.upsert_extension(number="102", name="Bob", password="pw-102")
    now = dt.datetime.now(dt.UTC)
    await store.save_registration(
        RegistrationRec(
            extension="101",
            contact="sip:101@10.0.0.7:5062",
            source="10.0.0.7:5062",
            transport="udp",
            expires_at=now + dt.timedelta(seconds=300),
            user_agent="Desk/2",
        )
    )
    await store.save_registration(
        RegistrationRec(
            extension="102",
            contact="sip:102@10.0.0.8",
            source="10.0.0.8:5060",
            transport="udp",
            expires_at=now - dt.timedelta(seconds=5),
        )
    )  # expired
    r = await client.get("/api/v1/extensions", headers=_bearer(token))
    assert r.status_code == 200
    items = r.json()
    assert [e["number"] for e in items] == ["101", "102"]
    alice, bob = items
    assert alice["registered"] and not bob["registered"] and bob["registrations"] == []
    reg = alice["registrations"][0]
    assert reg["contact"] == "sip:101@10.0.0.7:5062" and reg["source"] == "10.0.0.7:5062"
    assert reg["user_agent"] == "Desk/2" and 290 <= reg["expires"] <= 300
    assert not any("ha1" in k for k in alice)
    one = await client.get("/api/v1/extensions/101", headers=_bearer(token))
    assert one.status_code == 200 and one.json() == alice
    missing = await client.get("/api/v1/extensions/999", headers=_bearer(token))
    assert missing.status_code == 404
    assert missing.json()["error"]["id"] == "extension-not-found"


async def test_history_list_and_detail_with_trace(
    store: Store, client: httpx.AsyncClient, token: str
) -> None:
    trace = [
        {"t": 0.0, "node": "start", "output": "next"},
        {"t": 2.0, "node": "menu", "output": "1", "facts": {"digits": "1"}},
    ]
    pk = await store.add_call_history(
        CallRecord(
            call_id="abc",
            started_at=T0,
            answered_at=T0 + dt.timedelta(seconds=3),
            ended_at=T0 + dt.timedelta(seconds=63),
            caller="+3712000",
            did="+37167000001",
            flow="Main line",
            revision=2,
            answered_by="101",
            outcome="answered",
            trace=trace,
        )
    )
    for i in range(3):
        await store.add_call_history(
            CallRecord(
                call_id=f"x{i}", started_at=T0 + dt.timedelta(minutes=i + 1), outcome="no_answer"
            )
        )
    r = await client.get("/api/v1/history", params={"limit": 2}, headers=_bearer(token))
    assert r.status_code == 200
    assert [c["call_id"] for c in r.json()] == ["x2", "x1"]
    r = await client.get(
        "/api/v1/history", params={"limit": 2, "offset": 3}, headers=_bearer(token)
    )
    assert [c["call_id"] for c in r.json()] == ["abc"]
    d = await client.get(f"/api/v1/history/{pk}", headers=_bearer(token))
    assert d.status_code == 200
    body = d.json()
    assert body["trace"] == trace and body["answered_by"] == "101"
    assert body["duration_s"] == 63 and body["talk_s"] == 60
    assert dt.datetime.fromisoformat(body["started_at"]) == T0
    bad = await client.get("/api/v1/history", params={"limit": 0}, headers=_bearer(token))
    assert bad.status_code == 422
    err = bad.json()["error"]
    assert err["id"] == "invalid-request" and err["details"][0]["path"] == "query.limit"
    assert (await client.get("/api/v1/history/424242", headers=_bearer(token))).status_code == 404


async def test_unknown_route_uses_error_shape(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/nothing-here")
    assert r.status_code == 404
    assert r.json()["error"]["id"] == "not-found"


async def test_openapi_is_served(client: httpx.AsyncClient) -> None:
    r = await client.get("/openapi.json")
    assert r.status_code == 200
    assert "/api/v1/extensions/{number}" in r.json()["paths"]

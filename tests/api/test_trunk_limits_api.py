"""A trunk's own limits over the API (issue 16): set, shown, changed, and bad values answered
422 with the field."""

from __future__ import annotations

import httpx

from tests.api.conftest import bearer


async def test_trunk_limits_through_the_api(client: httpx.AsyncClient, token: str) -> None:
    h = bearer(token)
    trunk = {"name": "provider", "host": "127.0.0.1", "max_calls": 4, "invite_rate": "2:8"}
    r = await client.post("/api/v1/trunks", json=trunk, headers=h)
    assert r.status_code == 201, r.text
    assert (r.json()["max_calls"], r.json()["invite_rate"]) == (4, "2:8")
    r = await client.put(
        "/api/v1/trunks/provider", json={"host": "127.0.0.1", "max_calls": 0}, headers=h
    )
    assert r.status_code == 200, r.text
    assert (r.json()["max_calls"], r.json()["invite_rate"]) == (0, None)
    for field, value in (("max_calls", -3), ("invite_rate", "lots")):
        r = await client.put(
            "/api/v1/trunks/provider", json={"host": "127.0.0.1", field: value}, headers=h
        )
        assert r.status_code == 422, r.text
        assert {d["path"] for d in r.json()["error"]["details"]} == {f"body.{field}"}

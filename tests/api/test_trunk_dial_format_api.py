"""A trunk's `dial_format` over the API and the configuration file (issue 18): set, shown,
exported, changed, and bad values answered 422 naming the field."""

from __future__ import annotations

import httpx

from tests.api.conftest import bearer


async def test_dial_format_through_the_api(client: httpx.AsyncClient, token: str) -> None:
    h = bearer(token)
    trunk = {
        "name": "provider",
        "host": "127.0.0.1",
        "country_code": "371",
        "national_prefix": "0",
        "dial_format": "national",
    }
    r = await client.post("/api/v1/trunks", json=trunk, headers=h)
    assert r.status_code == 201, r.text
    assert r.json()["dial_format"] == "national"
    r = await client.get("/api/v1/trunks/provider", headers=h)
    assert r.json()["dial_format"] == "national"
    body = {"host": "127.0.0.1", "country_code": "371", "dial_format": "international"}
    r = await client.put("/api/v1/trunks/provider", json=body, headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["dial_format"] == "international"
    r = await client.put("/api/v1/trunks/provider", json={"host": "127.0.0.1"}, headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["dial_format"] is None  # as dialled


async def test_bad_dial_format_is_422_naming_the_field(
    client: httpx.AsyncClient, token: str
) -> None:
    h = bearer(token)
    bad = [
        {"country_code": "371", "dial_format": "local"},  # no such form
        {"dial_format": "e164"},  # needs the country code to read national dialling
    ]
    for extra in bad:
        r = await client.post(
            "/api/v1/trunks", json={"name": "p", "host": "127.0.0.1", **extra}, headers=h
        )
        assert r.status_code == 422, r.text
        assert {d["path"] for d in r.json()["error"]["details"]} == {"body.dial_format"}, r.text
        r = await client.put("/api/v1/trunks/p", json={"host": "127.0.0.1", **extra}, headers=h)
        assert r.status_code == 422, r.text
        assert {d["path"] for d in r.json()["error"]["details"]} == {"body.dial_format"}, r.text

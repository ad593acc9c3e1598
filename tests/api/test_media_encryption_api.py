"""SRTP setting per extension and trunk over the API (issue 17): set, shown, changed, and
bad values answered 422 naming the field."""

from __future__ import annotations

import httpx

from tests.api.conftest import bearer


async def test_trunk_media_encryption(client: httpx.AsyncClient, token: str) -> None:
    h = bearer(token)
    trunk = {"name": "provider", "host": "127.0.0.1", "media_encryption": "required"}
    r = await client.post("/api/v1/trunks", json=trunk, headers=h)
    assert r.status_code == 201, r.text
    assert r.json()["media_encryption"] == "required"
    r = await client.put("/api/v1/trunks/provider", json={"host": "127.0.0.1"}, headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["media_encryption"] == "none"
    for value in ("srtp", "", 1, None):
        r = await client.put(
            "/api/v1/trunks/provider",
            json={"host": "127.0.0.1", "media_encryption": value},
            headers=h,
        )
        assert r.status_code == 422, r.text
        paths = {d["path"] for d in r.json()["error"]["details"]}
        assert paths == {"body.media_encryption"}


async def test_extension_media_encryption(client: httpx.AsyncClient, token: str) -> None:
    h = bearer(token)
    ext = {"number": "301", "name": "Sec", "password": "long-s3cret-301"}
    r = await client.post(
        "/api/v1/extensions", json={**ext, "media_encryption": "optional"}, headers=h
    )
    assert r.status_code == 201, r.text
    assert r.json()["media_encryption"] == "optional"
    r = await client.get("/api/v1/extensions/301", headers=h)
    assert r.json()["media_encryption"] == "optional"
    r = await client.put(
        "/api/v1/extensions/301", json={"name": "Sec", "media_encryption": "required"}, headers=h
    )
    assert r.status_code == 200, r.text
    assert r.json()["media_encryption"] == "required"
    r = await client.put(
        "/api/v1/extensions/301", json={"name": "Sec", "media_encryption": "always"}, headers=h
    )
    assert r.status_code == 422, r.text
    assert {d["path"] for d in r.json()["error"]["details"]} == {"body.media_encryption"}

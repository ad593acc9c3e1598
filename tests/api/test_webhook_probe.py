"""POST /api/v1/flows/test-request against a real local HTTP server (tests/services'
`web` peer): the element's own request with sample call facts, the reply, the output it
would take; private addresses refused unless FLOWPBX_HTTP_ALLOW_PRIVATE=1; admin only."""

from __future__ import annotations

import json

import httpx
import pytest
from fastapi import FastAPI

from tests.api.conftest import bearer, with_settings
from tests.services.conftest import WebPeer, web

__all__ = ["web"]  # the fixture, used by name

URL = "/api/v1/flows/test-request"


@pytest.fixture
def allow_private(app: FastAPI) -> None:
    with_settings(app, http_allow_private=True)  # FLOWPBX_HTTP_ALLOW_PRIVATE=1


def notify(url: str, **params: object) -> dict[str, object]:
    return {"type": "http_notify", "params": {"url": url, **params}}


@pytest.mark.usefixtures("allow_private")
async def test_webhook_reply_picks_the_connected_output(
    client: httpx.AsyncClient, token: str, web: WebPeer
) -> None:
    node = notify(web.url("/reply/2"), method="POST")
    node["next"] = {"2": "sales", "default": "reception"}
    r = await client.post(
        URL,
        json={"node": node, "caller": "+371 2000", "did": "+37167000001", "flow": "Main"},
        headers=bearer(token),
    )
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["status"] == 200
    assert out["body"] == "2"
    assert out["output"] == "2"
    assert out["error"] is None
    assert out["method"] == "POST"
    assert out["url"] == web.url("/reply/2")
    assert out["elapsed_ms"] >= 0
    # the server got the element's default body: the call's facts as JSON
    got = web.wait_request()
    assert got.method == "POST" and got.path == "/reply/2"
    assert got.headers["Content-Type"] == "application/json"
    facts = got.json()
    assert facts["caller"] == "+371 2000"
    assert facts["did"] == "+37167000001"
    assert facts["flow"] == "Main"
    assert json.loads(out["request_body"]) == facts

    # the same reply with output 2 not connected: default
    node["next"] = {"1": "sales", "default": "reception"}
    r = await client.post(URL, json={"node": node}, headers=bearer(token))
    assert r.json()["output"] == "default" and r.json()["body"] == "2"


@pytest.mark.usefixtures("allow_private")
async def test_errors_and_server_trouble_take_default(
    client: httpx.AsyncClient, token: str, web: WebPeer
) -> None:
    h = bearer(token)
    node = notify(web.url("/status/500/broken?from={caller}"), body='{"who": "{caller}"}')
    node["next"] = {"1": "a", "default": "b"}
    r = await client.post(URL, json={"node": node, "caller": 'x"y'}, headers=h)
    out = r.json()
    assert (out["status"], out["output"]) == (500, "default")
    assert out["url"] == web.url("/status/500/broken?from=x%22y")  # URL-encoded
    got = web.wait_request()
    assert got.path == "/status/500/broken?from=x%22y"
    assert got.json() == {"who": 'x"y'}  # JSON-escaped, like on a live call

    # the reply body is cut to an excerpt
    r = await client.post(URL, json={"node": notify(web.url("/big"))}, headers=h)
    assert r.json()["status"] == 200 and r.json()["body"] == "x" * 2000

    # a server that is not there: no status, the error says why
    dead = web.url("/x").replace(str(web.port), "9")
    r = await client.post(URL, json={"node": notify(dead, timeout_s=2)}, headers=h)
    out = r.json()
    assert out["status"] is None and out["output"] == "default"
    assert out["error"].startswith("HttpConnectError")


async def test_private_address_refused_without_the_setting(
    client: httpx.AsyncClient, token: str, web: WebPeer
) -> None:
    r = await client.post(URL, json={"node": notify(web.url("/reply/1"))}, headers=bearer(token))
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["status"] is None and out["output"] == "default"
    assert "HttpTargetRefused" in out["error"] and "FLOWPBX_HTTP_ALLOW_PRIVATE" in out["error"]
    assert web.requests == []  # nothing reached the server

    # the installation setting allows it, as it does for calls
    h = bearer(token)
    r = await client.put("/api/v1/settings", json={"allow_private_webhooks": True}, headers=h)
    assert r.status_code == 200, r.text
    r = await client.post(URL, json={"node": notify(web.url("/reply/1"))}, headers=h)
    assert (r.json()["status"], r.json()["body"], r.json()["error"]) == (200, "1", None)
    r = await client.put("/api/v1/settings", json={"allow_private_webhooks": False}, headers=h)
    r = await client.post(URL, json={"node": notify(web.url("/reply/1"))}, headers=h)
    assert r.json()["status"] is None and "HttpTargetRefused" in r.json()["error"]
    assert len(web.requests) == 1


async def test_names_and_spellings_of_loopback_are_refused_too(
    client: httpx.AsyncClient, token: str, web: WebPeer
) -> None:
    """The check is on the addresses a host resolves to, not on how the URL spells it."""
    h = bearer(token)
    for host in ("localhost", "[::ffff:127.0.0.1]", "2130706433", "127.1", "0.0.0.0"):
        url = f"http://{host}:{web.port}/reply/1"
        r = await client.post(URL, json={"node": notify(url, timeout_s=3)}, headers=h)
        assert r.status_code == 200, r.text
        out = r.json()
        assert out["status"] is None and out["output"] == "default", (host, out)
        assert "HttpTargetRefused" in out["error"], (host, out)
    assert web.requests == []  # nothing reached the server


@pytest.mark.usefixtures("allow_private")
async def test_redirects_are_answers_never_followed(
    client: httpx.AsyncClient, token: str, web: WebPeer
) -> None:
    node = notify(web.url("/redirect"))
    node["next"] = {"1": "a", "default": "b"}
    r = await client.post(URL, json={"node": node}, headers=bearer(token))
    out = r.json()
    assert (out["status"], out["output"], out["error"]) == (302, "default", None), out
    assert web.wait_request().path == "/redirect"
    assert [got.path for got in web.requests] == ["/redirect"]  # /reply/1 never asked


@pytest.mark.usefixtures("allow_private")
async def test_caller_lookup_finds_the_name(
    client: httpx.AsyncClient, token: str, web: WebPeer
) -> None:
    web.names["+37120000001"] = "Anna Berzina"
    h = bearer(token)
    node = {"type": "caller_lookup", "params": {"url": web.url("/json/{caller}")}}
    node["params"]["json_field"] = "contact.name"  # type: ignore[index]
    for _ in range(2):  # no cache: each test asks the server
        r = await client.post(URL, json={"node": node, "caller": "+37120000001"}, headers=h)
        out = r.json()
        assert out["status"] == 200 and out["output"] == "next"
        assert out["caller_name"] == "Anna Berzina"
        assert json.loads(out["body"])["contact"]["name"] == "Anna Berzina"
    assert len(web.requests) == 2
    r = await client.post(URL, json={"node": node, "caller": "+1000"}, headers=h)
    assert r.json()["status"] == 404 and r.json()["caller_name"] is None


async def test_bad_settings_are_422_and_viewers_403(
    client: httpx.AsyncClient, token: str, viewer_token: str
) -> None:
    h = bearer(token)
    cases = [
        ({"node": notify("ftp://example.com")}, "body.node.params.url"),
        ({"node": notify("https://example.com", timeout_s=0)}, "body.node.params.timeout_s"),
        ({"node": notify("https://example.com", method="TRACE")}, "body.node.params.method"),
        ({"node": {"type": "play", "params": {}}}, "body.node.type"),
        ({"node": {"type": "caller_lookup", "params": {}}}, "body.node.params.url"),
        ({"node": notify("https://example.com"), "digits": "12a"}, "body.digits"),
    ]
    for body, path in cases:
        r = await client.post(URL, json=body, headers=h)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["error"]["details"][0]["path"] == path, r.text
    r = await client.post(
        URL, json={"node": notify("https://example.com")}, headers=bearer(viewer_token)
    )
    assert r.status_code == 403 and r.json()["error"]["id"] == "admin-only"

"""WebClient against a real local HTTP server, alone and under the `http_notify` element."""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Any

import pytest

from flowpbx.flow.context import FlowServices, HttpRequest
from flowpbx.flow.elements import http_notify
from flowpbx.flow.interpreter import run_flow
from flowpbx.flow.model import load_flow
from flowpbx.flow.simulator import SimulatedSession
from flowpbx.services.errors import (
    HttpConnectError,
    HttpInvalidRequest,
    HttpProtocolError,
    HttpTargetRefused,
    HttpTimeout,
)
from flowpbx.services.http import HttpSettings, WebClient, is_public_address
from flowpbx.settings import Settings
from tests.flow.helpers import CALLER, DID, MONDAY_10
from tests.netutil import free_tcp_port, release_port
from tests.services.conftest import WebPeer


def _req(
    url: str, *, method: str = "POST", body: str | None = "{}", timeout_s: float = 3.0
) -> HttpRequest:
    headers = {"Content-Type": "application/json"} if body is not None else {}
    return HttpRequest(method=method, url=url, headers=headers, body=body, timeout_s=timeout_s)


def hook_flow(url: str, connected: tuple[str, ...], **params: Any) -> dict[str, Any]:
    """numbers -> http_notify -> a play node per connected output (so the trace shows it)."""
    nodes: dict[str, Any] = {
        "start": {"type": "numbers", "params": {"numbers": [DID]}, "next": {"next": "hook"}},
        "hook": {
            "type": "http_notify",
            "params": {"url": url, **params},
            "next": {out: f"after_{out}" for out in connected},
        },
    }
    for out in connected:
        nodes[f"after_{out}"] = {"type": "hangup", "params": {}}
    return {"name": "Hook line", "entry": "start", "nodes": nodes}


async def run_hook(client: WebClient, doc: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    session = SimulatedSession(caller=CALLER, did=DID, at=MONDAY_10, call_id="call-42")
    run = await run_flow(load_flow(doc), session, services=FlowServices(http=client))
    entry = next(e for e in run.trace if e.node == "hook")
    return entry.output, dict(entry.facts)


# ------------------------------------------------------------------------ the client alone


async def test_post_reaches_server_with_body_and_headers(client: WebClient, web: WebPeer) -> None:
    reply = await client(_req(web.url("/reply/3"), body='{"a": 1}'))
    assert (reply.status, reply.body) == (200, "3")
    (rec,) = web.requests
    assert rec.method == "POST"
    assert rec.json() == {"a": 1}
    assert rec.headers["Content-Type"] == "application/json"
    assert rec.headers["User-Agent"].startswith("flowpbx/")
    assert rec.headers["Accept-Encoding"] == "identity"


async def test_get_without_body(client: WebClient, web: WebPeer) -> None:
    reply = await client(_req(web.url("/reply/ok"), method="GET", body=None))
    assert reply.body == "ok"
    assert web.requests[0].method == "GET"
    assert web.requests[0].body == b""


async def test_error_status_is_a_reply(client: WebClient, web: WebPeer) -> None:
    reply = await client(_req(web.url("/status/503/busy")))
    assert (reply.status, reply.body) == (503, "busy")


async def test_redirect_is_not_followed(client: WebClient, web: WebPeer) -> None:
    reply = await client(_req(web.url("/redirect")))
    assert reply.status == 302
    assert [r.path for r in web.requests] == ["/redirect"]


async def test_long_reply_is_cut(web: WebPeer) -> None:
    c = WebClient(HttpSettings(allow_private=True, max_reply_bytes=1000))
    try:
        reply = await c(_req(web.url("/big")))
    finally:
        await c.aclose()
    assert reply.status == 200
    assert reply.body == "x" * 1000


async def test_slow_server_times_out(client: WebClient, web: WebPeer) -> None:
    with pytest.raises(HttpTimeout, match=r"within 0\.3 s"):
        await client(_req(web.url("/slow"), timeout_s=0.3))
    assert web.slow_started.is_set()  # the request arrived ...
    assert not web.release.is_set()  # ... and its reply never did: we stopped waiting


async def test_server_down(client: WebClient) -> None:
    port = free_tcp_port()  # reserved, nothing listening
    try:
        with pytest.raises(HttpConnectError):
            await client(_req(f"http://127.0.0.1:{port}/hook"))
    finally:
        release_port(port)


async def test_not_http(client: WebClient, web: WebPeer) -> None:
    with pytest.raises(HttpProtocolError):
        await client(_req(web.url("/garbage")))


async def test_bad_urls_refused(client: WebClient) -> None:
    for url in ("ftp://example.com/x", "not a url", "http:///nohost", "file:///etc/passwd"):
        with pytest.raises(HttpTargetRefused):
            await client(_req(url))


async def test_unresolvable_host(client: WebClient) -> None:
    with pytest.raises(HttpConnectError, match="resolve"):
        await client(_req("http://no-such-host.invalid/hook", timeout_s=5))


async def test_private_targets_refused_by_default(web: WebPeer) -> None:
    guarded = WebClient(HttpSettings(allow_private=False))
    try:
        for host in ("127.0.0.1", "localhost", "[::1]", "[::ffff:127.0.0.1]"):
            url = f"http://{host}:{web.port}/reply/1"
            with pytest.raises(HttpTargetRefused, match="FLOWPBX_HTTP_ALLOW_PRIVATE"):
                await guarded(_req(url))
    finally:
        await guarded.aclose()
    assert web.requests == []  # not one byte reached the server


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2a00:1450:4001:80b::200e", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),  # cloud metadata
        ("100.64.0.1", False),  # carrier-grade NAT
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("::1", False),
        ("fe80::1", False),
        ("fd00::1", False),
        ("::ffff:10.0.0.1", False),
        ("::ffff:8.8.8.8", True),
        # IPv6 forms that embed an IPv4 address are judged by it, or refused whole
        ("64:ff9b::7f00:1", False),  # NAT64 of 127.0.0.1
        ("64:ff9b::10.0.0.1", False),
        ("64:ff9b::192.168.1.1", False),
        ("64:ff9b::169.254.169.254", False),
        ("64:ff9b::8.8.8.8", True),  # NAT64 of a public address
        ("64:ff9b:1::a00:1", False),  # local-use NAT64 prefix
        ("::127.0.0.1", False),  # IPv4-compatible
        ("::10.0.0.1", False),
        ("::8.8.8.8", False),  # deprecated form: refused whatever it carries
        ("::ffff:0:127.0.0.1", False),  # SIIT-translated
        ("2002:7f00:1::", False),  # 6to4 of 127.0.0.1
        ("2002:a00:1::1", False),  # 6to4 of 10.0.0.1
        ("2002:c0a8:101::1", False),  # 6to4 of 192.168.1.1
        ("2002:808:808::1", True),  # 6to4 of 8.8.8.8
        ("fec0::1", False),  # site-local
        ("fec0::10.0.0.1", False),
        ("feff::1", False),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", False),  # Teredo
    ],
)
def test_is_public_address(address: str, public: bool) -> None:
    assert is_public_address(ipaddress.ip_address(address)) is public


def test_allow_private_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWPBX_HTTP_ALLOW_PRIVATE", "1")
    assert Settings.from_env().http_allow_private is True
    monkeypatch.setenv("FLOWPBX_HTTP_ALLOW_PRIVATE", "0")
    assert Settings.from_env().http_allow_private is False
    monkeypatch.delenv("FLOWPBX_HTTP_ALLOW_PRIVATE")
    assert Settings.from_env().http_allow_private is False


async def test_one_pool_serves_concurrent_requests(client: WebClient, web: WebPeer) -> None:
    replies = await asyncio.gather(*(client(_req(web.url(f"/reply/{i}"))) for i in range(20)))
    assert sorted(r.body for r in replies) == sorted(str(i) for i in range(20))


# ------------------------------------------------------------------- under http_notify


async def test_webhook_gets_call_facts_as_json(client: WebClient, web: WebPeer) -> None:
    outs = ("1", "2", "3", "4", "5", "default")
    output, facts = await run_hook(client, hook_flow(web.url("/reply/2"), outs))
    assert output == "2"
    assert facts["status"] == 200
    body = web.requests[0].json()
    assert body["caller"] == CALLER
    assert body["did"] == DID
    assert body["call_id"] == "call-42"
    assert body["flow"] == "Hook line"
    assert body["date"] == "2026-05-04"


@pytest.mark.parametrize("answer", ["1", "2", "3", "4", "5"])
async def test_reply_picks_branch(client: WebClient, web: WebPeer, answer: str) -> None:
    outs = ("1", "2", "3", "4", "5", "default")
    output, _ = await run_hook(client, hook_flow(web.url(f"/reply/{answer}%0A"), outs))
    assert output == answer


@pytest.mark.parametrize(
    "path", ["/reply/6", "/reply/yes", "/reply/", "/status/500/1", "/big", "/redirect"]
)
async def test_other_replies_take_default(client: WebClient, web: WebPeer, path: str) -> None:
    output, facts = await run_hook(client, hook_flow(web.url(path), ("1", "default")))
    assert output == "default"
    assert "error" not in facts


async def test_garbage_reply_takes_default(client: WebClient, web: WebPeer) -> None:
    output, facts = await run_hook(client, hook_flow(web.url("/garbage"), ("1", "default")))
    assert output == "default"
    assert str(facts["error"]).startswith("HttpProtocolError")


async def test_slow_webhook_takes_default(client: WebClient, web: WebPeer) -> None:
    doc = hook_flow(web.url("/slow"), ("1", "default"), timeout_s=0.3)
    output, facts = await run_hook(client, doc)
    assert output == "default"
    assert str(facts["error"]).startswith("HttpTimeout")
    assert not web.release.is_set()


async def test_dead_webhook_takes_default(client: WebClient) -> None:
    port = free_tcp_port()
    try:
        doc = hook_flow(f"http://127.0.0.1:{port}/hook", ("1", "default"))
        output, facts = await run_hook(client, doc)
    finally:
        release_port(port)
    assert output == "default"
    assert str(facts["error"]).startswith("HttpConnectError")


async def test_fire_and_forget_when_no_numbered_output(client: WebClient, web: WebPeer) -> None:
    doc = hook_flow(web.url("/slow"), ("default",), body='{"who": "{caller}"}')
    output, facts = await run_hook(client, doc)
    # the flow went on without waiting: the server is still holding the reply back
    assert output == "default"
    assert facts["waited"] is False
    rec = await asyncio.to_thread(web.wait_request)
    assert rec.json() == {"who": CALLER}
    web.release.set()
    # let the background request finish before the client closes
    await asyncio.gather(*http_notify._BACKGROUND, return_exceptions=True)


async def test_author_headers_sent_and_checked(client: WebClient, web: WebPeer) -> None:
    request = HttpRequest(
        method="POST",
        url=web.url("/reply/1"),
        headers={"X-Api-Key": "k1", "X-Company": "Kārlis"},
        body="x",
        timeout_s=3,
    )
    assert (await client(request)).body == "1"
    assert web.requests[0].headers["X-Api-Key"] == "k1"
    for bad in ({"X-A": "v\r\nInjected: 1"}, {"Bad Name": "v"}, {"X-A": "nul\x00"}):
        with pytest.raises(HttpInvalidRequest):
            await client(
                HttpRequest(
                    method="POST", url=web.url("/reply/1"), headers=bad, body=None, timeout_s=3
                )
            )
    assert len(web.requests) == 1

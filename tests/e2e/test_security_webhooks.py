"""Webhook targets on private or loopback addresses only when the setting allows (issue 10):
a flow's ``http_notify`` to 127.0.0.1 is refused by default — the call takes ``default``
and the server never sees a request — and reaches the server once an admin turns on
``allow_private_webhooks`` through the API (taken live, no restart)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.e2e.apiclient import admin_token, api
from tests.e2e.conftest import Harness
from tests.e2e.faults_support import call_once, hook_server
from tests.e2e.httppeer import QuietHandler, serving
from tests.e2e.peers import trace_output
from tests.netutil import free_udp_port

pytestmark = pytest.mark.e2e


class _Hook(QuietHandler):
    seen: list[str] = []

    def do_POST(self) -> None:
        self.body()
        type(self).seen.append(self.path)
        self.reply(b"1", "text/plain")


@pytest.fixture
def hook() -> Iterator[tuple[str, type[_Hook]]]:
    class handler(_Hook):
        seen: list[str] = []

    with serving(handler) as port:
        yield f"http://127.0.0.1:{port}/hook", handler


def test_private_webhook_targets_need_the_setting(
    e2e: Harness, hook: tuple[str, type[_Hook]]
) -> None:
    url, handler = hook
    in_port = free_udp_port()
    server = hook_server(  # no FLOWPBX_HTTP_ALLOW_PRIVATE
        e2e,
        in_port,
        {
            "main": {
                "type": "http_notify",
                "params": {"url": url, "timeout_s": 2},
                "next": {"1": "one", "default": "other"},
            },
            "one": {"type": "play", "params": {"audio": "short"}},
            "other": {"type": "play", "params": {"audio": "short"}},
        },
    )
    token = admin_token(server, "admin", "hooks-admin-pw")
    assert api(server, "GET", "/api/v1/settings", token=token)["allow_private_webhooks"] is False

    refused = call_once(e2e, server, in_port, "refused")
    assert trace_output(refused, "main") == "default", refused["trace"]
    assert handler.seen == []  # refused before any connection was made
    assert "private address" in server.stderr_path.read_text(errors="replace") or any(
        "private" in json.dumps(e) for e in refused["trace"]
    ), refused["trace"]

    out = api(server, "PUT", "/api/v1/settings", {"allow_private_webhooks": True}, token=token)
    assert out["allow_private_webhooks"] is True
    allowed = call_once(e2e, server, in_port, "allowed")
    assert trace_output(allowed, "main") == "1", allowed["trace"]
    assert handler.seen == ["/hook"]

    # and off again: refused again, without a restart
    api(server, "PUT", "/api/v1/settings", {"allow_private_webhooks": False}, token=token)
    again = call_once(e2e, server, in_port, "refused-again")
    assert trace_output(again, "main") == "default", again["trace"]
    assert handler.seen == ["/hook"]

"""Webhook targets on private or loopback addresses only when the setting allows (issue 10):
a flow's ``http_notify`` to 127.0.0.1 is refused by default — the call takes ``default``
and the server never sees a request — and reaches the server once an admin turns on
``allow_private_webhooks`` through the API (taken live, no restart)."""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.e2e.conftest import Harness
from tests.e2e.faults_support import call_once, hook_server, output_of
from tests.e2e.server import FlowpbxServer
from tests.netutil import free_udp_port

pytestmark = pytest.mark.e2e


class _Hook(BaseHTTPRequestHandler):
    seen: list[str] = []

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        type(self).seen.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", "1")
        self.end_headers()
        self.wfile.write(b"1")


@pytest.fixture
def hook() -> Iterator[tuple[str, type[_Hook]]]:
    class handler(_Hook):
        seen: list[str] = []

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/hook", handler
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


def api(server: FlowpbxServer, method: str, path: str, body: Any = None, token: str = "") -> Any:
    request = urllib.request.Request(
        server.http + path,
        data=None if body is None else json.dumps(body).encode(),
        headers={
            "Content-Type": "application/json",
            **({"Authorization": f"Bearer {token}"} if token else {}),
        },
        method=method,
    )
    with urllib.request.urlopen(request, timeout=10) as r:
        return json.loads(r.read())


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
    server.cli("user", "create", "admin", "--password", "hooks-admin-pw", "--role", "admin")
    token = api(
        server, "POST", "/api/v1/auth/login", {"username": "admin", "password": "hooks-admin-pw"}
    )["token"]
    assert api(server, "GET", "/api/v1/settings", token=token)["allow_private_webhooks"] is False

    refused = call_once(e2e, server, in_port, "refused")
    assert output_of(refused, "main") == "default", refused["trace"]
    assert handler.seen == []  # refused before any connection was made
    assert "private address" in server.stderr_path.read_text(errors="replace") or any(
        "private" in json.dumps(e) for e in refused["trace"]
    ), refused["trace"]

    out = api(server, "PUT", "/api/v1/settings", {"allow_private_webhooks": True}, token=token)
    assert out["allow_private_webhooks"] is True
    allowed = call_once(e2e, server, in_port, "allowed")
    assert output_of(allowed, "main") == "1", allowed["trace"]
    assert handler.seen == ["/hook"]

    # and off again: refused again, without a restart
    api(server, "PUT", "/api/v1/settings", {"allow_private_webhooks": False}, token=token)
    again = call_once(e2e, server, in_port, "refused-again")
    assert output_of(again, "main") == "default", again["trace"]
    assert handler.seen == ["/hook"]

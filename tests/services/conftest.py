"""Real peers for the services tests: a threaded HTTP server and an aiosmtpd SMTP server.

`web` is an `http.server` on a free loopback port. Its routes:

    ANY  /reply/TEXT        200 with body TEXT (URL-decoded)
    ANY  /status/CODE/TEXT  that status with body TEXT
    GET  /name/NUMBER       the name registered for NUMBER in `web.names` (plain), else 404
    GET  /json/NUMBER       {"contact": {"name": ...}} for NUMBER, else 404
    ANY  /slow              waits until the test ends (or `web.release` is set), then "1"
    ANY  /big               1 MiB of "x"
    ANY  /redirect          302 to /reply/1
    ANY  /garbage           bytes that are not HTTP, then closes

Every request is recorded in `web.requests` (method, path, headers, body) and announced on
`web.arrived` (a queue.Queue) so tests can wait for fire-and-forget requests.

`smtp_server` starts an aiosmtpd Controller; `SmtpSink` keeps the messages it receives.
"""

from __future__ import annotations

import contextlib
import email
import email.message
import email.policy
import json
import queue
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

import pytest
from aiosmtpd.controller import Controller

from flowpbx.services.http import HttpSettings, WebClient
from tests.netutil import free_tcp_port, release_port


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class WebPeer:
    port: int
    names: dict[str, str] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    arrived: queue.Queue[Recorded] = field(default_factory=queue.Queue)
    release: threading.Event = field(default_factory=threading.Event)
    slow_started: threading.Event = field(default_factory=threading.Event)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_request(self, timeout: float = 10.0) -> Recorded:
        return self.arrived.get(timeout=timeout)


def _handler(peer: WebPeer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        wbufsize = 1 << 16  # headers and body leave in one segment (no delayed-ACK stalls)

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _reply(self, status: int, body: bytes, ctype: str = "text/plain") -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            rec = Recorded(self.command, self.path, dict(self.headers.items()), body)
            peer.requests.append(rec)
            peer.arrived.put(rec)
            parts = self.path.split("?", 1)[0].split("/", 3)
            route = parts[1] if len(parts) > 1 else ""
            if route == "reply":
                self._reply(200, unquote(self.path[len("/reply/") :]).encode())
            elif route == "status":
                code, _, text = self.path[len("/status/") :].partition("/")
                self._reply(int(code), unquote(text).encode())
            elif route in ("name", "json"):
                number = unquote(parts[2] if len(parts) > 2 else "")
                name = peer.names.get(number)
                if name is None:
                    self._reply(404, b"unknown")
                elif route == "name":
                    self._reply(200, f"{name}\nsecond line\n".encode())
                else:
                    doc = {"contact": {"name": name, "id": 7}}
                    self._reply(200, json.dumps(doc).encode(), "application/json")
            elif route == "slow":
                peer.slow_started.set()
                peer.release.wait(30)
                with contextlib.suppress(OSError):
                    self._reply(200, b"1")
            elif route == "big":
                self._reply(200, b"x" * (1024 * 1024))
            elif route == "redirect":
                self.send_response(302)
                self.send_header("Location", peer.url("/reply/1"))
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif route == "garbage":
                self.wfile.write(b"this is not HTTP at all\r\n\r\n")
                self.close_connection = True
            else:
                self._reply(404, b"no route")

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _any

    return Handler


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # the default 5 overflows when tests fire many requests at once

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that stops reading (a cut reply, a timeout) is expected here


@pytest.fixture
def web() -> Iterator[WebPeer]:
    port = free_tcp_port()
    peer = WebPeer(port=port)
    server = _Server(("127.0.0.1", port), _handler(peer))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield peer
    finally:
        peer.release.set()
        server.shutdown()
        server.server_close()
        thread.join(10)
        release_port(port)


@pytest.fixture
async def client() -> AsyncIterator[WebClient]:
    c = WebClient(HttpSettings(allow_private=True))
    try:
        yield c
    finally:
        await c.aclose()


class SmtpSink:
    """aiosmtpd handler keeping every message; `refuse` makes RCPT answer 550."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.got = threading.Event()
        self.refuse: set[str] = set()

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        assert isinstance(msg, email.message.EmailMessage)
        self.messages.append(msg)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.got.set()
        return "250 Message accepted"


class SmtpServer:
    """A real SMTP server on a fixed loopback port that can be started and stopped."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sink = SmtpSink()
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}?from=pbx@example.com"

    def start(self) -> None:
        if self._controller is None:
            self._controller = Controller(self.sink, hostname="127.0.0.1", port=self.port)
            self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """Not started: call `.start()` (tests of "SMTP down" start it later)."""
    port = free_tcp_port()
    server = SmtpServer(port)
    try:
        yield server
    finally:
        server.stop()
        release_port(port)

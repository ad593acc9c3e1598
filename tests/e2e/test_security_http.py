"""Attacks on the web API of a running flowpbx over real HTTP (issue 16):

- a viewer asks for the configuration document to read trunk passwords and voicemail PINs;
- an anonymous client streams a huge chunked login body (no Content-Length);
- an attacker fails logins for ``admin`` to lock the real admin out;
- an admin's browser (or a stolen session) uploads a small FLAC whose header announces
  gigabytes of decoded samples;
- a flow's webhook names an IPv6 address that embeds a loopback or private IPv4 address;
- a logged-out session's websocket keeps streaming events;
- another local user reads the data directory.

One server serves the whole module; each test uses its own users or sources.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import select
import socket
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect

from tests.audio_analysis import make_tone_wav
from tests.e2e.httppeer import QuietHandler, serving
from tests.e2e.server import FlowpbxServer
from tests.services.hostile_audio import flac_claiming, flac_silence

pytestmark = pytest.mark.e2e

TRUNK_PASSWORD = "trunk-secret-9f3k"
MAILBOX_PIN = "7351"
ADMIN = ("boss", "boss-pass-e2e-1")
TARGET = ("admin", "admin-pass-e2e-1")  # the user the lockout attack aims at
VIEWER = ("watcher", "viewer-pass-e2e-1")

CONFIG: dict[str, Any] = {
    "extensions": [{"number": "101", "name": "Alice", "password": "alice-sip-pass-1"}],
    "trunks": [
        {
            "name": "provider",
            "host": "sip.example.com",
            "username": "acct-1",
            "password": TRUNK_PASSWORD,
            "register": False,
        }
    ],
    "mailboxes": [{"number": "100", "name": "Main", "pin": MAILBOX_PIN}],
}


@pytest.fixture(scope="module")
def pbx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlowpbxServer]:
    server = FlowpbxServer(tmp_path_factory.mktemp("http-hardening"), CONFIG)
    try:
        assert not server.data_dir.exists()
        server.cli("db", "upgrade")  # flowpbx creates its data directory and database
        server.start()
        server.cli("user", "create", ADMIN[0], "--password", ADMIN[1], "--role", "admin")
        server.cli("user", "create", TARGET[0], "--password", TARGET[1], "--role", "admin")
        server.cli("user", "create", VIEWER[0], "--password", VIEWER[1], "--role", "viewer")
        yield server
    finally:
        server.stop()


def client(server: FlowpbxServer, source: str = "127.0.0.1") -> httpx.Client:
    """An HTTP client whose connections come from `source` (any address of 127/8)."""
    return httpx.Client(
        base_url=server.http,
        transport=httpx.HTTPTransport(local_address=source),
        timeout=30,
    )


def login(c: httpx.Client, user: tuple[str, str]) -> httpx.Response:
    return c.post("/api/v1/auth/login", json={"username": user[0], "password": user[1]})


def bearer(c: httpx.Client, user: tuple[str, str]) -> dict[str, str]:
    r = login(c, user)
    assert r.status_code == 200, r.text
    c.cookies.clear()
    return {"Authorization": f"Bearer {r.json()['token']}"}


# ------------------------------------------------------------------ secrets


def test_a_viewer_reads_no_trunk_password_or_voicemail_pin(pbx: FlowpbxServer) -> None:
    with client(pbx) as c:
        viewer = bearer(c, VIEWER)
        for path in ("/api/v1/config", "/api/v1/config?format=yaml"):
            r = c.get(path, headers=viewer)
            assert r.status_code == 403, (path, r.text)
            assert r.json()["error"]["id"] == "admin-only"
            assert TRUNK_PASSWORD not in r.text and MAILBOX_PIN not in r.text
        for path in ("/api/v1/trunks", "/api/v1/mailboxes", "/api/v1/extensions"):
            r = c.get(path, headers=viewer)
            assert r.status_code == 200
            assert TRUNK_PASSWORD not in r.text and MAILBOX_PIN not in r.text, (path, r.text)
        # the admin's export is a backup that restores: the secrets are in it
        doc = c.get("/api/v1/config", headers=bearer(c, ADMIN)).json()
        assert doc["trunks"][0]["password"] == TRUNK_PASSWORD
        assert doc["mailboxes"][0]["pin"] == MAILBOX_PIN


# ------------------------------------------------------------------ streamed body


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n" % len(data) + data + b"\r\n"


def _read_response(sock: socket.socket) -> tuple[int, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        piece = sock.recv(65536)
        assert piece, f"connection closed before an answer: {data!r}"
        data += piece
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = next(
        int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length:")
    )
    while len(body) < length:
        piece = sock.recv(65536)
        assert piece, "connection closed in the body"
        body += piece
    return int(lines[0].split()[1]), body[:length]


def test_a_huge_chunked_login_body_is_refused_before_it_is_read(pbx: FlowpbxServer) -> None:
    total = 32 * 1024 * 1024  # no Content-Length: the body streams in chunks
    block = b"a" * 65536
    sent = 0
    with socket.create_connection(("127.0.0.1", pbx.http_port), timeout=30) as sock:
        sock.sendall(
            b"POST /api/v1/auth/login HTTP/1.1\r\n"
            + f"Host: 127.0.0.1:{pbx.http_port}\r\n".encode()
            + b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            + _chunk(b'{"username": "boss", "password": "')
        )
        answered = False
        while sent < total:
            if select.select([sock], [], [], 0)[0]:
                answered = True  # the server answered while the body was still coming
                break
            sock.sendall(_chunk(block))
            sent += len(block)
        if not answered:
            sock.sendall(_chunk(b'"}') + b"0\r\n\r\n")
        status, body = _read_response(sock)
    assert status == 413, body
    assert json.loads(body)["error"]["id"] == "too-large"
    assert json.loads(body)["error"]["details"] == {"max_bytes": 16 * 1024}
    assert answered and sent < total, f"answered after {sent} of {total} bytes"
    assert pbx.health() == 200


# ------------------------------------------------------------------ audio bombs


@pytest.mark.parametrize(
    ("name", "seconds", "rate", "channels", "lie"),
    [
        ("silence", 100, 96_000, 8, False),  # real audio: 77 M samples in about 80 KB
        ("bomb", 600, 384_000, 8, True),  # the header claims 1.8 G samples (7 GB decoded)
    ],
)
def test_audio_that_decodes_to_gigabytes_is_refused_by_its_header(
    pbx: FlowpbxServer,
    tmp_path: Path,
    name: str,
    seconds: int,
    rate: int,
    channels: int,
    lie: bool,
) -> None:
    make = flac_claiming if lie else flac_silence
    src = make(tmp_path / f"{name}.flac", seconds=seconds, rate=rate, channels=channels)
    assert src.stat().st_size < 1_000_000
    with client(pbx) as c:
        headers = bearer(c, ADMIN)
        r = c.post(
            "/api/v1/audio",
            data={"name": name},
            files={"file": (f"{name}.flac", src.read_bytes(), "audio/flac")},
            headers=headers,
        )
        assert r.status_code == 413, r.text
        err = r.json()["error"]
        assert err["id"] == "too-many-samples"
        assert err["details"] == {
            "samples": seconds * rate * channels,
            "max_samples": 600 * 48_000 * 2,
        }
        assert "at most 57600000" in err["message"]
        listed = [a["name"] for a in c.get("/api/v1/audio", headers=headers).json()]
        assert name not in listed
    assert pbx.health() == 200


# ------------------------------------------------------------------ webhook targets


class _Hook(QuietHandler):
    hits: list[str] = []

    def do_GET(self) -> None:
        type(self).hits.append(self.path)
        self.reply(b"1")

    do_POST = do_GET


@pytest.fixture
def hook() -> Iterator[tuple[int, type[_Hook]]]:
    class handler(_Hook):
        hits: list[str] = []

    with serving(handler) as port:
        yield port, handler


@pytest.mark.parametrize(
    "host",
    [
        "[64:ff9b::7f00:1]",  # NAT64 of 127.0.0.1
        "[64:ff9b::a9fe:a9fe]",  # NAT64 of 169.254.169.254 (cloud metadata)
        "[::127.0.0.1]",  # IPv4-compatible
        "[::ffff:0:127.0.0.1]",  # SIIT-translated
        "[2002:7f00:1::1]",  # 6to4 of 127.0.0.1
        "[2002:c0a8:101::1]",  # 6to4 of 192.168.1.1
        "[fec0::10.0.0.1]",  # site-local
    ],
)
def test_webhooks_to_ipv6_forms_of_private_ipv4_are_refused(
    pbx: FlowpbxServer, hook: tuple[int, type[_Hook]], host: str
) -> None:
    port, handler = hook
    node = {
        "type": "http_notify",
        "params": {"url": f"http://{host}:{port}/hook", "timeout_s": 2},
        "next": {"1": "one", "default": "other"},
    }
    with client(pbx) as c:
        r = c.post("/api/v1/flows/test-request", json={"node": node}, headers=bearer(c, ADMIN))
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["status"] is None and out["output"] == "default"
    assert "private address" in (out["error"] or ""), out
    assert handler.hits == []


# ------------------------------------------------------------------ websocket and logout


def test_logout_ends_the_session_and_closes_its_websocket(pbx: FlowpbxServer) -> None:
    with client(pbx) as browser:
        assert login(browser, ADMIN).status_code == 200
        session = browser.cookies["flowpbx_session"]
        csrf = browser.cookies["flowpbx_csrf"]
        url = f"ws://127.0.0.1:{pbx.http_port}/api/v1/events"
        with contextlib.ExitStack() as stack:
            ws = stack.enter_context(
                ws_connect(url, additional_headers={"Cookie": f"flowpbx_session={session}"})
            )
            assert json.loads(ws.recv(timeout=10))["type"] == "hello"
            r = browser.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf})
            assert r.status_code == 204
            with pytest.raises(ConnectionClosed) as closed:
                while True:  # events still queued may come first; then the close
                    ws.recv(timeout=10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
        # the session is over on the server, not only in the browser
        r = browser.get("/api/v1/auth/me", headers={"Cookie": f"flowpbx_session={session}"})
        assert r.status_code == 401


# ------------------------------------------------------------------ file permissions


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_data_directory_and_its_files_are_private(pbx: FlowpbxServer, tmp_path: Path) -> None:
    assert _mode(pbx.data_dir) == 0o700
    assert _mode(pbx.db_path) == 0o600
    for extra in ("flowpbx.db-wal", "flowpbx.db-shm"):
        if (pbx.data_dir / extra).exists():
            assert _mode(pbx.data_dir / extra) == 0o600, extra
    src = make_tone_wav(tmp_path / "hello.wav", 440.0, 0.5)
    with client(pbx) as c:
        r = c.post(
            "/api/v1/audio",
            data={"name": "hello"},
            files={"file": ("hello.wav", src.read_bytes(), "audio/wav")},
            headers=bearer(c, ADMIN),
        )
    assert r.status_code == 201, r.text
    stored = pbx.data_dir / "audio" / "hello.wav"
    assert _mode(stored) == 0o600
    assert _mode(stored.parent) & 0o077 == 0
    other = [p for p in pbx.data_dir.rglob("*") if p.is_file() and _mode(p) & 0o077]
    assert other == [], [(str(p), oct(_mode(p))) for p in other]
    assert os.stat(pbx.data_dir).st_uid == os.getuid()


# ------------------------------------------------------------------ login lockout


def test_failed_logins_do_not_lock_the_admin_out_of_a_fresh_source(pbx: FlowpbxServer) -> None:
    wrong = ("admin", "not-the-password")
    with client(pbx, "127.0.0.3") as attacker:
        answers = [login(attacker, wrong).status_code for _ in range(12)]
        assert answers == [401] * 10 + [429] * 2
        r = login(attacker, TARGET)  # the guessing source waits, even with the password
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    with client(pbx, "127.0.0.4") as second:  # admin is under attack: one guess, then wait
        assert login(second, wrong).status_code == 401
        assert login(second, wrong).status_code == 429
    with client(pbx, "127.0.0.2") as admin:  # the real admin, from a fresh source
        r = login(admin, TARGET)
        assert r.status_code == 200, r.text
        assert admin.get("/api/v1/auth/me").json() == {"username": "admin", "role": "admin"}


def test_concurrent_wrong_logins_get_no_more_guesses_than_sequential_ones(
    pbx: FlowpbxServer,
) -> None:
    """Thirty wrong logins sent at once from one source: the password check is slow (argon2
    in a worker thread), so all thirty used to pass the limiter before the first failure was
    counted. Only `max_failures` (10) may be tried; the rest are 429."""

    async def burst() -> list[int]:
        transport = httpx.AsyncHTTPTransport(local_address="127.0.0.9")
        async with httpx.AsyncClient(base_url=pbx.http, transport=transport, timeout=60) as c:
            body = {"username": "ghost", "password": "not-it"}
            answers = await asyncio.gather(
                *(c.post("/api/v1/auth/login", json=body) for _ in range(30))
            )
        return [r.status_code for r in answers]

    codes = asyncio.run(burst())
    assert sorted(set(codes)) == [401, 429], codes
    assert codes.count(401) <= 10, codes

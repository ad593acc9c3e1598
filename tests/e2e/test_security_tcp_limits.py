"""SIP over TCP held open by an attacker (issue 16): one source opening many connections gets
only its per-source share (the rest are closed) while another source (127.0.0.2) still
connects; a connection that sends nothing, or only garbage, is closed after the
first-message timeout; one valid message from a source that never authenticated does not
keep a connection open for an hour. The timeouts are settings, short here."""

from __future__ import annotations

import contextlib
import secrets
import socket

import pytest

from tests.e2e.conftest import Harness
from tests.e2e.server import FlowpbxServer

pytestmark = pytest.mark.e2e

CAP = 4


def options(sock: socket.socket) -> bytes:
    host, port = sock.getsockname()
    return (
        "OPTIONS sip:flowpbx@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/TCP {host}:{port};branch=z9hG4bK{secrets.token_hex(6)}\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:probe@{host}>;tag={secrets.token_hex(4)}\r\n"
        "To: <sip:flowpbx@127.0.0.1>\r\n"
        f"Call-ID: {secrets.token_hex(8)}\r\n"
        "CSeq: 1 OPTIONS\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


def connect(server: FlowpbxServer, source: str = "127.0.0.1") -> socket.socket:
    sock = socket.create_connection(server.sip, timeout=10, source_address=(source, 0))
    return sock


def answered(sock: socket.socket) -> bool:
    """Send an OPTIONS; True when a response comes back, False when the connection is
    closed instead."""
    try:
        sock.sendall(options(sock))
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65535)
            if not chunk:
                return False
            data += chunk
    except (ConnectionResetError, BrokenPipeError):
        return False
    return data.startswith(b"SIP/2.0 200")


def closed_by_server(sock: socket.socket, timeout: float = 15.0) -> bool:
    """Wait (up to `timeout`) for the server to close the connection."""
    sock.settimeout(timeout)
    try:
        while sock.recv(65535):
            pass
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False
    return True


def test_one_source_gets_its_share_of_connections_and_others_still_connect(
    e2e: Harness,
) -> None:
    server = FlowpbxServer(e2e.tmp_path, {}, extra_env={"FLOWPBX_SIP_TCP_MAX_PER_SOURCE": "4"})
    e2e.adopt(server)
    server.start()
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(connect(server)) for _ in range(3 * CAP)]
        results = [answered(s) for s in socks]
        assert results.count(True) == CAP, results
        other = stack.enter_context(connect(server, "127.0.0.2"))
        assert answered(other)
        # a connection of the first source closes: its slot comes back (once the server
        # has seen the close, so a few attempts)
        socks[results.index(True)].close()
        assert any(answered(stack.enter_context(connect(server))) for _ in range(20))


@pytest.mark.parametrize(
    "first_bytes",
    [
        b"",  # nothing at all
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",  # framed, but not SIP
        b"OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/TCP",  # never completes
    ],
    ids=["silent", "garbage", "partial"],
)
def test_connection_without_a_valid_message_is_closed(e2e: Harness, first_bytes: bytes) -> None:
    server = FlowpbxServer(e2e.tmp_path, {}, extra_env={"FLOWPBX_SIP_TCP_FIRST_MESSAGE_S": "0.5"})
    e2e.adopt(server)
    server.start()
    with connect(server) as sock:
        if first_bytes:
            sock.sendall(first_bytes)
        assert closed_by_server(sock)


def test_one_message_from_an_unknown_source_does_not_hold_a_connection(e2e: Harness) -> None:
    server = FlowpbxServer(e2e.tmp_path, {}, extra_env={"FLOWPBX_SIP_TCP_UNKNOWN_IDLE_S": "1"})
    e2e.adopt(server)
    server.start()
    with connect(server) as sock:
        assert answered(sock)
        assert closed_by_server(sock)

"""Issue 16, item 1: one unauthenticated packet must not leave state behind.

A real flowpbx on loopback gets, without any credentials:

* INVITE, REGISTER and SUBSCRIBE requests with hostile numbers in their headers (``²`` and
  other digits that ``str.isdigit()`` accepts but ``int()`` refuses or misreads, huge and
  non-finite numbers) over TCP from an unknown address;
* INVITEs from the trunk's address (no digest: the trunk is trusted by address) whose SDP
  carries such numbers in ``m=``, ``o=`` and ``a=rtpmap``.

Each must get a 4xx (before the fix a ``Session-Expires: ²`` INVITE got only 100 Trying and a
hostile SDP leaked its RTP port and RTCP socket); afterwards the server holds no more live
transactions than before and every RTP port is back in the pool (read from /metrics), and the
log holds no traceback.

Also: sixteen leading CRLFs do not let an OPTIONS past ``FLOWPBX_SIP_OPTIONS_POLICY=known``.
"""

from __future__ import annotations

import secrets
import socket
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.e2e.apiclient import admin_token, metrics, wait_metrics
from tests.e2e.peers import company, flow, tone_audio
from tests.e2e.server import FlowpbxServer
from tests.netutil import free_udp_port

pytestmark = pytest.mark.e2e

DID = "+37167000016"
PASSWORD = "Hostile-numbers-101"
ADMIN_PASSWORD = "hostile-admin-pw"

SUPERSCRIPT_TWO = "\u00b2"
ARABIC_1800 = "\u0661\u0668\u0660\u0660"
HUGE = "9" * 5000
WAIT_S = 5.0  # for each final response (the answers come in milliseconds)

# (method, extra header lines): every one arrives without credentials
HEADER_ATTACKS: list[tuple[str, list[str]]] = [
    ("INVITE", [f"Session-Expires: {SUPERSCRIPT_TWO}"]),
    ("INVITE", [f"x: {SUPERSCRIPT_TWO};refresher=uac"]),
    ("INVITE", ["Session-Expires: 1800", f"Min-SE: {SUPERSCRIPT_TWO}"]),
    ("INVITE", [f"Session-Expires: {ARABIC_1800}"]),
    ("INVITE", [f"Session-Expires: {HUGE}"]),
    ("INVITE", ["Session-Expires: inf"]),
    ("INVITE", [f"Max-Forwards: {SUPERSCRIPT_TWO}"]),
    ("INVITE", [f"Expires: {SUPERSCRIPT_TWO}", f"RSeq: {SUPERSCRIPT_TWO}"]),
    ("REGISTER", [f"Expires: {SUPERSCRIPT_TWO}"]),
    ("REGISTER", [f"Expires: {HUGE}"]),
    ("REGISTER", [f"Max-Forwards: {ARABIC_1800}"]),
    ("SUBSCRIBE", ["Event: message-summary", f"Expires: {SUPERSCRIPT_TWO}"]),
    ("SUBSCRIBE", ["Event: message-summary", "Expires: nan"]),
]

_SDP_BASE = [
    "v=0",
    "o=- 1 1 IN IP4 127.0.0.1",
    "s=-",
    "c=IN IP4 127.0.0.1",
    "t=0 0",
    "m=audio 40000 RTP/AVP 0",
    "a=sendrecv",
]
# (replace the line starting with, by): SDPs that made the INVITE setup raise before the fix
SDP_ATTACKS: list[tuple[str, str]] = [
    ("m=", f"m=audio 40000/{SUPERSCRIPT_TWO} RTP/AVP 0"),
    ("o=", f"o=- {SUPERSCRIPT_TWO} {SUPERSCRIPT_TWO} IN IP4 127.0.0.1"),
    ("o=", f"o=- {HUGE} 1 IN IP4 127.0.0.1"),
    ("m=", f"m=audio 40000 RTP/AVP 96\r\na=rtpmap:96 PCMU/{SUPERSCRIPT_TWO}"),
    ("m=", f"m=audio 40000 RTP/AVP 96\r\na=rtpmap:96 PCMU/8000/{SUPERSCRIPT_TWO}"),
    ("m=", f"m=audio 40000 RTP/AVP 96\r\na=rtpmap:{SUPERSCRIPT_TWO} PCMU/8000"),
]


def _request(
    method: str,
    local: tuple[str, int],
    server: tuple[str, int],
    *,
    transport: str,
    extra: Sequence[str] = (),
    user: str = "101",
    body: str = "",
) -> tuple[bytes, str]:
    host, port = local
    call_id = secrets.token_hex(8)
    uri = f"sip:{server[0]}:{server[1]}" if method == "REGISTER" else f"sip:{user}@{server[0]}"
    to = f"<sip:{user}@{server[0]}>"
    lines = [
        f"{method} {uri} SIP/2.0",
        f"Via: SIP/2.0/{transport} {host}:{port};branch=z9hG4bK{secrets.token_hex(6)};rport",
        "Max-Forwards: 70",
        f"From: <sip:{user}@{server[0]}>;tag={secrets.token_hex(4)}",
        f"To: {to}",
        f"Call-ID: {call_id}",
        f"CSeq: 1 {method}",
        f"Contact: <sip:{user}@{host}:{port}>",
        *extra,
    ]
    if body:
        lines.append("Content-Type: application/sdp")
    data = "\r\n".join(lines) + f"\r\nContent-Length: {len(body.encode())}\r\n\r\n" + body
    return data.encode(), call_id


def _ack(request: bytes, response: bytes) -> bytes:
    """The ACK for a non-2xx final response (RFC 3261 §17.1.1.3)."""
    req = request.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    head = response.split(b"\r\n\r\n", 1)[0].split(b"\r\n")

    def header(lines: list[bytes], name: bytes) -> bytes:
        return next(line for line in lines if line.lower().startswith(name.lower() + b":"))

    uri = req[0].split(b" ")[1]
    seq = header(req, b"CSeq").split(b":", 1)[1].split()[0]
    lines = [
        b"ACK " + uri + b" SIP/2.0",
        header(req, b"Via"),
        b"Max-Forwards: 70",
        header(req, b"From"),
        header(head, b"To"),
        header(req, b"Call-ID"),
        b"CSeq: " + seq + b" ACK",
        b"Content-Length: 0",
    ]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def _final(messages: list[bytes], call_id: str) -> bytes | None:
    for message in messages:
        final = message.startswith(b"SIP/2.0 ") and not message.startswith(b"SIP/2.0 1")
        if final and call_id.encode() in message:
            return message
    return None


def _tcp_exchange(server: tuple[str, int], method: str, extra: list[str]) -> bytes | None:
    """Send one request over a new TCP connection, wait for its final response (and ACK
    it, for an INVITE), return that response (None: none came)."""
    with socket.create_connection(server, timeout=WAIT_S) as conn:
        data, call_id = _request(method, conn.getsockname(), server, transport="TCP", extra=extra)
        conn.sendall(data)
        buffer = b""
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            try:
                chunk = conn.recv(65535)
            except TimeoutError:
                break
            if not chunk:
                break
            buffer += chunk
            final = _final(buffer.split(b"\r\n\r\n"), call_id)
            if final is not None:
                full = buffer[buffer.index(final[:40]) :]
                if method == "INVITE":
                    conn.sendall(_ack(data, full))
                return full
    return None


def _udp_exchange(
    sock: socket.socket, server: tuple[str, int], data: bytes, call_id: str
) -> bytes | None:
    sock.sendto(data, server)
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            message = sock.recv(65535)
        except TimeoutError:
            break
        if _final([message], call_id) is not None:
            sock.sendto(_ack(data, message), server)
            return message
    return None


def _status(response: bytes | None) -> str:
    return "no final response" if response is None else response.split(b"\r\n", 1)[0].decode()


def test_hostile_numbers_get_a_4xx_and_leave_nothing_behind(tmp_path: Path) -> None:
    trunk_port = free_udp_port()
    server = FlowpbxServer(tmp_path, None, rtp_port_count=20)
    company(
        server,
        trunk_ports=[trunk_port],
        extensions=[{"number": "101", "name": "Alice", "password": PASSWORD}],
        audio=[tone_audio(server, "hello", 700.0, 0.5)],
        flows=[flow("Main", [DID], {"main": {"type": "play", "params": {"audio": "hello"}}})],
    )
    with server:
        token = admin_token(server, "hostile-admin", ADMIN_PASSWORD)
        before = metrics(server, token)
        assert before["flowpbx_rtp_ports_in_use"] == 0

        statuses: list[tuple[str, str, str]] = []
        for method, extra in HEADER_ATTACKS:
            statuses.append(
                (method, extra[-1][:40], _status(_tcp_exchange(server.sip, method, extra)))
            )

        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as trunk:
            trunk.bind(("127.0.0.1", trunk_port))
            for start, line in SDP_ATTACKS:
                sdp = [line if old.startswith(start) else old for old in _SDP_BASE]
                body = "\r\n".join(sdp) + "\r\n"
                data, call_id = _request(
                    "INVITE",
                    trunk.getsockname(),
                    server.sip,
                    transport="UDP",
                    user=DID,
                    body=body,
                )
                response = _udp_exchange(trunk, server.sip, data, call_id)
                statuses.append(("INVITE from the trunk", line[:40], _status(response)))
            # a good SDP but no Contact: no dialog can be made (it made the leg set-up raise)
            clean = "\r\n".join(_SDP_BASE) + "\r\n"
            data, call_id = _request(
                "INVITE", trunk.getsockname(), server.sip, transport="UDP", user=DID, body=clean
            )
            data = data.replace(b"\r\nContact: ", b"\r\nX-Contact: ")
            response = _udp_exchange(trunk, server.sip, data, call_id)
            statuses.append(("INVITE from the trunk", "no Contact", _status(response)))
        bad = [s for s in statuses if not s[2].startswith("SIP/2.0 4")]
        assert not bad, f"not answered 4xx: {bad}\n{server.logs()}"

        # Everything answered and ACKed: no live transaction beyond those before the attack
        # (completed ones go with Timer I/J: at once over TCP, T4 over UDP) and every RTP
        # port back in the pool.
        after = wait_metrics(
            server,
            token,
            lambda m: (
                m["flowpbx_sip_server_transactions"] <= before["flowpbx_sip_server_transactions"]
                and m["flowpbx_rtp_ports_in_use"] == 0
            ),
            "transactions or RTP ports left behind",
        )
        assert after["flowpbx_sip_handler_errors"] == 0
        assert after["flowpbx_sip_reaped"] == 0  # every request answered, none left to reap
        log = server.stderr_path.read_text(errors="replace")
        log += server.stdout_path.read_text(errors="replace")
        assert "Traceback" not in log, server.logs()


def test_leading_crlfs_do_not_get_options_past_the_known_policy(tmp_path: Path) -> None:
    server = FlowpbxServer(
        tmp_path,
        {"extensions": [{"number": "101", "name": "Alice", "password": PASSWORD}]},
        extra_env={
            "FLOWPBX_SIP_OPTIONS_POLICY": "known",
            "FLOWPBX_SIP_TRUSTED_NETWORKS": "127.0.0.1/32",  # the harness probes from here
        },
    )
    with server:
        token = admin_token(server, "hostile-admin", ADMIN_PASSWORD)
        hidden = metrics(server, token)["flowpbx_sip_dropped_hidden"]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.3", 0))  # an unknown scanner
            data, _ = _request("OPTIONS", sock.getsockname(), server.sip, transport="UDP")
            sock.sendto(b"\r\n" * 16 + data, server.sip)
            wait_metrics(
                server,
                token,
                lambda m: m["flowpbx_sip_dropped_hidden"] == hidden + 1,
                "the padded OPTIONS was not hidden",
                timeout=10.0,
            )
            sock.setblocking(False)
            with pytest.raises(BlockingIOError):
                sock.recv(65535)  # dropped, so nothing was answered

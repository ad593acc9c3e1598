"""`sips:` and `transport=tls` (RFC 3261 §26, RFC 5630) with a phone speaking raw SIP over
TLS: it registers a ``sips:`` Contact from its own TLS connection; a call to it arrives
over that very connection (the phone listens nowhere), with a ``sips:`` Request-URI,
flowpbx's Via saying TLS with the TLS port, and a ``sips:`` Contact for the dialog."""

from __future__ import annotations

import random
import ssl
from pathlib import Path

import pytest

from flowpbx.sip.auth import build_authorization
from tests.e2e.conftest import Harness
from tests.e2e.rawsip import Msg, RawUa
from tests.e2e.server import FlowpbxServer
from tests.e2e.tls_support import make_ca, read_message, tls_connect
from tests.netutil import free_tcp_port

pytestmark = pytest.mark.e2e


def recv_msg(sock: ssl.SSLSocket) -> Msg:
    data = read_message(sock)
    head, _, rest = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    while len(rest) < length:
        rest += sock.recv(65535)
    return Msg.parse(head + b"\r\n\r\n" + rest[:length], ("127.0.0.1", 0))


def register_sips(sock: ssl.SSLSocket, tls_port: int, user: str, password: str) -> Msg:
    host, port = sock.getsockname()[:2]
    uri = f"sips:127.0.0.1:{tls_port}"
    call_id = f"sips{random.randint(1, 1 << 30)}"
    auth: list[str] = []
    res: Msg | None = None
    for cseq in (1, 2):
        lines = [
            f"REGISTER {uri} SIP/2.0",
            f"Via: SIP/2.0/TLS {host}:{port};branch=z9hG4bK{random.randint(1, 1 << 30)};rport",
            "Max-Forwards: 70",
            f"From: <sips:{user}@127.0.0.1>;tag=s{cseq}x",
            f"To: <sips:{user}@127.0.0.1>",
            f"Call-ID: {call_id}",
            f"CSeq: {cseq} REGISTER",
            f"Contact: <sips:{user}@{host}:{port}>",
            "Expires: 300",
            *auth,
            "Content-Length: 0",
        ]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        res = recv_msg(sock)
        if res.status != 401:
            return res
        value = build_authorization(
            res["www-authenticate"], method="REGISTER", uri=uri, username=user, password=password
        )
        auth = [f"Authorization: {value}"]
    assert res is not None
    return res


def test_a_sips_phone_is_called_over_its_own_tls_connection(e2e: Harness, tmp_path: Path) -> None:
    ca = make_ca(tmp_path / "pki")
    cert, key = ca.issue(tmp_path / "pki", "pbx", ["127.0.0.1"])
    tls_port = free_tcp_port()
    server = FlowpbxServer(
        e2e.tmp_path,
        {
            "extensions": [
                {"number": "101", "name": "Secure", "password": "sips-pass-0101"},
                {"number": "102", "name": "Plain", "password": "sips-pass-0102"},
            ]
        },
        extra_env={
            "FLOWPBX_TLS_CERT": str(cert),
            "FLOWPBX_TLS_KEY": str(key),
            "FLOWPBX_SIP_TLS_LISTEN": f"127.0.0.1:{tls_port}",
        },
    )
    e2e.adopt(server)
    server.start()

    phone = tls_connect(("127.0.0.1", tls_port), ca.cert_path)
    ok = register_sips(phone, tls_port, "101", "sips-pass-0101")
    assert ok.status == 200, ok.raw
    assert "sips:101@" in ok["contact"], ok.raw
    (row,) = server.wait_rows("SELECT * FROM registrations WHERE extension = '101'")
    assert row["transport"] == "tls"

    caller = RawUa(server.sip, user="102")
    e2e.stack.callback(caller.close)
    assert caller.register("102", "sips-pass-0102").status == 200
    # the caller's INVITE (answered later); meanwhile the phone sees flowpbx's INVITE
    host, port = server.sip
    call_id = f"c{random.randint(1, 1 << 30)}"
    body = caller.sdp()
    caller.send(
        f"INVITE sip:101@{host}:{port} SIP/2.0\r\nVia: {caller.via()}\r\nMax-Forwards: 70\r\n"
        f"From: <sip:102@127.0.0.1>;tag={caller.tag}\r\nTo: <sip:101@{host}>\r\n"
        f"Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: {caller.contact}\r\n"
        f"Content-Type: application/sdp\r\nContent-Length: {len(body)}\r\n\r\n{body}"
    )
    challenge = caller.response(call_id, "INVITE")
    assert challenge.status == 407, challenge.raw
    caller.send(
        f"ACK sip:101@{host}:{port} SIP/2.0\r\nVia: {caller.via()}\r\nMax-Forwards: 70\r\n"
        f"From: <sip:102@127.0.0.1>;tag={caller.tag}\r\nTo: {challenge['to']}\r\n"
        f"Call-ID: {call_id}\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
    )
    value = build_authorization(
        challenge["proxy-authenticate"], method="INVITE", uri=f"sip:101@{host}:{port}",
        username="102", password="sips-pass-0102",
    )  # fmt: skip
    caller.send(
        f"INVITE sip:101@{host}:{port} SIP/2.0\r\nVia: {caller.via()}\r\nMax-Forwards: 70\r\n"
        f"From: <sip:102@127.0.0.1>;tag={caller.tag}\r\nTo: <sip:101@{host}>\r\n"
        f"Call-ID: {call_id}\r\nCSeq: 2 INVITE\r\nContact: {caller.contact}\r\n"
        f"Proxy-Authorization: {value}\r\n"
        f"Content-Type: application/sdp\r\nContent-Length: {len(body)}\r\n\r\n{body}"
    )

    invite = recv_msg(phone)  # over the phone's own TLS connection
    assert invite.is_request and invite.method == "INVITE", invite.raw
    assert invite.start.startswith("INVITE sips:101@"), invite.start
    assert invite.get_all("via")[0].startswith(f"SIP/2.0/TLS 127.0.0.1:{tls_port};"), invite.raw
    assert invite["contact"].strip() == f"<sips:flowpbx@127.0.0.1:{tls_port}>", invite.raw

    # the phone is busy: flowpbx ACKs over TLS, and the caller hears 486
    lines = [
        "SIP/2.0 486 Busy Here",
        *[f"Via: {v}" for v in invite.get_all("via")],
        f"From: {invite['from']}",
        f"To: {invite['to']};tag=busy1",
        f"Call-ID: {invite['call-id']}",
        f"CSeq: {invite['cseq']}",
        "Content-Length: 0",
    ]
    phone.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    ack = recv_msg(phone)
    assert ack.is_request and ack.method == "ACK", ack.raw
    final = caller.response(call_id, "INVITE", timeout=15)
    assert final.status == 486, final.raw
    phone.close()

"""Calls through a proxy that record-routes (RFC 3261 §12.1.1, §12.2.1.1; SPEC §9's Kamailio
in front of flowpbx): the provider's INVITE reaches a running flowpbx with two Record-Route
values, the first naming this test's socket (the proxy next to flowpbx), the second a proxy
further out. flowpbx's 200 must carry both, in order, and its BYE at the end of the play flow
must go to the first of them with both as Route headers and the caller's Contact as its
Request-URI — not straight to the Contact, which names an address nobody listens on.
"""

from __future__ import annotations

import socket
import time

import pytest

from tests.e2e.conftest import Harness
from tests.e2e.peers import company, flow, tone_audio
from tests.e2e.rawsip import read_message, response
from tests.e2e.server import FlowpbxServer
from tests.netutil import free_udp_port

pytestmark = pytest.mark.e2e

DID = "+37167000071"
FAR_CONTACT = "sip:caller@192.0.2.55:5099"  # TEST-NET-1: the BYE must not go here


def test_record_route_copied_into_2xx_and_bye_follows_the_route_set(e2e: Harness) -> None:
    proxy = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        proxy.bind(("127.0.0.1", free_udp_port()))
        rtp.bind(("127.0.0.1", 0))
        port = proxy.getsockname()[1]
        server = FlowpbxServer(e2e.tmp_path, None)
        company(
            server,
            trunk_ports=[port],
            audio=[tone_audio(server, "rr-tone", 700.0, 0.6)],
            flows=[flow("RR", [DID], {"main": {"type": "play", "params": {"audio": "rr-tone"}}})],
        )
        e2e.adopt(server)
        server.start()
        host, sip_port = server.sip
        near = f"<sip:127.0.0.1:{port};lr;proxy=near>"
        far = "<sip:198.51.100.7;lr;proxy=far>"
        sdp = (
            "v=0\r\no=p 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            f"m=audio {rtp.getsockname()[1]} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
        )
        invite = (
            f"INVITE sip:{DID}@{host}:{sip_port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKrr1;rport\r\n"
            f"Via: SIP/2.0/UDP 198.51.100.9:5060;branch=z9hG4bKfar1\r\n"
            f"Record-Route: {near}\r\n"
            f"Record-Route: {far}\r\n"
            "Max-Forwards: 69\r\n"
            "From: <sip:+37129000071@provider.example>;tag=rr-from\r\n"
            f"To: <sip:{DID}@{host}>\r\n"
            "Call-ID: rr-call-1@provider.example\r\n"
            "CSeq: 1 INVITE\r\n"
            f"Contact: <{FAR_CONTACT}>\r\n"
            "Content-Type: application/sdp\r\n"
            f"Content-Length: {len(sdp)}\r\n\r\n{sdp}"
        )
        proxy.sendto(invite.encode(), (host, sip_port))
        deadline = time.monotonic() + 15
        while True:
            msg = read_message(proxy, max(0.1, deadline - time.monotonic()))
            start, text = msg.start, msg.raw
            status = int(start.split()[1])
            if status >= 200:
                break
            if 100 < status < 200 and "tag=" in msg["to"]:
                assert msg.get_all("record-route") == [near, far], text  # dialog-creating 1xx
        assert status == 200, text
        assert msg.get_all("record-route") == [near, far], text
        to = msg["to"]
        contact = msg["contact"].strip("<>").split(">")[0]
        ack = (
            f"ACK {contact} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKrr2;rport\r\n"
            "Max-Forwards: 70\r\n"
            "From: <sip:+37129000071@provider.example>;tag=rr-from\r\n"
            f"To: {to}\r\n"
            "Call-ID: rr-call-1@provider.example\r\n"
            "CSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
        )
        proxy.sendto(ack.encode(), (host, sip_port))
        # The play flow ends after its 0.6 s prompt: flowpbx hangs up.
        while True:
            msg = read_message(proxy, 15)
            start, text = msg.start, msg.raw
            if start.startswith("BYE "):
                break
            assert start.startswith("SIP/2.0 200"), text  # at most a 200 retransmission
        assert start == f"BYE {FAR_CONTACT} SIP/2.0", text
        assert msg.get_all("route") == [near, far], text
        assert msg.get_all("call-id") == ["rr-call-1@provider.example"], text
        proxy.sendto(response(msg).encode(), (host, sip_port))
        rows = server.wait_rows(
            "SELECT outcome FROM call_history WHERE call_id = ? AND outcome != 'in_progress'",
            ("rr-call-1@provider.example",),
        )
        assert rows, server.logs()
    finally:
        proxy.close()
        rtp.close()

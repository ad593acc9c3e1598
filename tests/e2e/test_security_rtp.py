"""RTP hijack ("RTP bleed") against a running flowpbx: strangers spray RTP and RTCP at the
whole FLOWPBX_RTP_PORTS range from before the INVITE until the call ends, hoping a leg
latches on to them before its phone speaks. They must receive nothing and change nothing:
the caller hears the whole prompt, a menu takes no key they send, a phone behind NAT still
latches (RTP and RTCP), and /metrics counts what was ignored.

Everything is on loopback (127.0.0.0/8 is all local on Linux): the caller — a provider on a
trunk, SIP from 127.0.0.1 — and two strangers, one on the caller's own host 127.0.0.1 (it
scans: one packet per port per sweep, as a port scanner does) and one elsewhere, 127.0.0.9
(it sends a proper in-sequence stream to every port). The phone behind NAT writes
127.0.0.5 (standing for its private address) into its SDP and sends from 127.0.0.1."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from flowpbx.media.rtp import build_rtcp_rr
from tests.audio_analysis import has_tone, parse_rtp, rms, rtp_audio, ulaw_encode
from tests.e2e.apiclient import login, metrics
from tests.e2e.conftest import Harness
from tests.e2e.peers import company, flow, tone_audio, trace_output
from tests.e2e.rawsip import read_message, response
from tests.e2e.server import FlowpbxServer
from tests.netutil import free_udp_port

pytestmark = pytest.mark.e2e

DID = "+37167000161"
CALLER = "+37129000161"
PASSWORD = "rtp-bleed-admin-pw"
SILENCE = ulaw_encode(np.zeros(160, dtype=np.int16))


def rtp_packet(
    pt: int, seq: int, ts: int, ssrc: int, payload: bytes, marker: bool = False
) -> bytes:
    b1 = (0x80 if marker else 0) | pt
    return struct.pack("!BBHII", 0x80, b1, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc) + payload


# -- the strangers ---------------------------------------------------------------------


class Stranger(threading.Thread):
    """Sprays the RTP port range from `host` until stopped, keeping whatever flowpbx sends
    back. `scan`: one packet per port per sweep with one running sequence counter (each port
    sees numbers a sweep apart); otherwise an in-sequence stream of one SSRC to every port.
    Even ports get RTP (audio, or RFC 4733 key '1' with `dtmf`), odd ones an RTCP RR."""

    def __init__(
        self, host: str, ports: range, *, scan: bool, dtmf: bool = False, ssrc: int = 0x5EED
    ) -> None:
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.sock.setblocking(False)
        self.ports = ports
        self.scan = scan
        self.dtmf = dtmf
        self.ssrc = ssrc
        self.received: list[tuple[tuple[str, int], bytes]] = []
        self.sent = 0
        self._halt = threading.Event()

    def _packet(self, sweep: int, index: int) -> bytes:
        seq = sweep * len(self.ports) + index if self.scan else sweep
        ts = seq * 160
        if self.dtmf:  # key 1, a new event (timestamp) per packet, start then end
            end = 0x80 if sweep % 2 else 0
            return rtp_packet(101, seq, ts, self.ssrc, bytes([1, end | 10, 0, 160]), marker=True)
        return rtp_packet(0, seq, ts, self.ssrc, b"\xff" * 160)

    def run(self) -> None:
        rr = build_rtcp_rr(ssrc=self.ssrc, blocks=[])
        sweep = 0
        while not self._halt.is_set():
            for index, port in enumerate(self.ports):
                data = rr if port % 2 else self._packet(sweep, index)
                with contextlib.suppress(OSError):
                    self.sock.sendto(data, ("127.0.0.1", port))
                    self.sent += 1
            self._drain()
            sweep += 1
            self._halt.wait(0.01)  # pacing: about one sweep per 10 ms
        self._drain()

    def _drain(self) -> None:
        while True:
            try:
                data, addr = self.sock.recvfrom(4096)
            except BlockingIOError:
                return
            except OSError:
                continue
            self.received.append((addr, data))

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=10)
        self.sock.close()


@contextlib.contextmanager
def strangers(server: FlowpbxServer, *, dtmf: bool = False) -> Iterator[list[Stranger]]:
    ports = range(server.rtp_lo, server.rtp_hi + 1)
    crowd = [
        Stranger("127.0.0.1", ports, scan=True, dtmf=dtmf, ssrc=0x5CA7),
        Stranger("127.0.0.9", ports, scan=False, dtmf=dtmf, ssrc=0x57EA),
    ]
    for s in crowd:
        s.start()
    try:
        # Every port has been hit at least twice before the call starts.
        deadline = time.monotonic() + 10
        while any(s.sent < 2 * len(ports) for s in crowd) and time.monotonic() < deadline:
            time.sleep(0.01)
        yield crowd
    finally:
        for s in crowd:
            s.stop()


# -- the caller: a provider on the trunk, SIP and media over plain sockets -------------------


class Media(threading.Thread):
    """One UDP socket: keeps what arrives; with `ssrc`, sends 20 ms of silence every 20 ms
    (and an RTCP RR of that SSRC every 0.5 s from `rtcp`, when given) once `talk` is set."""

    def __init__(self, host: str, *, ssrc: int | None = None, rtcp: socket.socket | None = None):
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.sock.settimeout(0.02)
        self.port = self.sock.getsockname()[1]
        self.ssrc = ssrc
        self.rtcp = rtcp
        self.rtcp_in: list[bytes] = []
        self.received: list[bytes] = []
        self.target: tuple[str, int] | None = None
        self.talk = threading.Event()
        self._halt = threading.Event()

    def run(self) -> None:
        seq = 0
        next_send = time.monotonic()
        next_rtcp = next_send
        while not self._halt.is_set():
            try:
                self.received.append(self.sock.recv(4096))
            except (TimeoutError, OSError):
                pass
            if self.rtcp is not None:
                with contextlib.suppress(BlockingIOError, OSError):
                    while True:
                        self.rtcp_in.append(self.rtcp.recv(4096))
            now = time.monotonic()
            if self.ssrc is None or not self.talk.is_set() or self.target is None:
                continue
            while now >= next_send:
                packet = rtp_packet(0, 1000 + seq, seq * 160, self.ssrc, SILENCE, seq == 0)
                with contextlib.suppress(OSError):
                    self.sock.sendto(packet, self.target)
                seq += 1
                next_send += 0.02
            if self.rtcp is not None and now >= next_rtcp:
                with contextlib.suppress(OSError):
                    rr = build_rtcp_rr(ssrc=self.ssrc, blocks=[])
                    self.rtcp.sendto(rr, (self.target[0], self.target[1] + 1))
                next_rtcp = now + 0.5

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=10)
        self.sock.setblocking(False)
        with contextlib.suppress(OSError):
            while True:
                self.received.append(self.sock.recv(4096))
        self.sock.close()
        if self.rtcp is not None:
            self.rtcp.close()

    def audio(self) -> np.ndarray:
        packets = []
        for data in self.received:
            with contextlib.suppress(ValueError):
                packets.append(parse_rtp(data))
        return rtp_audio(packets)


class Call:
    """The provider's side of one call: INVITE with SDP naming `sdp_host`:`sdp_port`, ACK
    the 200, answer flowpbx's BYE."""

    def __init__(self, server: FlowpbxServer, sip: socket.socket, call_id: str) -> None:
        self.server = server
        self.sip = sip
        self.call_id = call_id
        self.port = sip.getsockname()[1]

    def invite(self, sdp_host: str, sdp_port: int) -> tuple[str, int]:
        """Returns flowpbx's RTP address from its answer."""
        host, sip_port = self.server.sip
        sdp = (
            f"v=0\r\no=p 1 1 IN IP4 {sdp_host}\r\ns=-\r\nc=IN IP4 {sdp_host}\r\nt=0 0\r\n"
            f"m=audio {sdp_port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
            "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n"
        )
        self._from = f"<sip:{CALLER}@provider.example>;tag=bleed-{self.call_id}"
        invite = (
            f"INVITE sip:{DID}@{host}:{sip_port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{self.port};branch=z9hG4bK{self.call_id}i;rport\r\n"
            "Max-Forwards: 70\r\n"
            f"From: {self._from}\r\n"
            f"To: <sip:{DID}@{host}>\r\n"
            f"Call-ID: {self.call_id}\r\n"
            "CSeq: 1 INVITE\r\n"
            f"Contact: <sip:provider@127.0.0.1:{self.port}>\r\n"
            "Content-Type: application/sdp\r\n"
            f"Content-Length: {len(sdp)}\r\n\r\n{sdp}"
        )
        self.sip.sendto(invite.encode(), self.server.sip)
        deadline = time.monotonic() + 15
        while True:
            msg = read_message(self.sip, max(0.1, deadline - time.monotonic()))
            start, body = msg.start, msg.body
            if start.startswith("SIP/2.0 ") and int(start.split()[1]) >= 200:
                break
        assert start.startswith("SIP/2.0 200"), (start, self.server.logs())
        self._to = msg["to"]
        contact = msg["contact"].strip("<>").split(">")[0]
        ack = (
            f"ACK {contact} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{self.port};branch=z9hG4bK{self.call_id}a;rport\r\n"
            "Max-Forwards: 70\r\n"
            f"From: {self._from}\r\n"
            f"To: {self._to}\r\n"
            f"Call-ID: {self.call_id}\r\n"
            "CSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
        )
        self.sip.sendto(ack.encode(), self.server.sip)
        lines = body.split("\r\n")
        address = next(x.split()[-1] for x in lines if x.startswith("c="))
        port = next(int(x.split()[1]) for x in lines if x.startswith("m=audio"))
        return address, port

    def wait_bye(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                msg = read_message(self.sip, max(0.1, deadline - time.monotonic()))
            except TimeoutError:
                raise AssertionError(f"no BYE from flowpbx\n{self.server.logs()}") from None
            if msg.start.startswith("BYE "):
                break
        self.sip.sendto(response(msg).encode(), self.server.sip)


def start_server(
    e2e: Harness, trunk_port: int, nodes: dict[str, Any], audio: list[Any]
) -> FlowpbxServer:
    server = FlowpbxServer(e2e.tmp_path, None)
    company(
        server,
        trunk_ports=[trunk_port],
        audio=[tone_audio(server, name, freq, seconds) for name, freq, seconds in audio],
        flows=[flow("Bleed", [DID], nodes)],
    )
    e2e.adopt(server)
    server.start()
    server.cli("user", "create", "admin", "--password", PASSWORD, "--role", "admin")
    return server


# -- the attacks -----------------------------------------------------------------------------


def _from_flowpbx(server: FlowpbxServer, crowd: list[Stranger]) -> list[tuple[str, int]]:
    ports = range(server.rtp_lo, server.rtp_hi + 1)
    return [addr for s in crowd for addr, _ in s.received if addr[1] in ports]


def test_strangers_spraying_the_port_range_get_no_prompt_and_the_caller_hears_it(
    e2e: Harness,
) -> None:
    """The caller's SDP and SIP name 127.0.0.1, like the first stranger's packets, and the
    caller sends nothing while it listens (silence suppression), so its leg never latches:
    the scanner's single packets per port never pass probation, the stream from 127.0.0.9
    is from the wrong host, and the prompt goes to the SDP's address. Before the fix the
    first stranger's packet on the port latched and the prompt went to that stranger."""
    trunk_port = free_udp_port()
    server = start_server(
        e2e,
        trunk_port,
        {"main": {"type": "play", "params": {"audio": "prompt"}}},
        [("prompt", 700.0, 3.0)],
    )
    sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sip.bind(("127.0.0.1", trunk_port))
    caller = Media("127.0.0.1")  # silent: sends no RTP
    caller.start()
    try:
        with strangers(server) as crowd:
            call = Call(server, sip, "bleed-prompt")
            caller.target = call.invite("127.0.0.1", caller.port)
            call.wait_bye(30)  # the play flow hangs up after its prompt
    finally:
        caller.stop()
        sip.close()
    assert _from_flowpbx(server, crowd) == []
    audio = caller.audio()
    assert len(caller.received) >= 150, (len(caller.received), server.logs())  # 3 s prompt
    assert has_tone(audio, 700.0, 2.8), server.logs()
    assert rms(audio) > 1000
    (row,) = server.history()
    assert row["call_id"] == "bleed-prompt" and row["outcome"] != "in_progress"
    counters = metrics(server, login(server, "admin", PASSWORD))
    assert counters["flowpbx_rtp_packets_ignored"] > 0, counters
    assert counters["flowpbx_rtcp_packets_ignored"] > 0, counters


def test_strangers_keys_do_not_reach_a_menu(e2e: Harness) -> None:
    """RFC 4733 key 1 sprayed at every port before and during the call: the menu waiting
    for a key hears none and times out; the caller hears what follows a timeout."""
    trunk_port = free_udp_port()
    server = start_server(
        e2e,
        trunk_port,
        {
            "main": {
                "type": "menu",
                "params": {"prompt": "menu-prompt", "timeout_s": 2, "retries": 0, "keys": ["1"]},
                "next": {"1": "secret", "timeout": "nokey", "invalid": "nokey"},
            },
            "secret": {"type": "play", "params": {"audio": "secret"}},
            "nokey": {"type": "play", "params": {"audio": "nokey"}},
        },
        [("menu-prompt", 500.0, 1.0), ("secret", 900.0, 1.0), ("nokey", 300.0, 1.0)],
    )
    sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sip.bind(("127.0.0.1", trunk_port))
    caller = Media("127.0.0.1", ssrc=0xCA12)
    caller.start()
    try:
        with strangers(server, dtmf=True) as crowd:
            call = Call(server, sip, "bleed-menu")
            caller.target = call.invite("127.0.0.1", caller.port)
            caller.talk.set()
            call.wait_bye(30)
    finally:
        caller.stop()
        sip.close()
    (row,) = server.history()
    assert trace_output(row, "main") == "timeout", row["trace"]
    assert "secret" not in [e.get("node") for e in row["trace"]], row["trace"]
    audio = caller.audio()
    assert has_tone(audio, 300.0, 0.8) and not has_tone(audio, 900.0, 0.2)
    assert _from_flowpbx(server, crowd) == []


def test_a_phone_behind_nat_latches_rtp_and_rtcp_while_strangers_spray(e2e: Harness) -> None:
    """The provider's SDP names 127.0.0.5 (its private address); its RTP and RTCP come from
    its SIP host 127.0.0.1 on ports of the NAT's choosing. The leg latches on to its RTP
    after probation and on to its RTCP by host and SSRC, so the prompt and flowpbx's RTCP
    reports reach it there; the strangers get neither. (Before the fix the stream from
    127.0.0.9 latched first.)"""
    trunk_port = free_udp_port()
    server = start_server(
        e2e,
        trunk_port,
        # Long enough for an RTCP report (every 5 s +-50 %).
        {"main": {"type": "play", "params": {"audio": "prompt"}}},
        [("prompt", 700.0, 9.0)],
    )
    sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sip.bind(("127.0.0.1", trunk_port))
    private = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # nothing real listens there
    private.bind(("127.0.0.5", 0))
    rtcp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rtcp.bind(("127.0.0.1", 0))
    rtcp.setblocking(False)
    phone = Media("127.0.0.1", ssrc=0x0A7, rtcp=rtcp)
    assert rtcp.getsockname()[1] != phone.port + 1  # RTCP must be learned, not guessed
    phone.start()
    try:
        with strangers(server) as crowd:
            call = Call(server, sip, "bleed-nat")
            phone.target = call.invite("127.0.0.5", private.getsockname()[1])
            phone.talk.set()
            call.wait_bye(40)
    finally:
        phone.stop()
        sip.close()
        private.close()
    assert _from_flowpbx(server, crowd) == []
    audio = phone.audio()
    # All but the first packets (sent to the SDP's address until probation passed).
    assert has_tone(audio, 700.0, 8.5), server.logs()
    reports = [d for d in phone.rtcp_in if len(d) >= 8 and d[1] in (200, 201)]
    assert reports, server.logs()
    counters = metrics(server, login(server, "admin", PASSWORD))
    assert counters["flowpbx_rtp_packets_ignored"] > 0, counters
    assert counters["flowpbx_rtcp_packets_ignored"] > 0, counters

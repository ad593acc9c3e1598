"""The per-packet relay path of `RtpEndpoint` over real UDP sockets on loopback: plain
12-octet headers take the fast path (integers from the datagram, no header object); packets
with CSRCs, a header extension or padding, telephone-events and RTCP on the RTP port take
the general one. Both must forward the same bytes (payload, CSRCs, extension, padding kept;
sequence, timestamp and SSRC continuous in the outgoing stream) and count the same.

The socket tests that depend on the poller also run on uvloop, which `flowpbx serve` uses
(`test_on_uvloop`): uvloop stops watching a socket whose poll reported an error."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import uvloop

from flowpbx.media.rtp import RtpSender, build_rtp, parse_rtp
from flowpbx.pbx.rtp.bridge import Bridge
from flowpbx.pbx.rtp.clock import MediaClock
from flowpbx.pbx.rtp.endpoint import RtpEndpoint
from flowpbx.pbx.rtp.ports import RTP_SOCKET_BUFFER, RtpPortPool
from flowpbx.sip.sdp import MediaParams
from tests.netutil import free_port_block


class Phone:
    """A plain UDP socket standing for a phone."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]

    def send(self, data: bytes, port: int) -> None:
        self.sock.sendto(data, ("127.0.0.1", port))

    async def receive(self, count: int, timeout: float = 10.0) -> list[bytes]:
        loop = asyncio.get_running_loop()
        got: list[bytes] = []
        deadline = loop.time() + timeout
        while len(got) < count and loop.time() < deadline:
            try:
                got.append(self.sock.recv(2048))
            except BlockingIOError:
                await asyncio.sleep(0.005)
        return got

    def close(self) -> None:
        self.sock.close()


def _params(phone: Phone) -> MediaParams:
    return MediaParams(
        address="127.0.0.1", port=phone.port, payload_type=0, codec="PCMU", dtmf_payload_type=101
    )


Pair = tuple[RtpEndpoint, RtpEndpoint, Phone, Phone, Bridge]


@contextlib.asynccontextmanager
async def bridged_pair() -> AsyncIterator[Pair]:
    low = free_port_block(8)
    pool = RtpPortPool(low, low + 8)
    clock = MediaClock()
    a, b = Phone(), Phone()
    ea = await RtpEndpoint.open(pool, "127.0.0.1", rtcp=False)
    eb = await RtpEndpoint.open(pool, "127.0.0.1", rtcp=False)
    ea.set_remote(_params(a))
    eb.set_remote(_params(b))
    bridge = Bridge(clock)
    bridge.add_endpoint("caller", ea)
    bridge.add_endpoint("callee", eb)
    assert not bridge.mixing and ea.peer is eb
    try:
        yield ea, eb, a, b, bridge
    finally:
        bridge.close()
        ea.close()
        eb.close()
        clock.close()
        a.close()
        b.close()


@pytest.fixture
async def pair() -> AsyncIterator[Pair]:
    async with bridged_pair() as p:
        yield p


def _with_csrc_and_extension(seq: int, ts: int, payload: bytes) -> bytes:
    # V=2, X=1, CC=1; one CSRC; extension profile 0xBEDE with one 32-bit word.
    header = struct.pack("!BBHII", 0x91, 0, seq, ts, 0x1234) + struct.pack("!I", 0xCAFE)
    return header + struct.pack("!HHI", 0xBEDE, 1, 0x01020304) + payload


def _with_padding(seq: int, ts: int, payload: bytes) -> bytes:
    return struct.pack("!BBHII", 0xA0, 0, seq, ts, 0x1234) + payload + b"\x00\x00\x03"


async def test_fast_and_general_paths_forward_the_same_stream(
    pair: Pair,
) -> None:
    ea, eb, a, b, _ = pair
    sender = RtpSender(payload_type=0, ssrc=0x1234, sequence=100, timestamp=8000)
    payloads = [bytes([i]) * 160 for i in range(8)]
    sent: list[bytes] = []
    for i, payload in enumerate(payloads):
        plain = sender.packet(payload)
        header = parse_rtp(plain)
        assert header is not None
        if i == 3:
            packet = _with_csrc_and_extension(header.sequence, header.timestamp, payload)
        elif i == 5:
            packet = _with_padding(header.sequence, header.timestamp, payload)
        else:
            packet = plain
        sent.append(packet)
        a.send(packet, ea.port)
        await asyncio.sleep(0.002)  # in order on loopback
    got = await b.receive(len(sent))
    assert len(got) == len(sent)
    headers = [parse_rtp(d) for d in got]
    assert all(h is not None for h in headers)
    seqs = [h.sequence for h in headers if h is not None]
    stamps = [h.timestamp for h in headers if h is not None]
    assert {h.ssrc for h in headers if h is not None} == {eb.sender.ssrc}
    assert all((s2 - s1) & 0xFFFF == 1 for s1, s2 in itertools.pairwise(seqs))
    assert all((t2 - t1) & 0xFFFFFFFF == 160 for t1, t2 in itertools.pairwise(stamps))
    for original, forwarded in zip(sent, got, strict=True):
        # Everything after sequence/timestamp/SSRC is forwarded byte for byte (payload,
        # CSRC list, header extension, padding), and the first two octets too.
        assert forwarded[:2] == original[:2] and forwarded[12:] == original[12:]
    assert ea.packets_in == len(sent) and eb.packets_out == len(sent)
    # RFC 3550 A.1: the first packet of a new source is its probation, not counted.
    assert ea.rx_stats.received == len(sent) - 1 and ea.rx_stats.lost == 0
    assert ea.remote == ("127.0.0.1", a.port) and ea.latched


async def test_strangers_rtcp_and_events_after_latching(
    pair: Pair,
) -> None:
    ea, _, a, b, _ = pair
    digits: list[str] = []
    ea.on_digit = digits.append
    sender = RtpSender(payload_type=0, ssrc=0x55, sequence=1, timestamp=0)
    a.send(sender.packet(b"\xff" * 160), ea.port)
    assert len(await b.receive(1)) == 1  # latched on to phone a
    stranger = Phone()
    try:
        stranger.send(sender.packet(b"\x00" * 160), ea.port)
        await asyncio.sleep(0.05)
        assert ea.packets_in == 1  # not the stream we latched on to
    finally:
        stranger.close()
    # An RTCP receiver report on the RTP port (RFC 5761) is not RTP: not counted or relayed.
    a.send(struct.pack("!BBHI", 0x80, 201, 1, 0x55), ea.port)
    # Telephone-event '5' (RFC 4733): start and end packets, relayed as events.
    held = sender.timestamp
    start = sender.event_packet(
        bytes([5, 10, 0, 160]), timestamp=held, marker=True, payload_type=101
    )
    end = sender.event_packet(
        bytes([5, 0x80 | 10, 1, 64]), timestamp=held, marker=False, payload_type=101
    )
    a.send(start, ea.port)
    a.send(end, ea.port)
    got = await b.receive(2)
    assert len(got) == 2
    assert all(parse_rtp(d) is not None and parse_rtp(d).payload_type == 101 for d in got)  # type: ignore[union-attr]
    assert ea.packets_in == 3 and digits == ["5"]


async def test_a_mixing_bridge_gets_fast_path_packets_in_its_jitter_buffer(
    pair: Pair,
) -> None:
    ea, _, a, _, bridge = pair
    bridge.add_tap("recorder", lambda frame: None)
    assert bridge.mixing and ea.jitter is not None and ea.peer is None
    sender = RtpSender(payload_type=0, ssrc=0x77, sequence=10, timestamp=0)
    for _ in range(3):
        a.send(sender.packet(b"\x7f" * 160), ea.port)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while ea.packets_in < 3 and loop.time() < deadline:
        await asyncio.sleep(0.01)
    assert ea.packets_in == 3 and ea.rx_stats.received == 2  # 1 packet of probation


async def test_rtp_sockets_get_large_buffers() -> None:
    low = free_port_block(4)
    pool = RtpPortPool(low, low + 4)
    sock = pool.bind("127.0.0.1")
    try:
        rmem_max = int(Path("/proc/sys/net/core/rmem_max").read_text())
        wmem_max = int(Path("/proc/sys/net/core/wmem_max").read_text())
        # Linux doubles what is asked (bookkeeping) and caps it at the system maximum.
        rcv = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        snd = sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
        assert rcv >= 2 * min(RTP_SOCKET_BUFFER, rmem_max)
        assert snd >= 2 * min(RTP_SOCKET_BUFFER, wmem_max)
    finally:
        sock.close()


def test_sender_packet_matches_build_rtp() -> None:
    sender = RtpSender(payload_type=8, ssrc=0xDEADBEEF, sequence=0xFFFF, timestamp=0xFFFFFF60)
    first = sender.packet(b"\x01" * 160, marker=True)
    second = sender.packet(b"\x02" * 160)
    assert first == build_rtp(
        payload_type=8,
        sequence=0xFFFF,
        timestamp=0xFFFFFF60,
        ssrc=0xDEADBEEF,
        payload=b"\x01" * 160,
        marker=True,
    )
    assert second == build_rtp(
        payload_type=8, sequence=0, timestamp=0, ssrc=0xDEADBEEF, payload=b"\x02" * 160
    )


async def test_ipv6_legs_latch_and_relay() -> None:
    """uvloop hands IPv6 sources over as 4-tuples: latching must compare host and port."""
    low = free_port_block(4)
    pool = RtpPortPool(low, low + 4)
    phones = []
    for _ in range(2):
        sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        sock.bind(("::1", 0))
        sock.setblocking(False)
        phones.append(sock)
    ea = await RtpEndpoint.open(pool, "::1", rtcp=False)
    eb = await RtpEndpoint.open(pool, "::1", rtcp=False)
    try:
        for ep, sock in ((ea, phones[0]), (eb, phones[1])):
            ep.set_remote(
                MediaParams(
                    address="::1",
                    port=sock.getsockname()[1],
                    payload_type=0,
                    codec="PCMU",
                    dtmf_payload_type=101,
                )
            )
        ea.peer, eb.peer = eb, ea
        sender = RtpSender(payload_type=0, ssrc=9, sequence=1, timestamp=0)
        for _ in range(3):
            phones[0].sendto(sender.packet(b"\x55" * 160), ("::1", ea.port))
        loop = asyncio.get_running_loop()
        got: list[bytes] = []
        deadline = loop.time() + 10
        while len(got) < 3 and loop.time() < deadline:
            try:
                got.append(phones[1].recv(2048))
            except BlockingIOError:
                await asyncio.sleep(0.005)
        assert len(got) == 3 and all(d[12:] == b"\x55" * 160 for d in got)
        assert ea.latched and ea.remote == ("::1", phones[0].getsockname()[1])
        assert ea.packets_in == 3 and eb.packets_out == 3
    finally:
        ea.close()
        eb.close()
        for sock in phones:
            sock.close()


async def test_latched_socket_is_connected_and_a_new_offer_unlatches_it(pair: Pair) -> None:
    await _latched_socket_is_connected_and_a_new_offer_unlatches_it(pair)


async def _latched_socket_is_connected_and_a_new_offer_unlatches_it(pair: Pair) -> None:
    """Once latched, the endpoint's socket is connected to the phone (the kernel drops other
    senders; the relay sends without an address); `relatch` and the new offer's SDP (a
    re-INVITE) let the address it names latch, and then the old address is the stranger."""
    ea, eb, a, b, _ = pair
    sender = RtpSender(payload_type=0, ssrc=0x66, sequence=1, timestamp=0)
    a.send(sender.packet(b"\x11" * 160), ea.port)
    assert len(await b.receive(1)) == 1
    assert ea.connected and ea.sock is not None
    assert ea.sock.getpeername() == ("127.0.0.1", a.port)
    # b's stream reaches a through eb (latched and connected to b as well).
    b.send(RtpSender(payload_type=0, ssrc=0x67).packet(b"\x22" * 160), eb.port)
    back = await a.receive(1)
    assert len(back) == 1 and back[0][12:] == b"\x22" * 160 and eb.connected
    moved = Phone()  # the phone's new address after the re-INVITE
    try:
        moved.send(sender.packet(b"\x33" * 160), ea.port)
        await asyncio.sleep(0.05)
        assert ea.packets_in == 1  # dropped by the kernel: not the latched peer
        ea.relatch()
        assert not ea.latched and not ea.connected
        assert ea.sock.getsockname() == ("127.0.0.1", ea.port)  # port and address kept
        ea.set_remote(_params(moved))
        moved.send(sender.packet(b"\x44" * 160), ea.port)
        got = await b.receive(1)
        assert len(got) == 1 and got[0][12:] == b"\x44" * 160
        assert ea.remote == ("127.0.0.1", moved.port) and ea.connected
        a.send(sender.packet(b"\x55" * 160), ea.port)  # the old address is a stranger now
        await asyncio.sleep(0.05)
        assert ea.packets_in == 2
    finally:
        moved.close()


async def test_peer_gone_icmp_errors_do_not_stop_the_leg(pair: Pair) -> None:
    await _peer_gone_icmp_errors_do_not_stop_the_leg(pair)


async def _peer_gone_icmp_errors_do_not_stop_the_leg(pair: Pair) -> None:
    """The phone behind a latched (connected) leg closes its port: relaying to it brings ICMP
    port unreachable, which a connected UDP socket reports on its next call. Nothing is
    raised, and the leg relays again once the phone is back on the same port."""
    ea, eb, a, b, _ = pair
    a.send(RtpSender(payload_type=0, ssrc=0x70).packet(b"\x01" * 160), ea.port)
    assert len(await b.receive(1)) == 1 and ea.connected
    port = a.port
    a.close()
    to_a = RtpSender(payload_type=0, ssrc=0x71, sequence=1, timestamp=0)
    for _ in range(5):  # relayed by ea to the closed port: ICMP errors queue on ea's socket
        b.send(to_a.packet(b"\x02" * 160), eb.port)
        await asyncio.sleep(0.01)
    back = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    back.bind(("127.0.0.1", port))
    back.setblocking(False)
    try:
        back.sendto(to_a.packet(b"\x03" * 160), ("127.0.0.1", ea.port))  # still latched
        assert len(await b.receive(1)) == 1
        b.send(to_a.packet(b"\x04" * 160), eb.port)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        got = b""
        while loop.time() < deadline:
            try:
                got = back.recv(2048)
                break
            except BlockingIOError:
                await asyncio.sleep(0.005)
        assert got[12:] == b"\x04" * 160
    finally:
        back.close()


async def test_sdp_host_name_is_not_sent_to_until_latched() -> None:
    """A c= line may name a host; resolving it would block the loop on every packet, so
    the leg sends nothing until the peer's first packet gives its address."""
    low = free_port_block(4)
    pool = RtpPortPool(low, low + 4)
    ep = await RtpEndpoint.open(pool, "127.0.0.1", rtcp=False)
    phone = Phone()
    try:
        ep.set_remote(
            MediaParams(address="phone.example", port=phone.port, payload_type=0, codec="PCMU")
        )
        assert ep.remote is None
        ep.send_payload(b"\xff" * 160)
        assert ep.packets_out == 0
        ep.allow_source("127.0.0.1")
        stream = RtpSender(payload_type=0, ssrc=5)
        for _ in range(pool.probation):
            phone.send(stream.packet(b"\xff" * 160), ep.port)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while not ep.latched and loop.time() < deadline:
            await asyncio.sleep(0.005)
        assert ep.remote == ("127.0.0.1", phone.port)
        ep.send_payload(b"\x7f" * 160)
        got = await phone.receive(1)
        assert len(got) == 1 and got[0][12:] == b"\x7f" * 160
    finally:
        ep.close()
        phone.close()


@pytest.mark.parametrize(
    "scenario",
    [
        _latched_socket_is_connected_and_a_new_offer_unlatches_it,
        _peer_gone_icmp_errors_do_not_stop_the_leg,
    ],
)
def test_on_uvloop(scenario: Callable[[Pair], Awaitable[None]]) -> None:
    """The same scenarios on uvloop, the loop `flowpbx serve` runs (pytest-asyncio runs the
    others on the default loop): after an ICMP error uvloop stops watching the socket unless
    the leg watches it again."""

    async def run() -> None:
        async with bridged_pair() as p:
            await scenario(p)

    uvloop.run(run())

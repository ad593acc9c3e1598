"""Strict RTP/RTCP source learning and random port allocation (`RtpPortPool`, `RtpEndpoint`,
`RtcpChannel`) over real UDP sockets on loopback. 127.0.0.0/8 is all local on Linux, so other
loopback addresses stand for other hosts: 127.0.0.1 is where the leg's SIP signalling comes
from, 127.0.0.5 a phone's private address written in its SDP (nothing listens there), and
127.0.0.9 a stranger on the internet."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
from collections.abc import AsyncIterator

import pytest

from flowpbx.media.rtp import RtpSender, build_rtcp_rr, build_rtp
from flowpbx.pbx.rtp.endpoint import RtpEndpoint
from flowpbx.pbx.rtp.ports import RtpPortPool
from flowpbx.settings import Settings, SettingsError
from flowpbx.sip.sdp import MediaParams
from tests.netutil import free_port_block

SIGNALLING = "127.0.0.1"
PRIVATE = "127.0.0.5"
STRANGER = "127.0.0.9"


class Peer:
    """A UDP socket on a loopback address, standing for a phone or a stranger."""

    def __init__(self, host: str = SIGNALLING, port: int = 0) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, port))
        self.sock.setblocking(False)
        self.host, self.port = self.sock.getsockname()

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

    def pending(self) -> list[bytes]:
        got: list[bytes] = []
        with contextlib.suppress(BlockingIOError):
            while True:
                got.append(self.sock.recv(2048))
        return got

    def close(self) -> None:
        self.sock.close()


def params(host: str, port: int) -> MediaParams:
    return MediaParams(address=host, port=port, payload_type=0, codec="PCMU", dtmf_payload_type=101)


async def settle(endpoint: RtpEndpoint, seen: int) -> None:
    """Wait until the leg has handled `seen` datagrams (taken or ignored)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while endpoint.packets_in + endpoint.pool.rtp_ignored < seen and loop.time() < deadline:
        await asyncio.sleep(0.005)


@contextlib.asynccontextmanager
async def leg(*, strict: bool = True, rtcp: bool = False) -> AsyncIterator[RtpEndpoint]:
    low = free_port_block(8)
    pool = RtpPortPool(low, low + 8, strict=strict)
    endpoint = await RtpEndpoint.open(pool, "127.0.0.1", rtcp=rtcp)
    endpoint.allow_source(SIGNALLING)  # what Leg does with the SIP source address
    try:
        yield endpoint
    finally:
        endpoint.close()


def spray(stranger: Peer, port: int, count: int) -> None:
    """What a port scanner sends: one packet per port per sweep, so each port sees sequence
    numbers far apart (the scanner's one counter runs over the whole range)."""
    for i in range(count):
        packet = build_rtp(
            payload_type=0, sequence=7 + 100 * i, timestamp=160 * i, ssrc=0xBAD, payload=b"\0" * 160
        )
        stranger.send(packet, port)


# -- ports -------------------------------------------------------------------------------


def test_ports_are_handed_out_at_random_within_the_range() -> None:
    low = free_port_block(400)
    pools = [RtpPortPool(low, low + 400) for _ in range(2)]
    socks: list[list[socket.socket]] = [[], []]
    try:
        for pool, got in zip(pools, socks, strict=True):
            for _ in range(20):
                got.append(pool.bind("127.0.0.1"))
        ports = [[s.getsockname()[1] for s in got] for got in socks]
        for seq in ports:
            assert all(low <= p <= low + 398 and p % 2 == 0 for p in seq), seq
            assert len(set(seq)) == 20
            # In order, the next port is the last one + 2; at random, hardly ever.
            steps = sum(1 for a, b in itertools.pairwise(seq) if b == a + 2)
            assert steps < 5, seq
        # Two pools over the same range do not hand out the same sequence (1 in 10^45).
        assert ports[0] != ports[1]
    finally:
        for got in socks:
            for s in got:
                s.close()


def test_every_port_is_used_once_and_a_released_port_comes_back() -> None:
    low = free_port_block(8)
    pool = RtpPortPool(low, low + 8)
    socks = [pool.bind("127.0.0.1") for _ in range(4)]
    try:
        ports = sorted(s.getsockname()[1] for s in socks)
        assert ports == [low, low + 2, low + 4, low + 6]
        with pytest.raises(RuntimeError):
            pool.bind("127.0.0.1")
        first = next(s for s in socks if s.getsockname()[1] == ports[0])
        first.close()
        socks.remove(first)
        pool.release(ports[0])
        socks.append(pool.bind("127.0.0.1"))
        assert socks[-1].getsockname()[1] == ports[0] and pool.in_use == 4
    finally:
        for s in socks:
            s.close()


def test_a_port_someone_else_holds_is_skipped() -> None:
    low = free_port_block(4)
    pool = RtpPortPool(low, low + 4)
    squatter = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    squatter.bind(("127.0.0.1", low))
    try:
        sock = pool.bind("127.0.0.1")
        assert sock.getsockname()[1] == low + 2
        sock.close()
    finally:
        squatter.close()


# -- RTP ---------------------------------------------------------------------------------


async def test_a_spraying_stranger_on_the_phones_host_neither_latches_nor_hears() -> None:
    """The SDP and the signalling name 127.0.0.1; a stranger on 127.0.0.1 (another port)
    sprays single packets: ignored and counted. What the leg sends goes to the SDP's
    address, and the phone's first packet latches at once."""
    async with leg() as ep:
        phone, stranger = Peer(), Peer()
        try:
            ep.set_remote(params(SIGNALLING, phone.port))
            spray(stranger, ep.port, 20)
            await settle(ep, 20)
            assert not ep.latched and ep.packets_in == 0 and ep.pool.rtp_ignored == 20
            assert ep.pool.counters()["rtp_packets_ignored"] == 20
            ep.send_payload(b"\x55" * 160)
            assert len(await phone.receive(1)) == 1
            phone.send(RtpSender(payload_type=0, ssrc=1).packet(b"\x11" * 160), ep.port)
            await settle(ep, 21)
            assert ep.latched and ep.connected and ep.remote == (SIGNALLING, phone.port)
            spray(stranger, ep.port, 5)  # after latching the kernel drops them
            ep.send_payload(b"\x66" * 160)
            assert len(await phone.receive(1)) == 1
            assert stranger.pending() == [] and ep.packets_in == 1
        finally:
            phone.close()
            stranger.close()


async def test_a_stranger_elsewhere_is_ignored_even_with_a_proper_stream() -> None:
    async with leg() as ep:
        phone, stranger = Peer(), Peer(STRANGER)
        try:
            ep.set_remote(params(PRIVATE, 40000))
            stream = RtpSender(payload_type=0, ssrc=0xE7)
            for _ in range(10):
                stranger.send(stream.packet(b"\x00" * 160), ep.port)
            await settle(ep, 10)
            assert not ep.latched and ep.pool.rtp_ignored == 10
        finally:
            phone.close()
            stranger.close()


async def test_a_phone_behind_nat_latches_after_probation() -> None:
    """SDP names the phone's private address; its media comes from the signalling's IP on
    another port: the first `probation - 1` packets are held back, then the leg latches, and
    a stranger's single packets in between (on the same host) do not stop it."""
    async with leg() as ep:
        phone, stranger = Peer(), Peer()
        try:
            ep.set_remote(params(PRIVATE, 40000))
            stream = RtpSender(payload_type=0, ssrc=0x42)
            probation = ep.pool.probation
            assert probation == 3
            for i in range(probation):
                phone.send(stream.packet(bytes([i]) * 160), ep.port)
                spray(stranger, ep.port, 1)
            await settle(ep, 2 * probation)
            assert ep.latched and ep.remote == (SIGNALLING, phone.port)
            # Taken: the packet that completed probation. The stranger's packet queued
            # behind it before the socket was connected is ignored all the same.
            assert ep.packets_in == 1 and ep.pool.rtp_ignored == 2 * probation - 1
            ep.send_payload(b"\x77" * 160)
            got = await phone.receive(1)
            assert len(got) == 1 and got[0][12:] == b"\x77" * 160
        finally:
            phone.close()
            stranger.close()


@pytest.mark.parametrize("broken", ["ssrc", "gap"])
async def test_probation_needs_one_ssrc_in_sequence(broken: str) -> None:
    async with leg() as ep:
        phone = Peer()
        try:
            ep.set_remote(params(PRIVATE, 40000))
            for i in range(6):
                ssrc, seq = (0x42 + i, 100 + i) if broken == "ssrc" else (0x42, 100 + 2 * i)
                packet = build_rtp(
                    payload_type=0, sequence=seq, timestamp=160 * i, ssrc=ssrc, payload=b"\1" * 160
                )
                phone.send(packet, ep.port)
            await settle(ep, 6)
            assert not ep.latched and ep.pool.rtp_ignored == 6
        finally:
            phone.close()


async def test_only_a_new_offer_learns_again() -> None:
    async with leg() as ep:
        phone, moved = Peer(), Peer()
        try:
            ep.set_remote(params(SIGNALLING, phone.port))
            phone.send(RtpSender(payload_type=0, ssrc=1).packet(b"\x11" * 160), ep.port)
            await settle(ep, 1)
            assert ep.remote == (SIGNALLING, phone.port)
            # The same SDP again (a session refresh answered): still latched.
            ep.set_remote(params(SIGNALLING, phone.port))
            assert ep.latched and ep.connected
            # An answer naming another address (another fork, a moved stream) learns again.
            ep.set_remote(params(SIGNALLING, moved.port))
            assert not ep.latched and not ep.connected
            moved.send(RtpSender(payload_type=0, ssrc=2).packet(b"\x22" * 160), ep.port)
            await settle(ep, 2)
            assert ep.latched and ep.remote == (SIGNALLING, moved.port)
        finally:
            phone.close()
            moved.close()


async def test_not_strict_any_address_latches_after_probation() -> None:
    async with leg(strict=False) as ep:
        far = Peer(STRANGER)
        try:
            ep.set_remote(params(PRIVATE, 40000))
            spray(far, ep.port, 5)
            stream = RtpSender(payload_type=0, ssrc=3)
            for _ in range(ep.pool.probation):
                far.send(stream.packet(b"\x01" * 160), ep.port)
            await settle(ep, 5 + ep.pool.probation)
            assert ep.latched and ep.remote == (STRANGER, far.port)
        finally:
            far.close()


async def test_events_of_a_stranger_are_not_digits() -> None:
    """RFC 4733 '1' from a stranger on the phone's host, start and end packets of one event
    as a scanner would send them: no digit."""
    async with leg() as ep:
        digits: list[str] = []
        ep.on_digit = digits.append
        stranger = Peer()
        try:
            ep.set_remote(params(SIGNALLING, 40000))
            for i, end in enumerate((False, False, True, True, True)):
                packet = build_rtp(
                    payload_type=101,
                    sequence=10 + 50 * i,  # one packet per sweep of the port range
                    timestamp=8000,
                    ssrc=0xD7,
                    payload=bytes([1, (0x80 if end else 0) | 10, 0, 160]),
                    marker=i == 0,
                )
                stranger.send(packet, ep.port)
            await settle(ep, 5)
            assert digits == [] and not ep.latched
        finally:
            stranger.close()


# -- RTCP --------------------------------------------------------------------------------


def rr(ssrc: int) -> bytes:
    return build_rtcp_rr(ssrc=ssrc, blocks=[])


async def rtcp_settle(ep: RtpEndpoint, seen: int) -> None:
    assert ep.rtcp is not None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while ep.rtcp.reports_in + ep.pool.rtcp_ignored < seen and loop.time() < deadline:
        await asyncio.sleep(0.005)


async def test_rtcp_from_the_sdp_address_is_taken_and_strangers_are_ignored() -> None:
    async with leg(rtcp=True) as ep:
        assert ep.rtcp is not None
        base = free_port_block(2)
        phone, phone_rtcp = Peer(SIGNALLING, base), Peer(SIGNALLING, base + 1)
        stranger, far = Peer(), Peer(STRANGER)
        try:
            ep.set_remote(params(SIGNALLING, phone.port))
            stranger.send(rr(0x51), ep.port + 1)
            far.send(rr(0x51), ep.port + 1)
            await rtcp_settle(ep, 2)
            assert not ep.rtcp.latched and ep.pool.rtcp_ignored == 2
            phone_rtcp.send(rr(0x99), ep.port + 1)
            await rtcp_settle(ep, 3)
            assert ep.rtcp.latched and ep.rtcp.remote == (SIGNALLING, phone.port + 1)
            stranger.send(rr(0x99), ep.port + 1)
            await rtcp_settle(ep, 4)
            assert ep.pool.rtcp_ignored == 3 and ep.rtcp.reports_in == 1
            assert ep.pool.counters()["rtcp_packets_ignored"] == 3
        finally:
            for p in (phone, stranger, far, phone_rtcp):
                p.close()


async def test_rtcp_of_a_phone_behind_nat_follows_its_rtp_and_a_new_offer_resets_it() -> None:
    """Behind NAT the phone's RTCP comes from its public host on a port of the NAT's
    choosing: taken once RTP latched on to that host and the report's sender SSRC is the
    RTP stream's. A stranger on the same host with another SSRC is ignored; so is anything
    before RTP latched. A new offer learns RTCP again."""
    async with leg(rtcp=True) as ep:
        assert ep.rtcp is not None
        phone, phone_rtcp, stranger = Peer(), Peer(), Peer()
        try:
            ep.set_remote(params(PRIVATE, 40000))
            phone_rtcp.send(rr(0x42), ep.port + 1)  # before RTP latched: not yet
            await rtcp_settle(ep, 1)
            assert not ep.rtcp.latched and ep.pool.rtcp_ignored == 1
            stream = RtpSender(payload_type=0, ssrc=0x42)
            for _ in range(ep.pool.probation):
                phone.send(stream.packet(b"\x01" * 160), ep.port)
            await settle(ep, ep.pool.probation)
            assert ep.latched
            stranger.send(rr(0x43), ep.port + 1)  # same host, not the stream's SSRC
            await rtcp_settle(ep, 2)
            assert not ep.rtcp.latched and ep.pool.rtcp_ignored == 2
            phone_rtcp.send(rr(0x42), ep.port + 1)
            await rtcp_settle(ep, 3)
            assert ep.rtcp.latched and ep.rtcp.remote == (SIGNALLING, phone_rtcp.port)
            ep.rtcp.send_report()
            got = await phone_rtcp.receive(1)
            assert len(got) == 1 and got[0][1] in (200, 201)
            assert stranger.pending() == []
            ep.relatch()  # a new offer
            assert not ep.rtcp.latched and ep.rtcp.remote is None
        finally:
            for p in (phone, phone_rtcp, stranger):
                p.close()


def test_counters_start_at_zero() -> None:
    pool = RtpPortPool(10000, 10010)
    assert pool.counters() == {"rtp_packets_ignored": 0, "rtcp_packets_ignored": 0}


# -- settings ------------------------------------------------------------------------------


def test_settings_strict_and_probation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLOWPBX_RTP_STRICT", raising=False)
    monkeypatch.delenv("FLOWPBX_RTP_PROBATION", raising=False)
    settings = Settings.from_env()
    assert settings.rtp_strict is True and settings.rtp_probation == 3
    monkeypatch.setenv("FLOWPBX_RTP_STRICT", "0")
    monkeypatch.setenv("FLOWPBX_RTP_PROBATION", "5")
    settings = Settings.from_env()
    assert settings.rtp_strict is False and settings.rtp_probation == 5
    for name, bad in (("FLOWPBX_RTP_STRICT", "maybe"), ("FLOWPBX_RTP_PROBATION", "0")):
        monkeypatch.setenv(name, bad)
        with pytest.raises(SettingsError, match=name):
            Settings.from_env()
        monkeypatch.delenv(name)

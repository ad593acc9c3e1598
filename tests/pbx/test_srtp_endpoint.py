"""An SRTP leg's `RtpEndpoint` over real UDP sockets on loopback (pbx/rtp/endpoint.py use_srtp,
pbx/rtp/rtcp.py): SRTP from the phone is relayed as plain RTP to a plain leg and back,
two SRTP legs relay through decrypt + re-encrypt, packets failing authentication (forged,
replayed, plain) are dropped and counted without reaching the other leg, and RTCP goes as
SRTCP both ways. The relay also runs on uvloop, as `flowpbx serve` does."""

from __future__ import annotations

import asyncio
import socket
import struct

import pytest
import uvloop

from flowpbx.media import srtp as srtp_mod
from flowpbx.media.rtp import build_rtcp_rr
from flowpbx.media.srtp import SrtpContext
from flowpbx.pbx.rtp.endpoint import RtpEndpoint
from flowpbx.pbx.rtp.ports import RtpPortPool
from flowpbx.sip.sdp import MediaParams
from tests.netutil import free_port_block

SUITE = "AES_CM_128_HMAC_SHA1_80"
UP, DOWN = bytes(range(30)), bytes(range(50, 80))  # phone -> pbx, pbx -> phone


class Phone:
    """A UDP socket pair (RTP, RTCP) standing for a phone."""

    def __init__(self, ctx: SrtpContext | None = None) -> None:
        base = free_port_block(2)
        self.rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rtp.bind(("127.0.0.1", base))
        self.rtcp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rtcp.bind(("127.0.0.1", base + 1))
        for s in (self.rtp, self.rtcp):
            s.setblocking(False)
        self.port = base
        self.ctx = ctx

    def params(self) -> MediaParams:
        return MediaParams(address="127.0.0.1", port=self.port, payload_type=0, codec="PCMU")

    async def receive(self, sock: socket.socket, count: int, timeout: float = 5.0) -> list[bytes]:
        loop = asyncio.get_running_loop()
        got: list[bytes] = []
        deadline = loop.time() + timeout
        while len(got) < count and loop.time() < deadline:
            try:
                got.append(sock.recv(2048))
            except BlockingIOError:
                await asyncio.sleep(0.005)
        return got

    def close(self) -> None:
        self.rtp.close()
        self.rtcp.close()


def rtp(seq: int, payload: bytes, ssrc: int = 0xABC) -> bytes:
    return struct.pack("!BBHII", 0x80, 0, seq, seq * 160, ssrc) + payload


async def _srtp_to_plain() -> None:
    low = free_port_block(8)
    pool = RtpPortPool(low, low + 8)
    secure = Phone(SrtpContext(tx_suite=SUITE, tx_key=UP, rx_suite=SUITE, rx_key=DOWN))
    plain = Phone()
    e1 = await RtpEndpoint.open(pool, "127.0.0.1")
    e2 = await RtpEndpoint.open(pool, "127.0.0.1")
    try:
        e1.set_remote(secure.params())
        e2.set_remote(plain.params())
        e1.use_srtp(SrtpContext(tx_suite=SUITE, tx_key=DOWN, rx_suite=SUITE, rx_key=UP))
        e1.peer, e2.peer = e2, e1
        assert secure.ctx is not None
        before = srtp_mod.counters()
        good = [secure.ctx.protect(rtp(i, bytes([i]) * 160)) or b"" for i in range(1, 6)]
        forger = SrtpContext(tx_suite=SUITE, tx_key=UP, rx_suite=SUITE, rx_key=DOWN)
        forged = bytearray(forger.protect(rtp(50, b"\x7f" * 160)) or b"")
        forged[-1] ^= 1  # the phone's key, a fresh index, a wrong tag
        for i, packet in enumerate(good):
            secure.rtp.sendto(packet, ("127.0.0.1", e1.port))
            if i == 1:
                secure.rtp.sendto(bytes(forged), ("127.0.0.1", e1.port))  # bad tag
                secure.rtp.sendto(good[0], ("127.0.0.1", e1.port))  # replay
                secure.rtp.sendto(rtp(900, b"\x7f" * 160), ("127.0.0.1", e1.port))  # plain
        got = await plain.receive(plain.rtp, 5)
        await asyncio.sleep(0.1)
        got += await plain.receive(plain.rtp, 5, timeout=0.2)
        assert [p[12:] for p in got] == [bytes([i]) * 160 for i in range(1, 6)]
        after = srtp_mod.counters()
        assert after["srtp_auth_failures"] - before["srtp_auth_failures"] == 2
        assert after["srtp_replays"] - before["srtp_replays"] == 1
        assert e1.srtp is not None and e1.srtp.auth_failures == 2
        # back: plain RTP from the trunk side reaches the phone as SRTP
        plain.rtp.sendto(rtp(1, b"\x11" * 160, ssrc=0xDEF), ("127.0.0.1", e2.port))
        (back,) = await secure.receive(secure.rtp, 1)
        assert len(back) == 12 + 160 + 10 and back[12:172] != b"\x11" * 160
        clear = secure.ctx.unprotect(back)
        assert clear is not None and clear[12:] == b"\x11" * 160
        # SRTCP: a protected report from the phone is taken, a tampered one dropped
        assert e1.rtcp is not None
        report = build_rtcp_rr(ssrc=0xABC, blocks=[])
        secure.rtcp.sendto(secure.ctx.protect_rtcp(report) or b"", ("127.0.0.1", e1.port + 1))
        bad = bytearray(secure.ctx.protect_rtcp(report) or b"")
        bad[-2] ^= 0xFF
        secure.rtcp.sendto(bytes(bad), ("127.0.0.1", e1.port + 1))
        for _ in range(100):
            if e1.rtcp.reports_in:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        assert e1.rtcp.reports_in == 1
        assert srtp_mod.counters()["srtcp_auth_failures"] == before["srtcp_auth_failures"] + 1
        # and our report goes out as SRTCP the phone can check
        e1.rtcp.send_report()
        (sent,) = await secure.receive(secure.rtcp, 1)
        assert secure.ctx.unprotect_rtcp(sent) is not None
        assert e1.media_stats()["srtp"] is True and e2.media_stats()["srtp"] is False
    finally:
        for ep in (e1, e2):
            ep.close()
        secure.close()
        plain.close()


async def _srtp_to_srtp() -> None:
    low = free_port_block(8)
    pool = RtpPortPool(low, low + 8)
    k3, k4 = bytes(range(100, 130)), bytes(range(150, 180))
    a = Phone(SrtpContext(tx_suite=SUITE, tx_key=UP, rx_suite=SUITE, rx_key=DOWN))
    b = Phone(SrtpContext(tx_suite=SUITE, tx_key=k3, rx_suite="AES_CM_128_HMAC_SHA1_32", rx_key=k4))
    e1 = await RtpEndpoint.open(pool, "127.0.0.1", rtcp=False)
    e2 = await RtpEndpoint.open(pool, "127.0.0.1", rtcp=False)
    try:
        e1.set_remote(a.params())
        e2.set_remote(b.params())
        e1.use_srtp(SrtpContext(tx_suite=SUITE, tx_key=DOWN, rx_suite=SUITE, rx_key=UP))
        e2.use_srtp(
            SrtpContext(tx_suite="AES_CM_128_HMAC_SHA1_32", tx_key=k4, rx_suite=SUITE, rx_key=k3)
        )
        e1.peer, e2.peer = e2, e1
        assert a.ctx is not None and b.ctx is not None
        for i in range(1, 4):
            a.rtp.sendto(a.ctx.protect(rtp(i, bytes([i]) * 160)) or b"", ("127.0.0.1", e1.port))
        got = await b.receive(b.rtp, 3)
        assert [len(p) for p in got] == [12 + 160 + 4] * 3  # re-encrypted with b's suite
        assert [(b.ctx.unprotect(p) or b"")[12:] for p in got] == [
            bytes([i]) * 160 for i in range(1, 4)
        ]
    finally:
        for ep in (e1, e2):
            ep.close()
        a.close()
        b.close()


@pytest.mark.parametrize("case", [_srtp_to_plain, _srtp_to_srtp])
def test_srtp_relay_on_uvloop(case) -> None:  # type: ignore[no-untyped-def]
    uvloop.run(case())


async def test_srtp_relay_on_asyncio() -> None:
    await _srtp_to_plain()
    await _srtp_to_srtp()

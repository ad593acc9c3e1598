"""RTCP for one call leg (RFC 3550 §6): the socket on the RTP port + 1, reports sent every
few seconds, reports read, and the per-leg figures kept for call history.

Every `RTCP_INTERVAL` (randomised by ±50 %, §6.3.1) the leg sends a compound packet: an SR
when it sent media since the last report (sender info: NTP and RTP time, packet and octet
counts), otherwise an RR; one report block about the stream it receives (loss, extended
highest sequence, interarrival jitter, LSR/DLSR); and an SDES CNAME (§6.1: compound packets
start with SR/RR and carry a CNAME). Received SR/RR are parsed: the far end's view of our
stream (its loss and jitter) and the round trip time from LSR/DLSR (§6.4.1) are kept.

The RTCP destination is the RTP address with port + 1 until the far end's RTCP is learned,
then wherever it comes from (symmetric RTCP, as for RTP). Learning is strict, as for RTP:
RTCP is taken from the SDP's address with port + 1 at once, or — a phone behind NAT — from
the host the RTP leg latched on to, on any port, when the report's sender SSRC is the SSRC
of that RTP stream; every other datagram is ignored and counted (/metrics). A new offer
(`relatch`) learns again. Nothing of this runs per RTP packet: the receive statistics are
updated by `RtpEndpoint` in its packet path.
"""

from __future__ import annotations

import asyncio
import random
import socket
import struct
import time
from typing import Any, Protocol

from flowpbx.media.rtp import (
    ReportBlock,
    RtpReceiveStats,
    RtpSender,
    build_rtcp_rr,
    build_rtcp_sdes_cname,
    build_rtcp_sr,
    ntp_middle32,
    ntp_timestamp,
    parse_rtcp,
    report_block,
)
from flowpbx.media.srtp import SrtpContext
from flowpbx.pbx.rtp.ports import RtpPortPool

RTCP_INTERVAL = 5.0
_SENDER_SSRC = struct.Struct("!I")  # RFC 3550 §6.4: an SR's or RR's sender SSRC at octet 4
CNAME = f"flowpbx@{socket.gethostname()}"


class RtpStream(Protocol):
    """What RTCP reads of the RTP endpoint it reports on (pbx/rtp/endpoint.py)."""

    @property
    def pool(self) -> RtpPortPool: ...
    @property
    def port(self) -> int: ...
    @property
    def closed(self) -> bool: ...
    @property
    def remote(self) -> tuple[str, int] | None: ...
    @property
    def latched(self) -> bool: ...
    @property
    def packets_out(self) -> int: ...
    @property
    def srtp(self) -> SrtpContext | None: ...
    @property
    def rx_stats(self) -> RtpReceiveStats: ...
    @property
    def sender(self) -> RtpSender: ...
    @property
    def sdp_hosts(self) -> frozenset[str]: ...
    @property
    def sdp_port(self) -> int | None: ...


class RtcpChannel(asyncio.DatagramProtocol):
    """The RTCP socket and report state of one `RtpEndpoint`."""

    def __init__(self, endpoint: RtpStream, interval: float = RTCP_INTERVAL) -> None:
        self.endpoint = endpoint
        self.interval = interval
        self.transport: asyncio.DatagramTransport | None = None
        self.remote: tuple[str, int] | None = None
        self.latched = False
        self.reports_in = 0
        self.reports_out = 0
        self.remote_block: ReportBlock | None = None  # the far end's report on our stream
        self.rtt_s: float | None = None
        self._last_sr_mid = 0  # middle 32 bits of the NTP time of the last SR received
        self._last_sr_at = 0.0  # monotonic time it arrived
        self._packets_at_last_report = 0
        self._loop = asyncio.get_running_loop()
        self._handle: asyncio.TimerHandle | None = None

    @classmethod
    async def open(cls, endpoint: RtpStream, host: str) -> RtcpChannel | None:
        """Bind RTP port + 1 on `host`; None when that port is taken (RTCP is optional)."""
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind((host, endpoint.port + 1))
        except OSError:
            sock.close()
            return None
        sock.setblocking(False)
        try:
            _, channel = await asyncio.get_running_loop().create_datagram_endpoint(
                lambda: cls(endpoint), sock=sock
            )
        except BaseException:
            sock.close()
            raise
        return channel

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def error_received(self, exc: Exception) -> None:
        pass

    def start(self) -> None:
        """Begin sending reports (once the far end's address is known)."""
        if self._handle is None and self.transport is not None:
            self._schedule()

    def _schedule(self) -> None:
        delay = self.interval * random.uniform(0.5, 1.5)
        self._handle = self._loop.call_later(delay, self._tick)

    def _tick(self) -> None:
        self._handle = None
        if self.transport is None or self.endpoint.closed:
            return
        self.send_report()
        self._schedule()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self.transport is not None:
            self.transport.close()
            self.transport = None

    # -- send ----------------------------------------------------------------------------

    def destination(self) -> tuple[str, int] | None:
        if self.remote is not None:
            return self.remote
        rtp = self.endpoint.remote
        return None if rtp is None else (rtp[0], rtp[1] + 1)

    def build_report(self, *, wall: float | None = None) -> bytes:
        ep = self.endpoint
        now = self._loop.time()
        block: ReportBlock | None = None
        if ep.rx_stats.ssrc is not None:
            lsr = dlsr = 0
            if self._last_sr_mid:
                lsr = self._last_sr_mid
                dlsr = int((now - self._last_sr_at) * 65536) & 0xFFFFFFFF
            block = report_block(ep.rx_stats, lsr=lsr, dlsr=dlsr)
        blocks = [block] if block is not None else []
        sender = ep.sender
        if ep.packets_out > self._packets_at_last_report:
            self._packets_at_last_report = ep.packets_out
            packet = build_rtcp_sr(
                ssrc=sender.ssrc,
                ntp=ntp_timestamp(time.time() if wall is None else wall),
                rtp_timestamp=sender.timestamp,
                packet_count=ep.packets_out,
                octet_count=ep.packets_out * sender.samples_per_packet,  # G.711: 1 byte/sample
                blocks=blocks,
            )
        else:
            packet = build_rtcp_rr(ssrc=sender.ssrc, blocks=blocks)
        return packet + build_rtcp_sdes_cname(ssrc=sender.ssrc, cname=CNAME)

    def send_report(self) -> None:
        dest = self.destination()
        if self.transport is None or dest is None:
            return
        packet = self.build_report()
        srtp = self.endpoint.srtp
        if srtp is not None:  # SRTCP (RFC 3711 §3.4)
            protected = srtp.protect_rtcp(packet)
            if protected is None:
                return
            packet = protected
        self.transport.sendto(packet, dest)
        self.reports_out += 1

    def relatch(self) -> None:
        """Forget the learned RTCP source (a new offer): learn it again."""
        self.latched = False
        self.remote = None

    # -- receive -------------------------------------------------------------------------

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        srtp = self.endpoint.srtp
        if srtp is not None:  # SRTCP: a packet failing authentication is dropped, counted
            plain = srtp.unprotect_rtcp(data)
            if plain is None:
                return
            data = plain
        remote = self.remote
        if self.latched and remote is not None:
            if addr[1] != remote[1] or addr[0] != remote[0]:
                self.endpoint.pool.rtcp_ignored += 1
                return
        elif self._learn(data, addr):
            self.remote = (str(addr[0]), addr[1])
            self.latched = True
        else:
            self.endpoint.pool.rtcp_ignored += 1
            return
        reports = parse_rtcp(data)
        if reports is None:
            return
        now = self._loop.time()
        ours = self.endpoint.sender.ssrc
        for report in reports:
            self.reports_in += 1
            if report.sender_info is not None:
                self._last_sr_mid = ntp_middle32(report.sender_info.ntp_timestamp)
                self._last_sr_at = now
            for block in report.blocks:
                if block.ssrc != ours:
                    continue
                self.remote_block = block
                if block.lsr:
                    arrival = ntp_middle32(ntp_timestamp(time.time()))
                    rtt = (arrival - block.lsr - block.dlsr) & 0xFFFFFFFF
                    if rtt < 0x80000000:
                        self.rtt_s = rtt / 65536.0

    def _learn(self, data: bytes, addr: tuple[str | Any, int]) -> bool:
        """Whether the far end's RTCP may be taken from `addr` (module docstring)."""
        ep = self.endpoint
        if ep.sdp_port is not None and addr[1] == ep.sdp_port + 1 and addr[0] in ep.sdp_hosts:
            return True
        rtp = ep.remote
        if not ep.latched or rtp is None or addr[0] != rtp[0]:
            return False
        # RFC 3550 §6.4.1/6.4.2: a compound packet starts with an SR (200) or RR (201)
        # whose sender SSRC is the SSRC of the far end's RTP.
        if len(data) < 8 or data[0] & 0xC0 != 0x80 or data[1] not in (200, 201):
            return False
        ssrc = ep.rx_stats.ssrc
        return ssrc is not None and _SENDER_SSRC.unpack_from(data, 4)[0] == ssrc

    # -- figures -------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        block = self.remote_block
        return {
            "rtcp_reports_in": self.reports_in,
            "rtcp_reports_out": self.reports_out,
            "remote_lost": None if block is None else block.cumulative_lost,
            "remote_fraction_lost": None if block is None else block.fraction_lost / 256,
            "remote_jitter_ms": None if block is None else block.jitter / 8.0,
            "rtt_ms": None if self.rtt_s is None else round(self.rtt_s * 1000, 1),
        }

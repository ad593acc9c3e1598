"""The RTP endpoint of one call leg: its UDP socket, source learning, relay and DTMF.

The per-packet path is `RtpEndpoint._received`: for the plain 12-octet header of
nearly every packet, sequence, timestamp and SSRC come straight from the datagram with one
`struct.unpack_from` (no header object) and the relay re-stamps a copy with one `pack_into`;
packets with CSRCs, an extension or padding, and telephone-events, take the general path
(`parse_rtp`). Either way a packet becomes a DTMF event, a relay to the bridged peer
(payload forwarded with this leg's SSRC/seq/timestamp, no decoding when both legs use the
same codec — ARCHITECTURE.md's fast path), a store into the leg's jitter buffer when a
mixing bridge (pbx/rtp/bridge.py) consumes its audio, or nothing. RTP sockets get 1 MiB buffers
(capped by the system's maximum), so a pause of the loop does not overflow them.
Legs whose SDP had no telephone-event run the in-band (Goertzel) detector on their decoded
audio, feeding the same `on_digit` callback.

Strict source learning (what the RTP hijack — "RTP bleed" — needs): until a leg has latched,
it takes media only from the address:port its SDP names (at once) or, for phones behind NAT,
from the IP its SIP signalling came from (or the SDP's IP) on another port once
`probation` consecutive in-sequence packets of one SSRC came from that one source; every
other datagram is ignored and counted (`/metrics`). Once latched the socket is connected,
so the kernel drops everyone else; only a new offer (`relatch`) learns again. Ports are
handed out at random within FLOWPBX_RTP_PORTS, so the next call's port cannot be guessed.
Ports come from the pool (pbx/rtp/ports.py); what a caller hears from flowpbx itself is a
`Player` (pbx/rtp/player.py) on the media clock (pbx/rtp/clock.py).
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import ipaddress
import logging
import socket
import struct
from collections.abc import Callable

from flowpbx.media.dtmf import GoertzelDetector, Rfc4733Receiver
from flowpbx.media.g711 import get_codec
from flowpbx.media.jitter import JitterBuffer
from flowpbx.media.rtp import RtpHeader, RtpReceiveStats, RtpSender, parse_rtp
from flowpbx.media.srtp import SrtpContext
from flowpbx.pbx.rtp.ports import RtpPortPool
from flowpbx.pbx.rtp.rtcp import RtcpChannel
from flowpbx.pbx.rtp.srtp_io import SrtpSocket, srtp_recv, srtp_recvfrom, srtp_send
from flowpbx.sip.sdp import MediaParams

log = logging.getLogger("flowpbx.media")

Addr = tuple[str, int]
_SEQ_TS_SSRC = struct.Struct("!HII")  # RFC 3550 §5.1: sequence, timestamp, SSRC at octet 2
_MAX_CANDIDATES = 8  # sources on probation at once per leg; more: start afresh
RTP_MAX_DATAGRAM = 4096  # audio RTP is far smaller; a longer datagram is cut, as UDP does
_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
_AF_UNSPEC_ADDR = ctypes.create_string_buffer(16)  # struct sockaddr, sa_family AF_UNSPEC (0)


def _numeric(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _host_forms(host: str) -> frozenset[str]:
    """The spellings a packet's source address may come in for `host`: its canonical text,
    and for IPv4 also the IPv4-mapped IPv6 form (a dual-stack socket). Empty for a name."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return frozenset()
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if isinstance(ip, ipaddress.IPv4Address):
        return frozenset({str(ip), f"::ffff:{ip}"})
    return frozenset({str(ip)})


def disconnect_udp(sock: socket.socket) -> None:
    """Dissolve a UDP socket's association (connect(2) to AF_UNSPEC, POSIX): it receives from
    any address again. Python's socket module has no call for it."""
    if _libc.connect(sock.fileno(), _AF_UNSPEC_ADDR, ctypes.sizeof(_AF_UNSPEC_ADDR)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"disconnect: {err}")


class RtpSocket:
    """What an endpoint sends with: its non-blocking UDP socket. A full send buffer or an ICMP
    error reported on the socket drops that packet, as a UDP transport would."""

    __slots__ = ("_sendto", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._sendto = sock.sendto

    def sendto(self, data: bytes | bytearray, addr: Addr) -> None:
        try:
            self._sendto(data, addr)
        except OSError:
            pass


class RtpEndpoint:
    """The RTP socket of one call leg.

    The socket is read straight from the event loop (`add_reader`, one `recvfrom` per
    wake-up) rather than through a datagram transport, which reads until EAGAIN — one extra
    system call per packet — and builds an address tuple for every datagram. Once the peer's
    address is latched the socket is connected to it (`connect(2)`): the kernel then drops
    datagrams from anyone else (what the latch check did in Python) and the relay sends with
    `send`, no address to convert and no route to look up per packet. A new offer (re-INVITE)
    unlatches and disconnects it. Measured in benchmarks/RESULTS.md "Media relay".

    Until it latches, the leg learns its source strictly (`datagram_received`): the SDP's
    address:port latches at once; the SDP's IP or the signalling's IP (`allow_source`, a
    phone behind NAT) on another port after `pool.probation` in-sequence packets of one SSRC
    from that one address:port; anything else is ignored and counted."""

    def __init__(self, pool: RtpPortPool, port: int) -> None:
        self.pool = pool
        self.port = port
        self.transport: RtpSocket | SrtpSocket | None = None
        self.sock: socket.socket | None = None
        self.remote: Addr | None = None
        self.latched = False
        self.connected = False  # the socket is connect()ed to `remote` (latched)
        self.params: MediaParams | None = None
        self.codec = get_codec("PCMU")
        self.dtmf_pt: int | None = None
        self.sender = RtpSender(payload_type=0)
        self.peer: RtpEndpoint | None = None
        self.on_digit: Callable[[str], None] | None = None
        self.jitter: JitterBuffer | None = None  # set while a mixing bridge consumes our audio
        self.bridge: object | None = None  # the pbx.rtp.bridge.Bridge this leg is in, if any
        # RFC 4733 events received are forwarded to the relay peer as they are (re-stamped,
        # payload type mapped); a feature that must hide its digits turns this off.
        self.dtmf_passthrough = True
        self.rx_stats = RtpReceiveStats()  # RFC 3550 A.1/A.8, for RTCP and call history
        self.rtcp: RtcpChannel | None = None
        self._rtcp_stats: dict[str, object] = {}  # the channel's last figures once closed
        self.inband: GoertzelDetector | None = None  # set when the SDP had no telephone-event
        self.srtp: SrtpContext | None = None  # SRTP keys in use (`use_srtp`)
        self._dtmf = Rfc4733Receiver()
        self._loop = asyncio.get_running_loop()
        self.packets_in = 0
        self.packets_out = 0
        self.closed = False
        self.muted = False  # the negotiated direction says we must not send (hold, RFC 3264 §6.1)
        # Source learning: the SDP's numeric address (each spelling a source may come in)
        # and port, the signalling's IPs, the IPs that may go on probation (None: any, when
        # the pool is not strict), and the sources on probation: (host, port) ->
        # [SSRC, next sequence number, packets in sequence so far].
        self.sdp_hosts: frozenset[str] = frozenset()
        self.sdp_port: int | None = None
        self._signal_hosts: frozenset[str] = frozenset()
        self._allowed: frozenset[str] | None = None if not pool.strict else frozenset()
        self._candidates: dict[tuple[object, int], list[int]] = {}

    @classmethod
    async def open(cls, pool: RtpPortPool, host: str, *, rtcp: bool = True) -> RtpEndpoint:
        """An endpoint on a free even port of the pool, with RTCP on the port above (when
        that port is free: RTCP is optional)."""
        sock = pool.bind(host)
        port = sock.getsockname()[1]
        try:
            endpoint = cls(pool, port)
            endpoint._attach(sock)
        except BaseException:
            sock.close()
            pool.release(port)
            raise
        if rtcp:
            try:
                endpoint.rtcp = await RtcpChannel.open(endpoint, host)
            except BaseException:
                endpoint.close()
                raise
        return endpoint

    def allow_source(self, host: str) -> None:
        """Let media from `host` — where this leg's SIP signalling comes from — latch after
        probation, on any port (a phone behind NAT whose SDP names its private address)."""
        self._signal_hosts |= _host_forms(host)
        self._update_allowed()

    def _update_allowed(self) -> None:
        if self.pool.strict:
            self._allowed = self.sdp_hosts | self._signal_hosts

    def set_remote(self, params: MediaParams) -> None:
        """Apply the negotiated media (the peer's SDP). SDP naming another address than
        before (an answer from another fork, a moved stream) learns the source afresh."""
        self.params = params
        self.muted = not params.sends
        hosts = _host_forms(params.address)
        if hosts != self.sdp_hosts or params.port != self.sdp_port:
            if self.latched and self.sdp_port is not None:
                self.relatch()
            self.sdp_hosts = hosts
            self.sdp_port = params.port if hosts else None
            self._update_allowed()
        if not self.latched:
            # Only a numeric address: a host name here would be resolved by every send, on
            # the event loop. With a name, nothing is sent until the peer's first packet
            # latches its real address.
            self.remote = (params.address, params.port) if _numeric(params.address) else None
        if self.codec.name != params.codec:
            self.codec = get_codec(params.codec)
            self.sender = RtpSender(payload_type=self.codec.payload_type)
        self.dtmf_pt = params.dtmf_payload_type
        if self.rtcp is not None:
            self.rtcp.start()
        if self.dtmf_pt is None:
            if self.inband is None:
                self.inband = GoertzelDetector()
        else:
            self.inband = None

    def use_srtp(self, context: SrtpContext) -> None:
        """Encrypt and authenticate this leg's RTP and RTCP from now on (RFC 3711): every
        datagram read is unprotected before anything looks at it (one failing authentication
        is dropped and counted, as if it never came), every packet sent is protected. The
        per-packet path itself is unchanged: the socket calls it uses are wrapped."""
        self.srtp = context
        sock = self.sock
        if sock is None:
            return
        self.transport = SrtpSocket(sock, context)
        self._recvfrom = srtp_recvfrom(sock.recvfrom, context)
        self._recv = srtp_recv(sock.recv, context)
        self._send = srtp_send(sock.send, context)

    def _attach(self, sock: socket.socket) -> None:
        self.sock = sock
        self.transport = RtpSocket(sock)
        self._recvfrom = sock.recvfrom
        self._recv = sock.recv
        self._send = sock.send
        self._loop.add_reader(sock.fileno(), self._readable)

    def relatch(self) -> None:
        """Forget the latched address (a new offer may move the stream): learn the source
        again (`datagram_received`); until then send to the SDP's address. RTCP too."""
        self.latched = False
        self._candidates.clear()
        if self.rtcp is not None:
            self.rtcp.relatch()
        if self.connected and self.sock is not None:
            self.connected = False
            self._loop.remove_reader(self.sock.fileno())
            try:
                disconnect_udp(self.sock)
            except OSError as e:
                log.warning("RTP port %d: %s", self.port, e)
            self._loop.add_reader(self.sock.fileno(), self._readable)

    def _latch(self, addr: tuple[str | object, int]) -> None:
        # Symmetric RTP (RFC 4961 style latching): answer where the peer really sends from.
        self.remote = (str(addr[0]), addr[1])
        self.latched = True
        sock = self.sock
        if sock is None:
            return
        try:
            sock.connect(self.remote)
        except OSError as e:
            log.warning("RTP port %d: cannot connect to %s: %s", self.port, self.remote, e)
            return
        self.connected = True
        self._loop.remove_reader(sock.fileno())
        self._loop.add_reader(sock.fileno(), self._readable_connected)

    def _readable(self) -> None:
        try:
            data, addr = self._recvfrom(RTP_MAX_DATAGRAM)
        except BlockingIOError:
            return
        except OSError:  # an ICMP error reported on the socket
            self._rearm(self._readable)
            return
        self.datagram_received(data, addr)

    def _readable_connected(self) -> None:
        """The per-packet path once latched: the kernel only lets the latched peer through."""
        try:
            data = self._recv(RTP_MAX_DATAGRAM)
        except BlockingIOError:
            return
        except OSError:  # ICMP unreachable from the peer, reported on the connected socket
            self._rearm(self._readable_connected)
            return
        self._received(data)

    def _rearm(self, callback: Callable[[], None]) -> None:
        """Watch the socket again after it reported an error: uvloop's poller stops watching a
        descriptor whose poll reported an error, so without this the leg would hear nothing
        more after one ICMP message."""
        sock = self.sock
        if sock is None:
            return
        self._loop.remove_reader(sock.fileno())
        self._loop.add_reader(sock.fileno(), callback)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.peer = None
        self.on_digit = None
        self.jitter = None
        if self.rtcp is not None:
            self.rtcp.close()
            self._rtcp_stats = self.rtcp.stats()
            self.rtcp = None  # no endpoint <-> channel reference cycle left behind
        sock = self.sock
        if sock is not None:
            self.sock = None
            self.transport = None
            self._loop.remove_reader(sock.fileno())
            sock.close()
        self.pool.release(self.port)

    def media_stats(self) -> dict[str, object]:
        """This leg's RTP/RTCP figures, for call history."""
        rx = self.rx_stats
        stats: dict[str, object] = {
            "codec": self.codec.name,
            "packets_in": self.packets_in,
            "packets_out": self.packets_out,
            "lost": rx.lost if rx.ssrc is not None else 0,
            "jitter_ms": rx.jitter / 8.0 if rx.ssrc is not None else 0.0,
            "ssrc_changes": rx.ssrc_changes,
            "srtp": self.srtp is not None,
        }
        if self.srtp is not None:
            stats.update(self.srtp.stats())
        if self.rtcp is not None:
            stats.update(self.rtcp.stats())
        else:
            stats.update(self._rtcp_stats)
        return stats

    # -- receive: the per-packet hot path --------------------------------------------------

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        """A datagram on the unconnected socket: the leg has not latched yet (or could not
        connect its socket). Only a learned source gets through (class docstring)."""
        if self.latched:
            remote = self.remote
            # Port first (the cheap test); IPv6 addresses come as 4-tuples, so no tuple ==.
            if addr[1] != remote[1] or addr[0] != remote[0]:  # type: ignore[index]
                return  # not the stream we latched on to
            self._received(data)
            return
        if addr[1] == self.sdp_port and addr[0] in self.sdp_hosts:
            self._latch(addr)  # the address the SDP names
        elif (self._allowed is None or addr[0] in self._allowed) and self._on_probation(data, addr):
            self._latch(addr)
        else:
            self.pool.rtp_ignored += 1
            return
        self._received(data)
        self._drain_queued()

    def _drain_queued(self) -> None:
        """Just latched: datagrams queued before connect(2) are still handed out by `recv`,
        whoever sent them. Read them now, each checked against the latched address."""
        remote = self.remote
        while self.connected and remote is not None:
            try:
                data, addr = self._recvfrom(RTP_MAX_DATAGRAM)
            except OSError:  # BlockingIOError: none left; or an ICMP error reported
                return
            if addr[1] != remote[1] or addr[0] != remote[0]:
                self.pool.rtp_ignored += 1
            else:
                self._received(data)

    def _on_probation(self, data: bytes, addr: tuple[str | object, int]) -> bool:
        """True when `data` completes the probation of its source: `pool.probation` RTP
        packets in a row, one SSRC, consecutive sequence numbers, from one address:port. A
        stranger spraying single packets at the port range never gets there."""
        if len(data) < 12 or data[0] & 0xC0 != 0x80 or 200 <= data[1] <= 204:
            return False  # not RTP (RTCP on the RTP port is no stream either)
        seq, _, ssrc = _SEQ_TS_SSRC.unpack_from(data, 2)
        key = (addr[0], addr[1])
        candidates = self._candidates
        state = candidates.get(key)
        if state is not None and state[0] == ssrc and state[1] == seq:
            state[2] += 1
        else:
            if state is None and len(candidates) >= _MAX_CANDIDATES:
                candidates.clear()
            state = candidates[key] = [ssrc, seq, 1]
        if state[2] >= self.pool.probation:
            candidates.clear()
            return True
        state[1] = (seq + 1) & 0xFFFF
        return False

    def _received(self, data: bytes) -> None:
        # Fast path: the plain 12-octet header of nearly every packet (V=2, no padding,
        # extension or CSRC; not telephone-event, not RTCP): integers straight from the
        # datagram, no header object.
        if len(data) > 12 and data[0] == 0x80:
            b1 = data[1]
            if (b1 & 0x7F) != self.dtmf_pt and (b1 < 192 or b1 > 223):
                seq, ts, ssrc = _SEQ_TS_SSRC.unpack_from(data, 2)
                self.packets_in += 1
                self.rx_stats.update_values(ssrc, seq, ts, self._loop.time() * 8000.0)
                if self.inband is not None:
                    self._detect_inband(data[12:])
                jitter = self.jitter
                if jitter is not None:
                    jitter.put(
                        RtpHeader(b1 & 0x7F, b1 > 127, seq, ts, ssrc, 12, len(data)), data[12:]
                    )
                    return
                peer = self.peer
                if peer is not None:
                    peer.relay_plain(self, data, seq, ts, ssrc)
                return
        self._received_other(data)

    def _received_other(self, data: bytes) -> None:
        """Every packet the fast path does not take: telephone-events, and packets with
        CSRCs, a header extension or padding."""
        header = parse_rtp(data)
        if header is None:
            return
        self.packets_in += 1
        if header.payload_type == self.dtmf_pt:
            event = self._dtmf.feed(header, data[header.header_len :], self._loop.time())
            if event is not None and self.on_digit is not None:
                self.on_digit(event.digit)
            peer = self.peer
            if peer is not None and self.dtmf_passthrough:
                peer.relay_event(header, data)
            return
        self.rx_stats.update(header, self._loop.time() * 8000.0)
        if self.inband is not None:
            self._detect_inband(data[header.header_len : header.payload_end])
        jitter = self.jitter
        if jitter is not None:
            jitter.put(header, data[header.header_len : header.payload_end])
            return
        peer = self.peer
        if peer is not None:
            peer.relay_from(self, header, data)

    def _detect_inband(self, payload: bytes) -> None:
        detector = self.inband
        if detector is None:
            return
        for event in detector.feed(self.codec.decode(payload)):
            if self.on_digit is not None:
                self.on_digit(event.digit)

    # -- send ------------------------------------------------------------------------------

    def send_payload(self, payload: bytes, marker: bool = False) -> None:
        transport = self.transport
        if transport is None or self.remote is None or self.muted:
            return
        transport.sendto(self.sender.packet(payload, marker=marker), self.remote)
        self.packets_out += 1

    def relay_from(self, source: RtpEndpoint, header: RtpHeader, data: bytes) -> None:
        transport = self.transport
        if transport is None or self.remote is None or self.muted:
            return
        if source.codec is self.codec:
            transport.sendto(self.sender.relay(header, data), self.remote)
        else:
            samples = source.codec.decode(data[header.header_len :])
            transport.sendto(self.sender.packet(self.codec.encode(samples)), self.remote)
        self.packets_out += 1

    def relay_plain(self, source: RtpEndpoint, data: bytes, seq: int, ts: int, ssrc: int) -> None:
        """`relay_from` for a packet with the plain 12-octet header (the per-packet path)."""
        transport = self.transport
        remote = self.remote
        if transport is None or remote is None or self.muted:
            return
        if source.codec is self.codec:
            packet = self.sender.relay_values(data, seq, ts, ssrc)
            if self.connected:
                try:
                    self._send(packet)
                except OSError:
                    pass  # full send buffer, or ICMP unreachable from the peer: drop it
            else:
                transport.sendto(packet, remote)
        else:
            samples = source.codec.decode(data[12:])
            transport.sendto(self.sender.packet(self.codec.encode(samples)), remote)
        self.packets_out += 1

    def relay_event(self, header: RtpHeader, data: bytes) -> None:
        """Forward a telephone-event packet of the bridged leg (dropped when this leg did not
        negotiate telephone-event)."""
        transport = self.transport
        if transport is None or self.remote is None or self.dtmf_pt is None:
            return
        transport.sendto(self.sender.relay(header, data, payload_type=self.dtmf_pt), self.remote)
        self.packets_out += 1

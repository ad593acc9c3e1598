"""RTP packets and stream state (RFC 3550), sans-I/O.

What is here:

- `parse_rtp` / `build_rtp`: one RTP packet <-> `RtpHeader` + payload bytes. Parsing is one
  `struct.unpack_from` on the fixed header; CSRCs, the header extension and padding are
  accounted for in `RtpHeader.header_len` / `RtpHeader.payload_end`.
- `RtpSender`: the state of one outgoing stream (SSRC, sequence number, timestamp), including
  `relay`, the two-party bridge fast path that re-stamps a received packet into this stream.
- `RtpReceiveStats`: the receiver side counters of RFC 3550 Appendix A (sequence validation,
  extended highest sequence, expected / lost, interarrival jitter).

- RTCP sender/receiver reports (RFC 3550 §6.4): `build_rtcp_sr`, `build_rtcp_rr`,
  `build_rtcp_sdes_cname`, `parse_rtcp`, `report_block(stats)`.

Nothing here reads a clock or touches a socket: arrival times are given by the caller in
timestamp units, wall-clock times (for SR NTP timestamps) as arguments.

Exceptions: none for received data (parsers return None for what is not RTP/RTCP);
`ValueError` for impossible requests (more than 31 report blocks).
"""

from __future__ import annotations

import secrets
import struct
from dataclasses import dataclass
from typing import NamedTuple

__all__ = [
    "RTCP_RR",
    "RTCP_SR",
    "RTP_VERSION",
    "ReportBlock",
    "RtcpReport",
    "RtpHeader",
    "RtpReceiveStats",
    "RtpSender",
    "SenderInfo",
    "build_rtcp_rr",
    "build_rtcp_sdes_cname",
    "build_rtcp_sr",
    "build_rtp",
    "ntp_middle32",
    "ntp_timestamp",
    "parse_rtcp",
    "parse_rtp",
    "payload_of",
    "report_block",
]

RTP_VERSION = 2
_FIXED = struct.Struct("!BBHII")  # RFC 3550 §5.1: V/P/X/CC, M/PT, seq, timestamp, SSRC
_SEQ_TS_SSRC = struct.Struct("!HII")
_EXT_LEN = struct.Struct("!H")
_SEQ_MOD = 1 << 16
_TS_MOD = 1 << 32
_TS_MASK = _TS_MOD - 1


class RtpHeader(NamedTuple):
    """The parsed fixed header of one RTP packet (RFC 3550 §5.1).

    `header_len` is the offset of the payload (fixed header, CSRC list and header extension);
    `payload_end` is where the payload stops (before any padding, RFC 3550 §5.1 "P").

    A named tuple rather than a frozen dataclass: one is made per received packet, and a
    tuple is built several times faster (measured: ~0.4 µs vs ~2-4 µs).
    """

    payload_type: int
    marker: bool
    sequence: int
    timestamp: int
    ssrc: int
    header_len: int
    payload_end: int
    csrc_count: int = 0


def parse_rtp(data: bytes) -> RtpHeader | None:
    """Parse an RTP packet; None if `data` is not RTP (wrong version, RTCP, truncated).

    RTCP multiplexed on the same port (RFC 5761 §4) is recognised by its packet type:
    second octets 192-223 (masked RTP payload types 64-95) are never RTP.
    """
    if len(data) < 12:
        return None
    b0, b1, seq, ts, ssrc = _FIXED.unpack_from(data)
    if b0 >> 6 != RTP_VERSION:
        return None
    if 192 <= b1 <= 223:  # RFC 5761 §4: RTCP SR/RR/SDES/BYE/APP ... share the port
        return None
    cc = b0 & 0x0F
    header_len = 12 + 4 * cc  # RFC 3550 §5.1: CSRC list
    end = len(data)
    if b0 & 0x10:  # RFC 3550 §5.3.1: header extension, length in 32-bit words
        if end < header_len + 4:
            return None
        (words,) = _EXT_LEN.unpack_from(data, header_len + 2)
        header_len += 4 + 4 * words
    if b0 & 0x20:  # RFC 3550 §5.1: last octet counts the padding octets, itself included
        pad = data[-1]
        if pad == 0:
            return None
        end -= pad
    if header_len > end:
        return None
    return RtpHeader(
        payload_type=b1 & 0x7F,
        marker=bool(b1 & 0x80),
        sequence=seq,
        timestamp=ts,
        ssrc=ssrc,
        header_len=header_len,
        payload_end=end,
        csrc_count=cc,
    )


def payload_of(header: RtpHeader, data: bytes) -> bytes:
    """The payload of a parsed packet, without padding."""
    return data[header.header_len : header.payload_end]


def build_rtp(
    *,
    payload_type: int,
    sequence: int,
    timestamp: int,
    ssrc: int,
    payload: bytes,
    marker: bool = False,
) -> bytes:
    """One RTP packet with a 12-octet header (no CSRCs, extension or padding)."""
    b1 = (payload_type & 0x7F) | (0x80 if marker else 0)
    return (
        _FIXED.pack(
            0x80, b1, sequence & 0xFFFF, timestamp & _TS_MASK, ssrc & _TS_MASK
        )  # RFC 3550 §5.1: V=2
        + payload
    )


def _random32() -> int:
    return secrets.randbits(32)


class RtpSender:
    """State for one outgoing RTP stream.

    RFC 3550 §5.1: the SSRC, the first sequence number and the first timestamp are random.
    Sequence numbers wrap at 16 bits, timestamps at 32 bits.

    Three ways to emit a packet, which may be mixed freely on one stream:

    - `packet`: locally produced media (prompts, mixer output); the timestamp advances by
      `advance` samples after each packet.
    - `event_packet`: RFC 4733 telephone-events. The caller passes the event's timestamp (the
      `timestamp` property read when the event began) which is held for every packet of the
      event; the stream clock still advances by `advance` per packet, because media time goes
      on during the event, so audio after the event continues at the right timestamp.
    - `relay`: forward a received packet from a bridged leg, re-stamped with this stream's
      SSRC, and with sequence numbers and timestamps offset so they continue smoothly from
      what this stream sent before. The offsets are re-anchored whenever the source SSRC
      changes (a re-INVITE to another phone, a transfer) and after any locally produced
      packet, so the far end never sees a jump or a duplicate sequence number.
    """

    __slots__ = (
        "_last_out_seq",
        "_last_out_ts",
        "_relay_seq_off",
        "_relay_src",
        "_relay_ts_off",
        "_seq",
        "_ts",
        "payload_type",
        "samples_per_packet",
        "ssrc",
    )

    def __init__(
        self,
        *,
        payload_type: int,
        ssrc: int | None = None,
        samples_per_packet: int = 160,
        sequence: int | None = None,
        timestamp: int | None = None,
    ) -> None:
        self.payload_type = payload_type
        self.ssrc = _random32() if ssrc is None else ssrc & _TS_MASK
        self.samples_per_packet = samples_per_packet
        self._seq = (_random32() & 0xFFFF) if sequence is None else sequence & 0xFFFF
        self._ts = _random32() if timestamp is None else timestamp & _TS_MASK
        self._relay_src: int | None = None
        self._relay_seq_off = 0
        self._relay_ts_off = 0
        self._last_out_seq = (self._seq - 1) & 0xFFFF
        self._last_out_ts = (self._ts - samples_per_packet) & _TS_MASK

    @property
    def sequence(self) -> int:
        """The sequence number the next packet will carry."""
        return self._seq

    @property
    def timestamp(self) -> int:
        """The timestamp the next media packet will carry."""
        return self._ts

    def skip(self, samples: int) -> None:
        """Advance the stream clock without sending (silence suppression, a gap)."""
        self._ts = (self._ts + samples) & _TS_MASK
        self._relay_src = None

    def packet(self, payload: bytes, *, marker: bool = False, advance: int | None = None) -> bytes:
        """The next media packet carrying `payload`; then advance seq by 1 and ts by `advance`."""
        seq, ts = self._seq, self._ts
        self._seq = (seq + 1) & 0xFFFF
        self._ts = (ts + (self.samples_per_packet if advance is None else advance)) & _TS_MASK
        self._last_out_seq, self._last_out_ts = seq, ts
        self._relay_src = None
        b1 = (self.payload_type & 0x7F) | (0x80 if marker else 0)
        return _FIXED.pack(0x80, b1, seq, ts, self.ssrc) + payload

    def event_packet(
        self,
        payload: bytes,
        *,
        timestamp: int,
        marker: bool,
        payload_type: int | None = None,
        advance: int | None = None,
    ) -> bytes:
        """An RFC 4733 event packet at the held event `timestamp` (RFC 4733 §2.5.1.1).

        `payload_type` defaults to the stream's; pass the negotiated telephone-event type.
        """
        seq = self._seq
        self._seq = (seq + 1) & 0xFFFF
        self._ts = (self._ts + (self.samples_per_packet if advance is None else advance)) & _TS_MASK
        self._last_out_seq, self._last_out_ts = seq, (self._ts - self.samples_per_packet) & _TS_MASK
        self._relay_src = None
        return build_rtp(
            payload_type=self.payload_type if payload_type is None else payload_type,
            sequence=seq,
            timestamp=timestamp,
            ssrc=self.ssrc,
            payload=payload,
            marker=marker,
        )

    def relay(self, header: RtpHeader, data: bytes, *, payload_type: int | None = None) -> bytes:
        """Re-stamp a received packet into this stream (the 2-party bridge fast path).

        Only sequence number, timestamp and SSRC are rewritten (and the payload type when
        given, e.g. telephone-event negotiated as 101 on one leg and 96 on the other);
        CSRCs, extension, marker, payload and padding are kept byte for byte.
        """
        out = self.relay_values(data, header.sequence, header.timestamp, header.ssrc)
        if payload_type is not None:
            out[1] = (out[1] & 0x80) | (payload_type & 0x7F)
        return bytes(out)

    def relay_values(self, data: bytes, sequence: int, timestamp: int, ssrc: int) -> bytearray:
        """`relay` for the per-packet path: the header's fields as plain integers (no header
        object), the re-stamped packet as a new `bytearray` (no second copy)."""
        if ssrc != self._relay_src:
            # Anchor: the first packet of this source continues right after our last packet.
            self._relay_src = ssrc
            self._relay_seq_off = (self._last_out_seq + 1 - sequence) & 0xFFFF
            self._relay_ts_off = (
                self._last_out_ts + self.samples_per_packet - timestamp
            ) & _TS_MASK
        seq = (sequence + self._relay_seq_off) & 0xFFFF
        ts = (timestamp + self._relay_ts_off) & _TS_MASK
        # Track the newest packet sent (RFC 3550 §A.1 style comparison mod 2^16) so local
        # packets and re-anchoring continue after it; late reordered packets do not move it.
        if ((seq - self._last_out_seq) & 0xFFFF) < 0x8000:
            self._last_out_seq = seq
            self._last_out_ts = ts
            self._seq = (seq + 1) & 0xFFFF
            self._ts = (ts + self.samples_per_packet) & _TS_MASK
        out = bytearray(data)
        _SEQ_TS_SSRC.pack_into(out, 2, seq, ts, self.ssrc)
        return out


# RFC 3550 Appendix A.1 constants.
_MAX_DROPOUT = 3000
_MAX_MISORDER = 100
_MIN_SEQUENTIAL = 2


class RtpReceiveStats:
    """Receiver statistics for one incoming stream (RFC 3550 §6.4.1, Appendix A.1, A.3, A.8).

    Call `update(header, arrival)` for every packet, with `arrival` the arrival time in
    timestamp units (e.g. `now * 8000`). A change of SSRC means a new source: the counters
    restart (and `ssrc_changes` counts it). `update` returns False for packets that the
    sequence validation of A.1 rejects (stale or during probation of a new source).
    """

    __slots__ = (
        "_bad_seq",
        "_expected_prior",
        "_last_arrival",
        "_last_ts",
        "_probation",
        "_received_prior",
        "_transit",
        "base_seq",
        "cycles",
        "jitter_f",
        "max_seq",
        "received",
        "ssrc",
        "ssrc_changes",
    )

    def __init__(self) -> None:
        self.ssrc: int | None = None
        self.ssrc_changes = 0
        self._reset(0)

    def _reset(self, seq: int) -> None:
        # RFC 3550 §A.1 init_seq()
        self.base_seq = seq
        self.max_seq = seq
        self._bad_seq = _SEQ_MOD + 1
        self.cycles = 0
        self.received = 0
        self._received_prior = 0
        self._expected_prior = 0
        self._probation = _MIN_SEQUENTIAL
        self.jitter_f = 0.0
        self._transit: float | None = None
        self._last_ts = 0
        self._last_arrival = 0.0

    def update(self, header: RtpHeader, arrival: float) -> bool:
        """Account for one received packet; False if sequence validation drops it."""
        return self.update_values(header.ssrc, header.sequence, header.timestamp, arrival)

    def update_values(self, ssrc: int, seq: int, ts: int, arrival: float) -> bool:
        """`update` with the header's fields as plain integers (the per-packet path)."""
        if seq == self.max_seq + 1 and ssrc == self.ssrc and not self._probation:
            # The per-packet common case, inlined: the next packet in order (no wrap).
            self.max_seq = seq
            self.received += 1
            if self._transit is not None:
                d = (arrival - self._last_arrival) - (
                    ((ts - self._last_ts + 0x80000000) & _TS_MASK) - 0x80000000
                )
                self.jitter_f += ((d if d >= 0 else -d) - self.jitter_f) / 16.0
            else:
                self._transit = 0.0
            self._last_ts = ts
            self._last_arrival = arrival
            return True
        if ssrc != self.ssrc:
            if self.ssrc is not None:
                self.ssrc_changes += 1
            self.ssrc = ssrc
            self._reset(seq)
            self.max_seq = (seq - 1) & 0xFFFF
        if not self._update_seq(seq):
            return False
        self._update_jitter(ts, arrival)
        return True

    def _update_seq(self, seq: int) -> bool:
        # RFC 3550 §A.1 update_seq()
        if self._probation:
            if seq == ((self.max_seq + 1) & 0xFFFF):
                self._probation -= 1
                self.max_seq = seq
                if self._probation == 0:
                    self._reset(seq)
                    self._probation = 0
                    self.received += 1
                    return True
            else:
                self._probation = _MIN_SEQUENTIAL - 1
                self.max_seq = seq
            return False
        udelta = (seq - self.max_seq) & 0xFFFF
        if udelta < _MAX_DROPOUT:
            if seq < self.max_seq:
                self.cycles += _SEQ_MOD  # sequence number wrapped
            self.max_seq = seq
        elif udelta <= _SEQ_MOD - _MAX_MISORDER:
            # A very large jump: restart if two sequential packets confirm it.
            if seq == self._bad_seq:
                self._reset(seq)
                self._probation = 0
            else:
                self._bad_seq = (seq + 1) & 0xFFFF
                return False
        # else: duplicate or reordered packet, counted
        self.received += 1
        return True

    def _update_jitter(self, ts: int, arrival: float) -> None:
        # RFC 3550 §A.8: D(i,j) = (Rj - Ri) - (Sj - Si); J += (|D| - J) / 16
        if self._transit is None:
            self._transit = 0.0
        else:
            ts_delta = ((ts - self._last_ts + (1 << 31)) & _TS_MASK) - (1 << 31)
            d = (arrival - self._last_arrival) - ts_delta
            self.jitter_f += (abs(d) - self.jitter_f) / 16.0
        self._last_ts = ts
        self._last_arrival = arrival

    @property
    def extended_max_seq(self) -> int:
        """The extended highest sequence number received (RFC 3550 §6.4.1)."""
        return self.cycles + self.max_seq

    @property
    def expected(self) -> int:
        """Packets expected since the first valid one (RFC 3550 §A.3)."""
        if self.received == 0:
            return 0
        return self.extended_max_seq - self.base_seq + 1

    @property
    def lost(self) -> int:
        """Cumulative packets lost; negative when duplicates arrived (RFC 3550 §6.4.1)."""
        return self.expected - self.received

    @property
    def jitter(self) -> int:
        """Interarrival jitter in timestamp units, as carried in a report block."""
        return int(self.jitter_f)

    def fraction_lost(self) -> int:
        """Fraction lost since the previous call, as an 8-bit fixed-point number (§A.3).

        Each call starts a new reporting interval.
        """
        expected = self.expected
        expected_interval = expected - self._expected_prior
        self._expected_prior = expected
        received_interval = self.received - self._received_prior
        self._received_prior = self.received
        lost_interval = expected_interval - received_interval
        if expected_interval == 0 or lost_interval <= 0:
            return 0
        return (lost_interval << 8) // expected_interval


# ---------------------------------------------------------------------------------------
# RTCP sender and receiver reports (RFC 3550 §6.4), multiplexed or on the odd port.

RTCP_SR = 200
RTCP_RR = 201
RTCP_SDES = 202
RTCP_BYE = 203
_RTCP_HEAD = struct.Struct("!BBH")  # V/P/RC, PT, length in 32-bit words minus one
_SR_INFO = struct.Struct("!IIIIII")  # SSRC, NTP msw, NTP lsw, RTP ts, packets, octets
_BLOCK = struct.Struct("!IIIIII")  # SSRC, fraction|cumulative lost, ext seq, jitter, LSR, DLSR
_NTP_UNIX_OFFSET = 2_208_988_800  # seconds from 1900-01-01 to 1970-01-01


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportBlock:
    """One reception report block (RFC 3550 §6.4.1)."""

    ssrc: int
    fraction_lost: int  # 8-bit fixed point: lost / expected * 256
    cumulative_lost: int  # 24-bit signed
    highest_seq: int  # extended highest sequence number received
    jitter: int  # interarrival jitter, timestamp units
    lsr: int = 0  # middle 32 bits of the last SR's NTP timestamp
    dlsr: int = 0  # delay since that SR, 1/65536 s


@dataclass(frozen=True, slots=True, kw_only=True)
class SenderInfo:
    """The sender information of an SR (RFC 3550 §6.4.1)."""

    ntp_timestamp: int  # 64-bit NTP format
    rtp_timestamp: int
    packet_count: int
    octet_count: int


@dataclass(frozen=True, slots=True, kw_only=True)
class RtcpReport:
    """A parsed SR (with `sender_info`) or RR (without) (RFC 3550 §6.4.1, §6.4.2)."""

    packet_type: int
    ssrc: int
    sender_info: SenderInfo | None
    blocks: tuple[ReportBlock, ...]


def ntp_timestamp(unix_time: float) -> int:
    """A wall-clock time (Unix seconds) as a 64-bit NTP timestamp (RFC 3550 §4)."""
    return round((unix_time + _NTP_UNIX_OFFSET) * (1 << 32)) & 0xFFFFFFFFFFFFFFFF


def ntp_middle32(ntp: int) -> int:
    """The middle 32 bits of an NTP timestamp, as echoed in LSR (RFC 3550 §6.4.1)."""
    return (ntp >> 16) & _TS_MASK


def _pack_blocks(blocks: tuple[ReportBlock, ...] | list[ReportBlock]) -> bytes:
    out = bytearray()
    for b in blocks:
        lost = max(-(1 << 23), min(b.cumulative_lost, (1 << 23) - 1)) & 0xFFFFFF
        out += _BLOCK.pack(
            b.ssrc & _TS_MASK,
            ((b.fraction_lost & 0xFF) << 24) | lost,
            b.highest_seq & _TS_MASK,
            b.jitter & _TS_MASK,
            b.lsr & _TS_MASK,
            b.dlsr & _TS_MASK,
        )
    return bytes(out)


def build_rtcp_sr(
    *,
    ssrc: int,
    ntp: int,
    rtp_timestamp: int,
    packet_count: int,
    octet_count: int,
    blocks: tuple[ReportBlock, ...] | list[ReportBlock] = (),
) -> bytes:
    """An RTCP sender report (RFC 3550 §6.4.1) with up to 31 report blocks."""
    if len(blocks) > 31:
        raise ValueError("at most 31 report blocks per SR")
    body = _SR_INFO.pack(
        ssrc & _TS_MASK,
        (ntp >> 32) & _TS_MASK,
        ntp & _TS_MASK,
        rtp_timestamp & _TS_MASK,
        packet_count & _TS_MASK,
        octet_count & _TS_MASK,
    ) + _pack_blocks(blocks)
    return _RTCP_HEAD.pack(0x80 | len(blocks), RTCP_SR, len(body) // 4) + body


def build_rtcp_rr(*, ssrc: int, blocks: tuple[ReportBlock, ...] | list[ReportBlock] = ()) -> bytes:
    """An RTCP receiver report (RFC 3550 §6.4.2) with up to 31 report blocks."""
    if len(blocks) > 31:
        raise ValueError("at most 31 report blocks per RR")
    body = struct.pack("!I", ssrc & _TS_MASK) + _pack_blocks(blocks)
    return _RTCP_HEAD.pack(0x80 | len(blocks), RTCP_RR, len(body) // 4) + body


def build_rtcp_sdes_cname(*, ssrc: int, cname: str) -> bytes:
    """An SDES packet with one CNAME item (RFC 3550 §6.5.1), to complete a compound packet."""
    text = cname.encode()[:255]
    chunk = struct.pack("!IBB", ssrc & _TS_MASK, 1, len(text)) + text + b"\x00"
    chunk += b"\x00" * (-len(chunk) % 4)  # RFC 3550 §6.5: null-terminated, 32-bit aligned
    return _RTCP_HEAD.pack(0x81, RTCP_SDES, len(chunk) // 4) + chunk


def parse_rtcp(data: bytes) -> list[RtcpReport] | None:
    """The SR and RR packets of a (compound) RTCP packet; None if it is not valid RTCP.

    Other packet types (SDES, BYE, APP, feedback) are skipped. Validity follows RFC 3550
    §A.2: version 2, the first packet an SR or RR, lengths adding up to the datagram.
    """
    if len(data) < 8 or data[0] >> 6 != RTP_VERSION or data[1] not in (RTCP_SR, RTCP_RR):
        return None
    reports: list[RtcpReport] = []
    off = 0
    while off < len(data):
        if off + 4 > len(data):
            return None
        b0, pt, words = _RTCP_HEAD.unpack_from(data, off)
        if b0 >> 6 != RTP_VERSION:
            return None
        end = off + 4 + 4 * words
        if end > len(data):
            return None
        count = b0 & 0x1F
        if pt in (RTCP_SR, RTCP_RR):
            pos = off + 4
            info: SenderInfo | None = None
            if pt == RTCP_SR:
                if pos + _SR_INFO.size > end:
                    return None
                ssrc, msw, lsw, rtp_ts, packets, octets = _SR_INFO.unpack_from(data, pos)
                info = SenderInfo(
                    ntp_timestamp=(msw << 32) | lsw,
                    rtp_timestamp=rtp_ts,
                    packet_count=packets,
                    octet_count=octets,
                )
                pos += _SR_INFO.size
            else:
                if pos + 4 > end:
                    return None
                (ssrc,) = struct.unpack_from("!I", data, pos)
                pos += 4
            if pos + count * _BLOCK.size > end:
                return None
            blocks = []
            for _ in range(count):
                src, lost_word, seq, jitter, lsr, dlsr = _BLOCK.unpack_from(data, pos)
                pos += _BLOCK.size
                lost = lost_word & 0xFFFFFF
                if lost & 0x800000:
                    lost -= 1 << 24
                blocks.append(
                    ReportBlock(
                        ssrc=src,
                        fraction_lost=lost_word >> 24,
                        cumulative_lost=lost,
                        highest_seq=seq,
                        jitter=jitter,
                        lsr=lsr,
                        dlsr=dlsr,
                    )
                )
            reports.append(
                RtcpReport(packet_type=pt, ssrc=ssrc, sender_info=info, blocks=tuple(blocks))
            )
        off = end
    return reports


def report_block(stats: RtpReceiveStats, *, lsr: int = 0, dlsr: int = 0) -> ReportBlock | None:
    """A report block for a received stream (starts a new fraction-lost interval)."""
    if stats.ssrc is None:
        return None
    return ReportBlock(
        ssrc=stats.ssrc,
        fraction_lost=stats.fraction_lost(),
        cumulative_lost=stats.lost,
        highest_seq=stats.extended_max_seq,
        jitter=stats.jitter,
        lsr=lsr,
        dlsr=dlsr,
    )

"""SDP (RFC 8866, formerly RFC 4566) and the offer/answer model (RFC 3264) for one audio stream.

flowpbx speaks G.711 (PCMU/PCMA at 8 kHz) plus RFC 4733 telephone-event. This module parses
and writes session descriptions, builds our offers, answers remote offers and reads the
answers to our offers. ``MediaParams`` is the negotiated result: where to send RTP
(``address``/``port`` are the *remote* side's), which payload types to use, and the
direction *we* run the stream in (RFC 3264 §6.1: the answer mirrors the offer's
direction).

Errors (``SdpError`` derives from ``SipError``)::

    SdpError(status_hint=400)   the body is not valid SDP
    SdpError(status_hint=488)   valid, but no acceptable audio stream (Not Acceptable Here)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flowpbx.sip.errors import SipError
from flowpbx.sip.numeric import parse_decimal, parse_uint

__all__ = [
    "AudioFormat",
    "AudioOffer",
    "MediaDescription",
    "MediaParams",
    "Origin",
    "SdpError",
    "SessionDescription",
    "answer_offer",
    "build_offer",
    "parse_answer",
    "parse_offer",
]

DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
_MIRROR = {
    "sendrecv": "sendrecv",
    "sendonly": "recvonly",
    "recvonly": "sendonly",
    "inactive": "inactive",
}
# RFC 3551 §6: static payload types we know without an rtpmap
_STATIC_PT = {0: ("PCMU", 8000), 8: ("PCMA", 8000), 9: ("G722", 8000), 18: ("G729", 8000)}
_CODEC_PT = {"PCMU": 0, "PCMA": 8}
_RTP_PROTOS = ("RTP/AVP", "RTP/AVPF")
# With SRTP (sip/sdes.py) allowed, the secure profiles are usable too (RFC 3711 §12).
_SRTP_PROTOS = (*_RTP_PROTOS, "RTP/SAVP", "RTP/SAVPF")
_MAX_SDP = 65535


class SdpError(SipError):
    """An SDP body we cannot use; ``status_hint`` is 400 (malformed) or 488 (unacceptable)."""

    def __init__(self, message: str, status_hint: int = 400) -> None:
        super().__init__(message)
        self.status_hint = status_hint


# -- the data model --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Origin:
    """``o=<username> <sess-id> <sess-version> <nettype> <addrtype> <address>`` (RFC 8866 §5.2)."""

    username: str
    session_id: int
    version: int
    nettype: str = "IN"
    addrtype: str = "IP4"
    address: str

    def __str__(self) -> str:
        return (
            f"{self.username} {self.session_id} {self.version} "
            f"{self.nettype} {self.addrtype} {self.address}"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class AudioFormat:
    """One offered RTP payload format (from ``m=`` plus ``a=rtpmap``, RFC 8866 §6.6)."""

    payload_type: int
    encoding: str  # upper-cased, e.g. "PCMU", "TELEPHONE-EVENT"
    clock_rate: int
    channels: int = 1


def _connection_address(value: str) -> str:
    # c=<nettype> <addrtype> <connection-address>, multicast may carry /ttl (RFC 8866 §5.7)
    parts = value.split()
    if len(parts) != 3 or parts[0] != "IN" or parts[1] not in ("IP4", "IP6"):
        raise SdpError(f"bad c= line {value[:60]!r}")
    return parts[2].split("/", 1)[0]


def _attr(lines: list[tuple[str, str]], name: str) -> list[str]:
    out: list[str] = []
    for kind, value in lines:
        if kind == "a":
            attr_name, colon, attr_value = value.partition(":")
            if attr_name == name:
                out.append(attr_value if colon else "")
    return out


@dataclass(slots=True, kw_only=True)
class MediaDescription:
    """One ``m=`` section (RFC 8866 §5.14) and the lines that follow it."""

    media: str
    port: int
    port_count: int | None = None
    proto: str
    formats: list[str]
    lines: list[tuple[str, str]] = field(default_factory=list)

    def attributes(self, name: str) -> list[str]:
        """Values of every ``a=name:value`` (``""`` for a flag ``a=name``)."""
        return _attr(self.lines, name)

    def has_attribute(self, name: str) -> bool:
        return bool(_attr(self.lines, name))

    @property
    def connection(self) -> str | None:
        for kind, value in self.lines:
            if kind == "c":
                return _connection_address(value)
        return None

    @property
    def direction(self) -> str | None:
        for kind, value in self.lines:
            if kind == "a" and value in DIRECTIONS:
                return value
        return None

    def formats_detail(self) -> list[AudioFormat]:
        """The payload formats in offer order, rtpmap applied (names matched case-insensitively)."""
        rtpmaps: dict[int, tuple[str, int, int]] = {}
        for value in self.attributes("rtpmap"):
            # a=rtpmap:<payload type> <encoding name>/<clock rate>[/<channels>] (RFC 8866 §6.6)
            pt_text, _, spec = value.partition(" ")
            pieces = spec.strip().split("/")
            rtp_pt = parse_uint(pt_text, 3)
            rate = parse_uint(pieces[1]) if len(pieces) >= 2 else None
            channels = parse_uint(pieces[2], 3) if len(pieces) > 2 else 1
            if rtp_pt is None or rate is None or not channels:
                continue  # a malformed rtpmap describes nothing
            rtpmaps[rtp_pt] = (pieces[0].upper(), rate, channels)
        out: list[AudioFormat] = []
        for fmt in self.formats:
            pt_or_none = parse_uint(fmt, 3)
            if pt_or_none is None or pt_or_none > 127:
                continue
            pt = pt_or_none
            if pt in rtpmaps:
                enc, rate, channels = rtpmaps[pt]
            elif pt in _STATIC_PT:
                enc, rate = _STATIC_PT[pt]
                channels = 1
            else:
                continue
            out.append(
                AudioFormat(payload_type=pt, encoding=enc, clock_rate=rate, channels=channels)
            )
        return out

    @property
    def ptime(self) -> int | None:
        """``a=ptime`` in whole milliseconds (RFC 8866 §6.4), None when absent or not a number
        from 1 to 1000."""
        for value in self.attributes("ptime"):
            ms = parse_decimal(value.strip(), 4)
            return int(ms) if ms is not None and 1 <= ms <= 1000 else None
        return None


@dataclass(slots=True, kw_only=True)
class SessionDescription:
    """A parsed SDP body. ``lines`` are the session-level lines after ``v= o= s=`` in order."""

    version: int = 0
    origin: Origin
    session_name: str = "-"
    lines: list[tuple[str, str]] = field(default_factory=list)
    media: list[MediaDescription] = field(default_factory=list)

    @classmethod
    def parse(cls, data: bytes) -> SessionDescription:
        if len(data) > _MAX_SDP:
            raise SdpError("SDP too large")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise SdpError("SDP is not UTF-8") from None
        version: int | None = None
        origin: Origin | None = None
        name = "-"
        session_lines: list[tuple[str, str]] = []
        media: list[MediaDescription] = []
        for raw in text.split("\n"):
            line = raw.rstrip("\r")
            if not line:
                continue
            if len(line) < 2 or line[1] != "=" or not ("a" <= line[0] <= "z"):
                raise SdpError(f"bad SDP line {line[:60]!r}")
            kind, value = line[0], line[2:]
            if version is None:
                if kind != "v" or value.strip() != "0":
                    raise SdpError("SDP must start with v=0")
                version = 0
            elif kind == "o" and origin is None and not media:
                origin = _parse_origin(value)
            elif kind == "s" and not media:
                name = value
            elif kind == "m":
                media.append(_parse_media_line(value))
            elif media:
                media[-1].lines.append((kind, value))
            else:
                session_lines.append((kind, value))
        if version is None or origin is None:
            raise SdpError("SDP without v= or o= line")
        sdp = cls(
            version=version, origin=origin, session_name=name, lines=session_lines, media=media
        )
        sdp.connection  # noqa: B018 - validate c= early
        for m in media:
            m.connection  # noqa: B018
        return sdp

    def to_bytes(self) -> bytes:
        out = [f"v={self.version}", f"o={self.origin}", f"s={self.session_name}"]
        out.extend(f"{k}={v}" for k, v in self.lines)
        for m in self.media:
            port = str(m.port) if m.port_count is None else f"{m.port}/{m.port_count}"
            out.append(f"m={m.media} {port} {m.proto} {' '.join(m.formats)}")
            out.extend(f"{k}={v}" for k, v in m.lines)
        return ("\r\n".join(out) + "\r\n").encode()

    @property
    def connection(self) -> str | None:
        for kind, value in self.lines:
            if kind == "c":
                return _connection_address(value)
        return None

    @property
    def direction(self) -> str | None:
        for kind, value in self.lines:
            if kind == "a" and value in DIRECTIONS:
                return value
        return None

    def attributes(self, name: str) -> list[str]:
        return _attr(self.lines, name)


def _parse_origin(value: str) -> Origin:
    parts = value.split()
    # <sess-id> and <sess-version> are 1*DIGIT, meant to fit 64 bits (RFC 8866 §5.2)
    session_id = parse_uint(parts[1], 20) if len(parts) == 6 else None
    version = parse_uint(parts[2], 20) if len(parts) == 6 else None
    if session_id is None or version is None:
        raise SdpError(f"bad o= line {value[:60]!r}")
    return Origin(
        username=parts[0],
        session_id=session_id,
        version=version,
        nettype=parts[3],
        addrtype=parts[4],
        address=parts[5],
    )


def _parse_media_line(value: str) -> MediaDescription:
    parts = value.split()
    if len(parts) < 3:
        raise SdpError(f"bad m= line {value[:60]!r}")
    port_text, slash, count_text = parts[1].partition("/")
    port = parse_uint(port_text, 5)
    if port is None or port > 65535:
        raise SdpError(f"bad m= port {parts[1][:20]!r}")
    count: int | None = None
    if slash:
        count = parse_uint(count_text, 5)
        if count is None:
            raise SdpError(f"bad m= port count {parts[1][:20]!r}")
    return MediaDescription(
        media=parts[0], port=port, port_count=count, proto=parts[2], formats=parts[3:]
    )


# -- negotiated result -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class MediaParams:
    """The negotiated audio stream: the remote RTP address/port, our payload types and the
    direction we run the stream in (RFC 3264 §6.1). ``port == 0`` never appears here."""

    address: str
    port: int
    payload_type: int
    codec: str  # "PCMU" or "PCMA"
    clock_rate: int = 8000
    dtmf_payload_type: int | None = None
    ptime: int = 20
    direction: str = "sendrecv"

    @property
    def sends(self) -> bool:
        return self.direction in ("sendrecv", "sendonly")

    @property
    def receives(self) -> bool:
        return self.direction in ("sendrecv", "recvonly")


@dataclass(frozen=True, slots=True, kw_only=True)
class AudioOffer:
    """What a remote offer proposes for its first usable audio stream (``parse_offer``)."""

    address: str  # where the offerer wants to receive RTP
    port: int
    formats: tuple[AudioFormat, ...]  # in the offerer's order of preference
    dtmf_payload_type: int | None  # telephone-event/8000, if offered
    ptime: int | None
    direction: str  # the offerer's direction (0.0.0.0 hold mapped to sendonly)
    media_index: int  # which m= line
    session: SessionDescription

    def codecs(self) -> list[str]:
        return [f.encoding for f in self.formats if f.encoding != "TELEPHONE-EVENT"]


def _addrtype(address: str) -> str:
    return "IP6" if ":" in address else "IP4"


def _effective_direction(sdp: SessionDescription, m: MediaDescription, address: str) -> str:
    direction = m.direction or sdp.direction or "sendrecv"
    if address in ("0.0.0.0", "::") and direction == "sendrecv":
        direction = "sendonly"  # RFC 3264 §8.4: c=0.0.0.0 is the old way to put on hold
    return direction


def _parse(body: bytes) -> SessionDescription:
    if not body:
        raise SdpError("empty SDP body")
    return SessionDescription.parse(body)


def _audio_candidates(
    sdp: SessionDescription, srtp: bool = False
) -> list[tuple[int, MediaDescription, str]]:
    out: list[tuple[int, MediaDescription, str]] = []
    protos = _SRTP_PROTOS if srtp else _RTP_PROTOS
    for index, m in enumerate(sdp.media):
        if m.media != "audio" or m.port == 0 or m.proto.upper() not in protos:
            continue
        address = m.connection or sdp.connection
        if address is None:
            raise SdpError("audio stream without a connection address")
        out.append((index, m, address))
    return out


def _dtmf_pt(formats: list[AudioFormat]) -> int | None:
    for f in formats:
        if f.encoding == "TELEPHONE-EVENT" and f.clock_rate == 8000:
            return f.payload_type
    return None


def parse_offer(body: bytes, *, srtp: bool = False) -> AudioOffer:
    """Read a remote offer: the first audio stream with a non-zero port over RTP/AVP(F).

    Raises ``SdpError(400)`` for malformed SDP, ``SdpError(488)`` when there is no such stream.
    """
    sdp = _parse(body)
    candidates = _audio_candidates(sdp, srtp)
    if not candidates:
        raise SdpError("no usable audio stream offered", 488)
    index, m, address = candidates[0]
    formats = m.formats_detail()
    return AudioOffer(
        address=address,
        port=m.port,
        formats=tuple(formats),
        dtmf_payload_type=_dtmf_pt(formats),
        ptime=m.ptime,
        direction=_effective_direction(sdp, m, address),
        media_index=index,
        session=sdp,
    )


def _audio_lines(
    pt: int, codec: str, dtmf_pt: int | None, direction: str, ptime: int
) -> list[tuple[str, str]]:
    lines = [("a", f"rtpmap:{pt} {codec}/8000")]
    if dtmf_pt is not None:
        lines.append(("a", f"rtpmap:{dtmf_pt} telephone-event/8000"))
        lines.append(("a", f"fmtp:{dtmf_pt} 0-16"))
    lines.append(("a", f"ptime:{ptime}"))
    lines.append(("a", direction))
    return lines


def build_offer(
    *,
    address: str,
    port: int,
    session_id: int,
    version: int = 1,
    codecs: tuple[str, ...] = ("PCMU", "PCMA"),
    dtmf_payload_type: int = 101,
    direction: str = "sendrecv",
    ptime: int = 20,
) -> bytes:
    """Our SDP offer for one audio stream (RFC 3264 §5)."""
    if direction not in DIRECTIONS:
        raise ValueError(f"bad direction {direction!r}")
    if not codecs:
        raise ValueError("an offer needs at least one codec")
    pts: list[int] = []
    lines: list[tuple[str, str]] = []
    for codec in codecs:
        name = codec.upper()
        if name not in _CODEC_PT:
            raise ValueError(f"unsupported codec {codec!r}")
        pts.append(_CODEC_PT[name])
        lines.append(("a", f"rtpmap:{_CODEC_PT[name]} {name}/8000"))
    formats = [str(pt) for pt in pts] + [str(dtmf_payload_type)]
    lines.append(("a", f"rtpmap:{dtmf_payload_type} telephone-event/8000"))
    lines.append(("a", f"fmtp:{dtmf_payload_type} 0-16"))
    lines.append(("a", f"ptime:{ptime}"))
    lines.append(("a", direction))
    sdp = SessionDescription(
        origin=Origin(
            username="-",
            session_id=session_id,
            version=version,
            addrtype=_addrtype(address),
            address=address,
        ),
        session_name="flowpbx",
        lines=[("c", f"IN {_addrtype(address)} {address}"), ("t", "0 0")],
        media=[
            MediaDescription(
                media="audio", port=port, proto="RTP/AVP", formats=formats, lines=lines
            )
        ],
    )
    return sdp.to_bytes()


def answer_offer(
    offer: bytes,
    *,
    address: str,
    port: int,
    session_id: int,
    version: int = 1,
    supported: tuple[str, ...] = ("PCMU", "PCMA"),
    ptime: int = 20,
    srtp: bool = False,
) -> tuple[bytes, MediaParams]:
    """Answer a remote offer (RFC 3264 §6): accept the first usable audio stream with the
    first offered codec we support (the offerer's preference), keep telephone-event with the
    offerer's payload type, mirror the direction; every other m= line is rejected with port 0.

    ``srtp``: RTP/SAVP(F) streams are usable too (the caller adds the crypto, sip/sdes.py).

    Raises ``SdpError(488)`` when no audio stream has a codec in ``supported``.
    """
    sdp = _parse(offer)
    wanted = {c.upper() for c in supported}
    chosen: tuple[int, MediaDescription, str, AudioFormat, list[AudioFormat]] | None = None
    for index, m, remote_address in _audio_candidates(sdp, srtp):
        formats = m.formats_detail()
        for f in formats:
            if f.encoding in wanted and f.clock_rate == 8000 and f.channels == 1:
                chosen = (index, m, remote_address, f, formats)
                break
        if chosen is not None:
            break
    if chosen is None:
        raise SdpError("no common audio codec", 488)
    index, m, remote_address, fmt, formats = chosen
    dtmf = _dtmf_pt(formats)
    direction = _MIRROR[_effective_direction(sdp, m, remote_address)]
    media: list[MediaDescription] = []
    for i, offered in enumerate(sdp.media):
        if i == index:
            fmts = [str(fmt.payload_type)] + ([str(dtmf)] if dtmf is not None else [])
            media.append(
                MediaDescription(
                    media="audio",
                    port=port,
                    proto=offered.proto,
                    formats=fmts,
                    lines=_audio_lines(fmt.payload_type, fmt.encoding, dtmf, direction, ptime),
                )
            )
        else:
            # RFC 3264 §6: a rejected stream keeps its place, port 0, an offered format
            media.append(
                MediaDescription(
                    media=offered.media,
                    port=0,
                    proto=offered.proto,
                    formats=offered.formats[:1] or ["0"],
                )
            )
    answer = SessionDescription(
        origin=Origin(
            username="-",
            session_id=session_id,
            version=version,
            addrtype=_addrtype(address),
            address=address,
        ),
        session_name="flowpbx",
        lines=[("c", f"IN {_addrtype(address)} {address}"), ("t", "0 0")],
        media=media,
    )
    params = MediaParams(
        address=remote_address,
        port=m.port,
        payload_type=fmt.payload_type,
        codec=fmt.encoding,
        clock_rate=fmt.clock_rate,
        dtmf_payload_type=dtmf,
        ptime=ptime,
        direction=direction,
    )
    return answer.to_bytes(), params


def parse_answer(
    answer: bytes, *, supported: tuple[str, ...] = ("PCMU", "PCMA"), srtp: bool = False
) -> MediaParams:
    """Read the answer to one of our offers (RFC 3264 §7).

    Raises ``SdpError(488)`` if the audio stream was rejected (port 0) or the answer holds no
    codec we support.
    """
    sdp = _parse(answer)
    candidates = _audio_candidates(sdp, srtp)
    if not candidates:
        raise SdpError("the answer rejected the audio stream", 488)
    wanted = {c.upper() for c in supported}
    _, m, address = candidates[0]
    formats = m.formats_detail()
    for f in formats:
        if f.encoding in wanted and f.clock_rate == 8000:
            remote_direction = _effective_direction(sdp, m, address)
            return MediaParams(
                address=address,
                port=m.port,
                payload_type=f.payload_type,
                codec=f.encoding,
                clock_rate=f.clock_rate,
                dtmf_payload_type=_dtmf_pt(formats),
                ptime=m.ptime or 20,
                direction=_MIRROR[remote_direction],
            )
    raise SdpError("no supported codec in the answer", 488)

"""SDES: SRTP keys in SDP ``a=crypto`` lines (RFC 4568), for AES_CM_128_HMAC_SHA1_80 and _32.

Sans-I/O: parse an offer's or answer's crypto attributes, pick the one we accept, write our
own, and put them into an SDP body (``secure_body``). The keys themselves are used by
``flowpbx.media.srtp`` (libsrtp); nothing here touches a packet.

    a=crypto:<tag> <crypto-suite> inline:<base64 key||salt>[|<lifetime>] [<session-params>]

Strictness (RFC 4568 §5.1.2/§6.1): a line we cannot parse or use — an unknown suite, a key of
the wrong length or not base64, an MKI, several keys, any session parameter — describes
nothing we can accept and is ignored; the offer then stands or falls on its other lines
(an RTP/SAVP stream with none we accept is answered 488 by the caller of ``choose``).
"""

from __future__ import annotations

import base64
import binascii
import secrets
from dataclasses import dataclass

from flowpbx.sip.numeric import parse_uint
from flowpbx.sip.sdp import SdpError, SessionDescription

__all__ = [
    "SUITES",
    "CryptoAttribute",
    "CryptoError",
    "choose",
    "crypto_values",
    "new_key",
    "offer_attributes",
    "secure_body",
]

# Master key (16 octets) plus master salt (14 octets) of AES_CM_128 (RFC 4568 §6.2).
KEY_SALT_LEN = 30
SUITES = ("AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32")
SECURE_PROTOS = ("RTP/SAVP", "RTP/SAVPF")
_MAX_TAG = 999_999_999  # tag = 1*9DIGIT
_MAX_LIFETIME_EXP = 48  # libsrtp's key limit: 2^48 packets


class CryptoError(ValueError):
    """An ``a=crypto`` value we cannot use."""


@dataclass(frozen=True, slots=True)
class CryptoAttribute:
    """One crypto line: its tag, suite and 30-octet master key||salt."""

    tag: int
    suite: str
    key: bytes

    def __post_init__(self) -> None:
        if self.suite not in SUITES:
            raise CryptoError(f"unsupported crypto suite {self.suite[:40]!r}")
        if len(self.key) != KEY_SALT_LEN:
            raise CryptoError("a master key||salt of AES_CM_128 is 30 octets")
        if not 0 <= self.tag <= _MAX_TAG:
            raise CryptoError("crypto tag out of range")

    def value(self) -> str:
        """The attribute's value, for ``a=crypto:<value>``."""
        key = base64.b64encode(self.key).decode("ascii")
        return f"{self.tag} {self.suite} inline:{key}"

    def __repr__(self) -> str:  # never put a key into a log line
        return f"CryptoAttribute(tag={self.tag}, suite={self.suite!r}, key=<hidden>)"

    @classmethod
    def parse(cls, value: str) -> CryptoAttribute:
        """Parse the value of one ``a=crypto`` line (raises ``CryptoError``)."""
        parts = value.strip().split()
        if len(parts) < 3:
            raise CryptoError("a=crypto needs a tag, a suite and key parameters")
        if len(parts) > 3:
            raise CryptoError("session parameters are not supported")
        tag = parse_uint(parts[0], 9)
        if tag is None:
            raise CryptoError("bad crypto tag")
        suite = parts[1]
        if suite not in SUITES:
            raise CryptoError(f"unsupported crypto suite {suite[:40]!r}")
        params = parts[2]
        if ";" in params:
            raise CryptoError("several master keys (MKI) are not supported")
        method, colon, info = params.partition(":")
        if not colon or method.lower() != "inline":
            raise CryptoError("only the inline key method exists")
        fields = info.split("|")
        if len(fields) > 2:
            raise CryptoError("MKI is not supported")
        if len(fields) == 2:
            _check_lifetime(fields[1])
        encoded = fields[0]
        if len(encoded) != 40:
            raise CryptoError("an AES_CM_128 key||salt is 40 base64 characters")
        try:
            key = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise CryptoError("key is not base64") from None
        return cls(tag=tag, suite=suite, key=key)


def _check_lifetime(text: str) -> None:
    # lifetime = ["2^"] 1*(DIGIT); a shorter lifetime than libsrtp's own limit would need
    # a re-key we do not do, so only 2^31 and above are accepted.
    if ":" in text:
        raise CryptoError("MKI is not supported")
    if text.startswith("2^"):
        exp = parse_uint(text[2:], 2)
        if exp is None or not 31 <= exp <= _MAX_LIFETIME_EXP:
            raise CryptoError("unusable key lifetime")
        return
    value = parse_uint(text, 15)
    if value is None or not 2**31 <= value <= 2**_MAX_LIFETIME_EXP:
        raise CryptoError("unusable key lifetime")


def new_key() -> bytes:
    """A fresh master key||salt from the system's CSPRNG."""
    return secrets.token_bytes(KEY_SALT_LEN)


def choose(values: list[str], suites: tuple[str, ...] = SUITES) -> CryptoAttribute | None:
    """The first offered crypto line we can use (the offerer's preference), or None.
    Lines that do not parse are skipped (RFC 4568 §6.1: an unusable line is ignored)."""
    for value in values:
        try:
            attr = CryptoAttribute.parse(value)
        except CryptoError:
            continue
        if attr.suite in suites:
            return attr
    return None


def offer_attributes(suites: tuple[str, ...] = SUITES) -> list[CryptoAttribute]:
    """Our offer's crypto lines: one fresh key per suite, tags 1, 2, …"""
    return [CryptoAttribute(tag=i, suite=s, key=new_key()) for i, s in enumerate(suites, 1)]


def _first_audio(sdp: SessionDescription) -> int | None:
    for index, m in enumerate(sdp.media):
        if m.media == "audio" and m.port != 0:
            return index
    return None


def crypto_values(body: bytes) -> tuple[str | None, list[str]]:
    """The first active audio stream's transport protocol and its ``a=crypto`` values
    (``(None, [])`` when the body has no such stream). Raises ``SdpError`` for bad SDP."""
    sdp = SessionDescription.parse(body)
    index = _first_audio(sdp)
    if index is None:
        return None, []
    m = sdp.media[index]
    return m.proto, m.attributes("crypto")


def secure_body(body: bytes, attrs: list[CryptoAttribute], *, savp: bool | None) -> bytes:
    """``body`` with the first active audio stream's crypto lines replaced by ``attrs`` and,
    when ``savp`` is set, its protocol set to RTP/SAVP (True) or RTP/AVP (False)."""
    sdp = SessionDescription.parse(body)
    index = _first_audio(sdp)
    if index is None:
        raise SdpError("no active audio stream to secure", 488)
    m = sdp.media[index]
    lines = [(k, v) for k, v in m.lines if not (k == "a" and v.startswith("crypto:"))]
    at = next((i for i, (k, _) in enumerate(lines) if k == "a"), len(lines))
    lines[at:at] = [("a", f"crypto:{a.value()}") for a in attrs]
    m.lines = lines
    if savp is not None:
        m.proto = "RTP/SAVP" if savp else "RTP/AVP"
    return sdp.to_bytes()

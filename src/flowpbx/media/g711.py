"""G.711 µ-law (PCMU) and A-law (PCMA) codecs, vectorised with numpy lookup tables.

The tables are built once at import: 256 entries for decoding, 65,536 entries (one per
16-bit sample) for encoding, so encoding and decoding a 20 ms frame is one numpy `take`.
The quantisation follows ITU-T G.711 (as in the G.191 reference implementation) bit for bit,
negative samples included (they are quantised from their one's complement, which is what
the standard's decision levels amount to on 16-bit input).

Codecs share the `AudioCodec` interface and are obtained from `get_codec(name)`, so others
(G.722, Opus) can be added later without touching callers.

Exceptions::

    ValueError
      └── UnknownCodecError   get_codec() with a name nobody implements
"""

from __future__ import annotations

import abc
from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = [
    "AudioCodec",
    "G711Codec",
    "PcmaCodec",
    "PcmuCodec",
    "UnknownCodecError",
    "alaw_decode",
    "alaw_encode",
    "get_codec",
    "ulaw_decode",
    "ulaw_encode",
]

Samples = npt.NDArray[np.int16]


def _build_ulaw_decode() -> Samples:
    # ITU-T G.711 µ-law expansion (G.191 ulaw_expand), result on the 16-bit scale.
    code = np.arange(256, dtype=np.int32)
    inv = ~code & 0xFF
    exponent = (inv >> 4) & 0x07
    mantissa = inv & 0x0F
    step = 4 << (exponent + 1)
    magnitude = (0x80 << exponent) + step * mantissa + step // 2 - 4 * 33
    values = np.where(code < 0x80, -magnitude, magnitude)
    return values.astype(np.int16)


def _build_ulaw_encode() -> npt.NDArray[np.uint8]:
    # ITU-T G.711 µ-law compression (G.191 ulaw_compress) for every int16 value, indexed by
    # the value reinterpreted as uint16.
    x = np.arange(65536, dtype=np.int32).astype(np.uint16).view(np.int16).astype(np.int32)
    absno = np.where(x < 0, (~x) >> 2, x >> 2) + 33
    absno = np.minimum(absno, 0x1FFF)
    bit_length = np.array([int(v).bit_length() for v in range(128)], dtype=np.int32)
    segno = bit_length[absno >> 6] + 1
    high = 8 - segno
    low = 0x0F - ((absno >> segno) & 0x0F)
    code = (high << 4) | low
    signed: npt.NDArray[np.int32] = np.where(x >= 0, code | 0x80, code)
    return signed.astype(np.uint8)


def _build_alaw_decode() -> Samples:
    # ITU-T G.711 A-law expansion (G.191 alaw_expand).
    code = np.arange(256, dtype=np.int32)
    ix = (code ^ 0x55) & 0x7F
    exponent = ix >> 4
    mant = ix & 0x0F
    mant = np.where(exponent > 0, mant + 16, mant)
    mant = (mant << 4) + 0x08
    mant = np.where(exponent > 1, mant << np.maximum(exponent - 1, 0), mant)
    values = np.where(code > 127, mant, -mant)
    return values.astype(np.int16)


def _build_alaw_encode() -> npt.NDArray[np.uint8]:
    # ITU-T G.711 A-law compression (G.191 alaw_compress).
    x = np.arange(65536, dtype=np.int32).astype(np.uint16).view(np.int16).astype(np.int32)
    ix = np.where(x < 0, (~x) >> 4, x >> 4)  # 12-bit magnitude
    bit_length = np.array([int(v).bit_length() for v in range(2048)], dtype=np.int32)
    # For ix > 15: exponent = number of right shifts to bring ix into 16..31, plus one.
    iexp = np.where(ix > 15, bit_length[ix] - 4, 0)
    shifted = np.where(ix > 15, (ix >> np.maximum(iexp - 1, 0)) - 16 + (iexp << 4), ix)
    code = np.where(x >= 0, shifted | 0x80, shifted)
    return (code ^ 0x55).astype(np.uint8)


_ULAW_DECODE: Final = _build_ulaw_decode()
_ULAW_ENCODE: Final = _build_ulaw_encode()
_ALAW_DECODE: Final = _build_alaw_decode()
_ALAW_ENCODE: Final = _build_alaw_encode()
for _table in (_ULAW_DECODE, _ULAW_ENCODE, _ALAW_DECODE, _ALAW_ENCODE):
    _table.flags.writeable = False


def _as_int16(samples: npt.ArrayLike) -> Samples:
    arr = np.asarray(samples)
    if arr.dtype != np.int16:
        arr = arr.astype(np.int16)
    return arr


def ulaw_decode(payload: bytes) -> Samples:
    """µ-law code words -> 16-bit linear samples (ITU-T G.711)."""
    return _ULAW_DECODE[np.frombuffer(payload, dtype=np.uint8)]


def ulaw_encode(samples: npt.ArrayLike) -> bytes:
    """16-bit linear samples -> µ-law code words (ITU-T G.711)."""
    return _ULAW_ENCODE[_as_int16(samples).view(np.uint16)].tobytes()


def alaw_decode(payload: bytes) -> Samples:
    """A-law code words -> 16-bit linear samples (ITU-T G.711)."""
    return _ALAW_DECODE[np.frombuffer(payload, dtype=np.uint8)]


def alaw_encode(samples: npt.ArrayLike) -> bytes:
    """16-bit linear samples -> A-law code words (ITU-T G.711)."""
    return _ALAW_ENCODE[_as_int16(samples).view(np.uint16)].tobytes()


class UnknownCodecError(ValueError):
    """No codec of that name is implemented."""


class AudioCodec(abc.ABC):
    """An audio codec: name as in SDP rtpmap (RFC 3551 §6), static payload type, rate."""

    name: str
    payload_type: int
    clock_rate: int = 8000
    channels: int = 1

    @abc.abstractmethod
    def encode(self, samples: npt.ArrayLike) -> bytes:
        """Encode 16-bit linear samples at `clock_rate`."""

    @abc.abstractmethod
    def decode(self, payload: bytes) -> Samples:
        """Decode one payload to 16-bit linear samples."""

    def silence(self, samples: int = 160) -> bytes:
        """An encoded frame of silence."""
        return self.encode(np.zeros(samples, dtype=np.int16))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}/{self.clock_rate} pt={self.payload_type}>"


class G711Codec(AudioCodec):
    """Either G.711 law: one byte per sample, stateless (RFC 3551 §4.5.14)."""


class PcmuCodec(G711Codec):
    """G.711 µ-law, static payload type 0 (RFC 3551 Table 4)."""

    name = "PCMU"
    payload_type = 0

    def encode(self, samples: npt.ArrayLike) -> bytes:
        return ulaw_encode(samples)

    def decode(self, payload: bytes) -> Samples:
        return ulaw_decode(payload)


class PcmaCodec(G711Codec):
    """G.711 A-law, static payload type 8 (RFC 3551 Table 4)."""

    name = "PCMA"
    payload_type = 8

    def encode(self, samples: npt.ArrayLike) -> bytes:
        return alaw_encode(samples)

    def decode(self, payload: bytes) -> Samples:
        return alaw_decode(payload)


_CODECS: Final[dict[str, AudioCodec]] = {"PCMU": PcmuCodec(), "PCMA": PcmaCodec()}
_BY_PT: Final[dict[int, AudioCodec]] = {c.payload_type: c for c in _CODECS.values()}


def get_codec(name: str | int) -> AudioCodec:
    """The codec for an SDP encoding name ("PCMU", "pcma") or static payload type (0, 8)."""
    codec = _BY_PT.get(name) if isinstance(name, int) else _CODECS.get(name.upper())
    if codec is None:
        raise UnknownCodecError(f"unsupported codec: {name!r}")
    return codec


def supported_codecs() -> tuple[str, ...]:
    """Names of the implemented codecs, in order of preference."""
    return tuple(_CODECS)

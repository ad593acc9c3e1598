"""G.711 against ITU-T G.711/G.191 values, and round trips over every code word."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest

from flowpbx.media.g711 import (
    AudioCodec,
    PcmaCodec,
    PcmuCodec,
    UnknownCodecError,
    alaw_decode,
    alaw_encode,
    get_codec,
    supported_codecs,
    ulaw_decode,
    ulaw_encode,
)

ALL_CODES = bytes(range(256))
ALL_SAMPLES = np.arange(-32768, 32768, dtype=np.int32).astype(np.int16)


def test_ulaw_known_values() -> None:
    decoded = ulaw_decode(ALL_CODES)
    # G.711 Table 2a: code 0x80/0x00 are the largest magnitudes, 0xFF/0x7F zero.
    assert decoded[0x80] == 32124
    assert decoded[0x00] == -32124
    assert decoded[0xFF] == 0
    assert decoded[0x7F] == 0
    assert decoded[0xFE] == 8
    assert decoded[0x7E] == -8
    assert decoded[0xEF] == 132  # first code of segment 1
    assert ulaw_encode(np.array([0, -1, 32767, -32768, 8, -9], dtype=np.int16)) == bytes(
        [0xFF, 0x7F, 0x80, 0x00, 0xFE, 0x7E]
    )


def test_alaw_known_values() -> None:
    decoded = alaw_decode(ALL_CODES)
    # G.711 Table 1a: even bits inverted, 0xD5/0x55 the smallest magnitudes.
    assert decoded[0xD5] == 8
    assert decoded[0x55] == -8
    assert decoded[0xAA] == 32256
    assert decoded[0x2A] == -32256
    assert alaw_encode(np.array([0, -1, 32767, -32768, 16, -17], dtype=np.int16)) == bytes(
        [0xD5, 0x55, 0xAA, 0x2A, 0xD4, 0x54]
    )


@pytest.mark.parametrize("code", range(256))
def test_ulaw_every_code_word_round_trips(code: int) -> None:
    expected = 0xFF if code == 0x7F else code  # 0x7F is "negative zero": it decodes to 0
    assert ulaw_encode(ulaw_decode(bytes([code]))) == bytes([expected])


def test_alaw_every_code_word_round_trips() -> None:
    assert alaw_encode(alaw_decode(ALL_CODES)) == ALL_CODES


@pytest.mark.parametrize(
    ("encode", "decode"), [(ulaw_encode, ulaw_decode), (alaw_encode, alaw_decode)]
)
def test_encoder_is_monotonic_and_decode_is_within_half_a_step(
    encode: Callable[[npt.ArrayLike], bytes], decode: Callable[[bytes], npt.NDArray[np.int16]]
) -> None:
    codes = np.frombuffer(encode(ALL_SAMPLES), dtype=np.uint8)
    recon = decode(codes.tobytes()).astype(np.int32)
    assert np.all(np.diff(recon) >= 0)  # quantiser is monotonic over the full range
    err = np.abs(recon - ALL_SAMPLES.astype(np.int32))
    # The largest step of both laws is 1024 (µ-law segment 7) / 1024 (A-law segment 7).
    inner = np.abs(ALL_SAMPLES.astype(np.int32)) < 32000
    assert err[inner].max() <= 1024 // 2 + 1
    # Every code word is used, µ-law's negative zero (0x7F) by -1..-4 (G.191 quantises a
    # negative sample from its one's complement).
    assert len(set(codes.tolist())) == 256


def test_decode_accepts_bytes_of_any_length_and_encode_any_int_array() -> None:
    assert ulaw_decode(b"").shape == (0,)
    assert ulaw_decode(b"\xff" * 160).dtype == np.int16
    assert ulaw_encode([0, 0]) == b"\xff\xff"  # lists and other integer arrays are accepted
    assert alaw_encode(np.zeros(3, dtype=np.int32)) == b"\xd5\xd5\xd5"


def test_codec_factory() -> None:
    pcmu = get_codec("PCMU")
    pcma = get_codec("pcma")
    assert isinstance(pcmu, PcmuCodec) and isinstance(pcmu, AudioCodec)
    assert isinstance(pcma, PcmaCodec)
    assert (pcmu.name, pcmu.payload_type, pcmu.clock_rate) == ("PCMU", 0, 8000)
    assert (pcma.name, pcma.payload_type) == ("PCMA", 8)
    assert get_codec(0) is pcmu and get_codec(8) is pcma
    assert supported_codecs() == ("PCMU", "PCMA")
    assert pcmu.silence() == b"\xff" * 160
    assert pcma.silence(80) == b"\xd5" * 80
    assert repr(pcmu) == "<PcmuCodec PCMU/8000 pt=0>"
    samples = np.array([1000, -1000, 20000], dtype=np.int16)
    assert pcmu.decode(pcmu.encode(samples)).tolist() == ulaw_decode(ulaw_encode(samples)).tolist()
    with pytest.raises(UnknownCodecError, match="G729"):
        get_codec("G729")
    with pytest.raises(UnknownCodecError):
        get_codec(18)

"""tests/audio_analysis.py on its own: G.711 tables, RTP parsing, pcap writing, tone finding.
No peers needed (not marked e2e)."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from tests.audio_analysis import (
    alaw_decode,
    alaw_encode,
    dominant_frequency,
    load_wav,
    make_rtp_pcap,
    make_tone_wav,
    parse_rtp,
    rms,
    rtp_audio,
    rtp_events,
    tone,
    tone_order,
    tone_runs,
    tone_segments,
    ulaw_decode,
    ulaw_encode,
    ulaw_tone_file,
)
from tests.pcap import read_udp_payloads


def test_g711_reference_points() -> None:
    # ITU-T G.711: µ-law 0xFF/0x7F are +0/-0, 0x80/0x00 the extremes (±32124);
    # A-law 0xD5/0x55 are the smallest steps (±8), 0xAA/0x2A the extremes (±32256).
    assert ulaw_decode(bytes([0xFF, 0x7F, 0x80, 0x00])).tolist() == [0, 0, 32124, -32124]
    assert alaw_decode(bytes([0xD5, 0x55, 0xAA, 0x2A])).tolist() == [8, -8, 32256, -32256]
    assert ulaw_encode([0]) == b"\xff"
    assert alaw_encode([0]) == b"\xd5"


@pytest.mark.parametrize(
    ("encode", "decode"), [(ulaw_encode, ulaw_decode), (alaw_encode, alaw_decode)]
)
def test_g711_round_trip_error_is_bounded(encode, decode) -> None:  # type: ignore[no-untyped-def]
    x = np.arange(-32768, 32768, 7, dtype=np.int16)
    y = decode(encode(x)).astype(np.int32)
    err = np.abs(y - x.astype(np.int32))
    # logarithmic quantisation: error within ~3.2 % of the magnitude (+ small floor)
    assert np.all(err <= np.abs(x.astype(np.int32)) * 0.032 + 16)
    # every code decodes and re-encodes to itself
    codes = bytes(range(256))
    again = encode(decode(codes))
    same = np.frombuffer(again, np.uint8) == np.frombuffer(codes, np.uint8)
    assert same.sum() >= 254  # µ-law's +0/-0 both map to +0


def test_wav_and_ulaw_files(tmp_path: Path) -> None:
    rate, samples = load_wav(make_tone_wav(tmp_path / "t.wav", 440, 0.5, amplitude=0.25))
    assert rate == 8000 and samples.dtype == np.int16 and samples.size == 4000
    assert abs(dominant_frequency(samples, rate) - 440) < 1
    assert abs(rms(samples) - 0.25 * 32767 / np.sqrt(2)) < 50
    raw = ulaw_tone_file(tmp_path / "t.ulaw", 600, 1.0).read_bytes()
    assert len(raw) == 8000
    assert abs(dominant_frequency(ulaw_decode(raw)) - 600) < 1


def test_parse_rtp_handles_csrc_extension_and_padding() -> None:
    payload = b"\x01\x02\x03"
    pkt = (
        struct.pack("!BBHII", 0x80 | 0x20 | 0x10 | 1, 0x80 | 8, 7, 1234, 0xABCD)
        + b"\x00\x00\x00\x09"  # one CSRC
        + struct.pack("!HH", 0xBEDE, 1)
        + b"\x00" * 4  # one-word extension
        + payload
        + b"\x00\x00\x03"  # 3 bytes of padding
    )
    p = parse_rtp(pkt)
    assert (p.payload_type, p.marker, p.sequence, p.timestamp, p.ssrc) == (8, True, 7, 1234, 0xABCD)
    assert p.payload == payload
    with pytest.raises(ValueError):
        parse_rtp(b"\x40" + bytes(20))


def test_make_rtp_pcap_reads_back_as_a_paced_tone_stream(tmp_path: Path) -> None:
    path = make_rtp_pcap(tmp_path / "t.pcap", 600, 1.0, ssrc=99, seq0=65530, ts0=2**32 - 320)
    records = read_udp_payloads(path)
    assert len(records) == 50
    times = [t for t, *_ in records]
    assert np.allclose(np.diff(times), 0.02, atol=1e-5)
    packets = [parse_rtp(payload) for *_, payload in records]
    assert [p.sequence for p in packets[:8]] == [65530, 65531, 65532, 65533, 65534, 65535, 0, 1]
    assert packets[2].timestamp == 0  # wraps like a real stream
    assert packets[0].marker and not packets[1].marker
    assert {p.ssrc for p in packets} == {99}
    audio = rtp_audio(packets)
    assert audio.size == 8000
    assert abs(dominant_frequency(audio) - 600) < 1


def test_rtp_events_counts_each_key_once() -> None:
    def ev(ts: int, code: int, end: bool) -> bytes:
        return struct.pack("!BBHII", 0x80, 101, 1, ts, 5) + bytes(
            [code, 0x80 if end else 0, 0, 160]
        )

    pkts = [
        parse_rtp(ev(100, 1, False)),
        parse_rtp(ev(100, 1, True)),
        parse_rtp(ev(100, 1, True)),
        parse_rtp(ev(900, 11, False)),
    ]
    assert rtp_events(pkts) == [1, 11]


def test_tone_order_proves_sequence_and_ignores_blips_and_other_tones() -> None:
    signal = np.concatenate(
        [
            tone(400, 1.5),
            np.zeros(800, np.int16),
            tone(800, 1.5),
            tone(697, 0.1),
            tone(425, 1.0),
            tone(1000, 3.0),
        ]
    )
    assert tone_order(signal, [400, 800, 1000], tolerance_hz=15) == [400, 800, 1000]
    runs = tone_runs(tone_segments(signal))
    assert [round(r.freq) for r in runs] == [400, 800, 425, 1000]
    assert runs[0].duration == pytest.approx(1.5, abs=0.11)
    assert tone_order(np.zeros(8000, np.int16), [400]) == []
    assert dominant_frequency(np.zeros(100)) == 0.0

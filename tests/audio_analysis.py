"""Audio fixtures and analysis for end-to-end tests: which tone did a peer hear, and when.

Pieces:

- WAV in/out: ``load_wav``, ``make_tone_wav`` (16-bit mono fixtures for prompts and for
  baresip's audio source).
- G.711 (ITU-T G.711) µ-law/A-law encode and decode with numpy lookup tables, for raw
  ``.ulaw`` files (SIPp ``rtp_stream``) and for RTP payloads captured on the wire.
- RTP (RFC 3550 §5.1) header parsing and ``rtp_audio``: packets -> decoded 16-bit audio.
- ``make_rtp_pcap``: a libpcap file of an RTP µ-law tone stream (Ethernet/IPv4/UDP framing,
  20 ms apart) for SIPp's ``play_pcap_audio``.
- Analysis: ``rms``, ``dominant_frequency`` (Hann-windowed FFT with parabolic peak
  interpolation), ``tone_segments`` (dominant tone per 100 ms window) and ``tone_runs`` /
  ``tone_order`` to prove WHICH prompt was heard and in what order; ``has_tone`` and
  ``tone_seconds``, the checks the e2e tests assert with.
- Finding a known recording (a system prompt, say) in what a peer heard: ``find_audio`` (the
  best match), ``find_audio_all`` (every match above a threshold), ``similarity`` (near a
  given offset); ``system_prompt`` loads flowpbx's own prompts.

Errors: ValueError for malformed input (bad RTP header, unsupported WAV).
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soundfile

import flowpbx.media

Int16Array = npt.NDArray[np.int16]

RATE = 8000
# flowpbx's system prompts (8 kHz WAVs shipped with the media package)
SYSTEM_PROMPTS = Path(flowpbx.media.__file__).resolve().parent / "prompts"
PT_PCMU = 0
PT_PCMA = 8

# --------------------------------------------------------------------------- G.711 tables
_ULAW_BIAS = 0x84


def _build_ulaw_decode() -> Int16Array:
    u = (~np.arange(256, dtype=np.int32)) & 0xFF
    sign = u & 0x80
    exponent = (u >> 4) & 0x07
    mantissa = u & 0x0F
    magnitude = (((mantissa << 3) + _ULAW_BIAS) << exponent) - _ULAW_BIAS
    return np.where(sign != 0, -magnitude, magnitude).astype(np.int16)


def _build_alaw_decode() -> Int16Array:
    a = np.arange(256, dtype=np.int32) ^ 0x55
    sign = a & 0x80
    exponent = (a >> 4) & 0x07
    mantissa = a & 0x0F
    magnitude = np.where(
        exponent == 0,
        (mantissa << 4) + 8,
        ((mantissa << 4) + 0x108) << np.maximum(exponent - 1, 0),
    )
    # A-law: the sign bit set means positive.
    return np.where(sign != 0, magnitude, -magnitude).astype(np.int16)


ULAW_DECODE: Int16Array = _build_ulaw_decode()
ALAW_DECODE: Int16Array = _build_alaw_decode()


def _highest_bit(x: npt.NDArray[np.int32]) -> npt.NDArray[np.int32]:
    out = np.zeros_like(x)
    nz = x > 0
    out[nz] = np.floor(np.log2(x[nz])).astype(np.int32)
    return out


def ulaw_encode(samples: npt.ArrayLike) -> bytes:
    """16-bit linear PCM -> G.711 µ-law bytes (14-bit magnitude, bias 33, clip 8159)."""
    v = np.asarray(samples, dtype=np.int32) >> 2
    sign = np.where(v < 0, 0x80, 0)
    mag = np.minimum(np.where(v < 0, -v, v) + (_ULAW_BIAS >> 2), 0x1FFF)
    exponent = _highest_bit(mag) - 5
    mantissa = (mag >> (exponent + 1)) & 0x0F
    return bytes(((~(sign | (exponent << 4) | mantissa)) & 0xFF).astype(np.uint8).tobytes())


def alaw_encode(samples: npt.ArrayLike) -> bytes:
    """16-bit linear PCM -> G.711 A-law bytes."""
    x = np.asarray(samples, dtype=np.int32)
    sign = np.where(x >= 0, 0x80, 0)
    ix = np.where(x >= 0, x, -x - 1) >> 3  # 13-bit magnitude, 0..4095
    hb = _highest_bit(ix)
    exponent = np.where(ix < 32, 0, hb - 4)
    mantissa = np.where(ix < 32, ix >> 1, (ix >> np.maximum(exponent, 0)) & 0x0F)
    return bytes((((sign | (exponent << 4) | mantissa) ^ 0x55) & 0xFF).astype(np.uint8).tobytes())


def ulaw_decode(data: bytes) -> Int16Array:
    return ULAW_DECODE[np.frombuffer(data, dtype=np.uint8)]


def alaw_decode(data: bytes) -> Int16Array:
    return ALAW_DECODE[np.frombuffer(data, dtype=np.uint8)]


# --------------------------------------------------------------------------- WAV files
def load_wav(path: str | Path) -> tuple[int, Int16Array]:
    """Read a sound file as (rate, mono int16 samples); stereo is reduced to its first channel."""
    data, rate = soundfile.read(str(path), dtype="int16", always_2d=True)
    return int(rate), np.ascontiguousarray(data[:, 0])


def tone(freq: float, seconds: float, amplitude: float = 0.5, rate: int = RATE) -> Int16Array:
    """A pure sine tone as int16 samples; *amplitude* is a fraction of full scale."""
    n = round(seconds * rate)
    t = np.arange(n, dtype=np.float64) / rate
    return np.round(amplitude * 32767 * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def make_tone_wav(
    path: str | Path, freq: float, seconds: float, amplitude: float = 0.5, rate: int = RATE
) -> Path:
    """Write a 16-bit mono WAV of a pure tone; returns the path."""
    path = Path(path)
    soundfile.write(str(path), tone(freq, seconds, amplitude, rate), rate, subtype="PCM_16")
    return path


def ulaw_tone_file(path: str | Path, freq: float, seconds: float, amplitude: float = 0.5) -> Path:
    """Raw headerless 8 kHz µ-law tone, as SIPp's ``<exec rtp_stream="file,loops,0"/>`` wants."""
    path = Path(path)
    path.write_bytes(ulaw_encode(tone(freq, seconds, amplitude)))
    return path


# --------------------------------------------------------------------------- RTP
@dataclass(frozen=True, slots=True, kw_only=True)
class RtpPacket:
    """One parsed RTP packet (RFC 3550 §5.1) with its capture metadata."""

    time: float
    src: tuple[str, int]
    dst: tuple[str, int]
    payload_type: int
    marker: bool
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes


def parse_rtp(
    data: bytes,
    *,
    time: float = 0.0,
    src: tuple[str, int] = ("", 0),
    dst: tuple[str, int] = ("", 0),
) -> RtpPacket:
    """Parse one RTP datagram; raises ValueError when it is not RTP version 2."""
    if len(data) < 12 or data[0] >> 6 != 2:
        raise ValueError("not an RTP v2 packet")
    b0, b1, seq, ts, ssrc = struct.unpack_from("!BBHII", data)
    offset = 12 + 4 * (b0 & 0x0F)  # CSRC list
    if b0 & 0x10:  # header extension, RFC 3550 §5.3.1
        if len(data) < offset + 4:
            raise ValueError("truncated RTP header extension")
        (words,) = struct.unpack_from("!H", data, offset + 2)
        offset += 4 + 4 * words
    end = len(data)
    if b0 & 0x20:  # padding, last octet counts it
        end -= data[-1]
    if offset > end:
        raise ValueError("truncated RTP packet")
    return RtpPacket(
        time=time,
        src=src,
        dst=dst,
        payload_type=b1 & 0x7F,
        marker=bool(b1 & 0x80),
        sequence=seq,
        timestamp=ts,
        ssrc=ssrc,
        payload=data[offset:end],
    )


def rtp_audio(packets: Iterable[RtpPacket]) -> Int16Array:
    """Decode PCMU/PCMA payloads in arrival order into one int16 signal (other PTs skipped)."""
    parts: list[Int16Array] = []
    for p in packets:
        if p.payload_type == PT_PCMU:
            parts.append(ulaw_decode(p.payload))
        elif p.payload_type == PT_PCMA:
            parts.append(alaw_decode(p.payload))
    if not parts:
        return np.zeros(0, dtype=np.int16)
    return np.concatenate(parts)


def rtp_events(packets: Iterable[RtpPacket], payload_type: int = 101) -> list[int]:
    """RFC 4733 §2.3 telephone-event codes, one per event (end-flag packets de-duplicated)."""
    seen: set[int] = set()
    events: list[int] = []
    for p in packets:
        if p.payload_type != payload_type or len(p.payload) < 4:
            continue
        if p.timestamp not in seen:
            seen.add(p.timestamp)
            events.append(p.payload[0])
    return events


# --------------------------------------------------------------------------- pcap writing
def _ip_checksum(header: bytes) -> int:
    total = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return int(~total & 0xFFFF)


def _udp_frame(src: tuple[str, int], dst: tuple[str, int], payload: bytes, ident: int) -> bytes:
    udp = struct.pack("!HHHH", src[1], dst[1], 8 + len(payload), 0) + payload
    ip = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0xB8,  # DSCP EF
        20 + len(udp),
        ident & 0xFFFF,
        0,
        64,
        17,
        0,
        socket.inet_aton(src[0]),
        socket.inet_aton(dst[0]),
    )
    ip = ip[:10] + struct.pack("!H", _ip_checksum(ip)) + ip[12:]
    eth = b"\x00\x00\x00\x00\x00\x02" + b"\x00\x00\x00\x00\x00\x01" + b"\x08\x00"
    return eth + ip + udp


def write_pcap(path: str | Path, frames: Sequence[tuple[float, bytes]]) -> Path:
    """Write Ethernet frames as a classic libpcap file (microsecond timestamps)."""
    path = Path(path)
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for t, frame in frames:
        sec = int(t)
        usec = round((t - sec) * 1_000_000)
        out.append(struct.pack("<IIII", sec, usec, len(frame), len(frame)))
        out.append(frame)
    path.write_bytes(b"".join(out))
    return path


def make_rtp_pcap(
    path: str | Path,
    freq: float,
    seconds: float,
    pt: int = PT_PCMU,
    *,
    amplitude: float = 0.5,
    ssrc: int = 0x600D600D,
    seq0: int = 1000,
    ts0: int = 160_000,
    src: tuple[str, int] = ("10.0.0.1", 20000),
    dst: tuple[str, int] = ("10.0.0.2", 30000),
    start_time: float = 1_700_000_000.0,
) -> Path:
    """A pcap of an RTP G.711 tone stream: one packet of 160 samples every 20 ms.

    SIPp's ``play_pcap_audio`` replays only the UDP payloads with the pcap's timing, so the
    addresses in the file are placeholders; the RTP header (SSRC, sequence, timestamp) is
    sent as written.
    """
    samples = tone(freq, seconds, amplitude)
    encode = ulaw_encode if pt == PT_PCMU else alaw_encode
    frames: list[tuple[float, bytes]] = []
    for i in range(len(samples) // 160):
        rtp = struct.pack(
            "!BBHII",
            0x80,
            (0x80 if i == 0 else 0) | pt,
            (seq0 + i) & 0xFFFF,
            (ts0 + 160 * i) & 0xFFFFFFFF,
            ssrc,
        ) + encode(samples[160 * i : 160 * (i + 1)])
        frames.append((start_time + 0.02 * i, _udp_frame(src, dst, rtp, i)))
    return write_pcap(path, frames)


# --------------------------------------------------------------------------- analysis
def rms(samples: npt.ArrayLike) -> float:
    """Root mean square of a signal (0.0 for an empty one)."""
    x = np.asarray(samples, dtype=np.float64)
    if x.size == 0:
        return 0.0
    return float(np.sqrt(np.mean(x * x)))


def dominant_frequency(samples: npt.ArrayLike, rate: int = RATE) -> float:
    """Frequency (Hz) of the strongest spectral peak: Hann window, zero-padded FFT,
    parabolic interpolation of the peak bin. 0.0 for silence or fewer than 16 samples."""
    x = np.asarray(samples, dtype=np.float64)
    if x.size < 16 or not np.any(x):
        return 0.0
    x = x - x.mean()
    n_fft = 1 << max(int(np.ceil(np.log2(x.size))) + 1, 12)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size), n_fft))
    spectrum[0] = 0.0
    k = int(np.argmax(spectrum))
    if 0 < k < spectrum.size - 1:
        a, b, c = np.log(spectrum[k - 1 : k + 2] + 1e-12)
        denom = a - 2 * b + c
        if denom != 0:
            k_f = k + 0.5 * (a - c) / denom
            return float(k_f * rate / n_fft)
    return float(k * rate / n_fft)


@dataclass(frozen=True, slots=True, kw_only=True)
class Segment:
    """One analysis window: start time (s), dominant frequency (0.0 when quiet), RMS."""

    start: float
    freq: float
    rms: float


def tone_segments(
    samples: npt.ArrayLike, rate: int = RATE, window_s: float = 0.1, min_rms: float = 300.0
) -> list[Segment]:
    """Dominant frequency of each *window_s* window; windows quieter than *min_rms* get 0.0."""
    x = np.asarray(samples)
    n = max(int(rate * window_s), 16)
    out: list[Segment] = []
    for i in range(0, x.size - n + 1, n):
        w = x[i : i + n]
        level = rms(w)
        freq = dominant_frequency(w, rate) if level >= min_rms else 0.0
        out.append(Segment(start=i / rate, freq=freq, rms=level))
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class ToneRun:
    """Consecutive windows dominated by the same tone."""

    freq: float
    start: float
    duration: float


def tone_runs(
    segments: Sequence[Segment], tolerance_hz: float = 20.0, min_duration: float = 0.3
) -> list[ToneRun]:
    """Merge consecutive windows of the same frequency (within *tolerance_hz*) into runs,
    dropping quiet windows and runs shorter than *min_duration* (transitions, DTMF blips)."""
    runs: list[tuple[float, float, list[float]]] = []  # (start, end, freqs)
    for seg in segments:
        if seg.freq <= 0.0:
            continue
        win = (segments[1].start - segments[0].start) if len(segments) > 1 else 0.1
        if (
            runs
            and abs(np.median(runs[-1][2]) - seg.freq) <= tolerance_hz
            and (seg.start - runs[-1][1] < 1.5 * win)
        ):
            start, _, freqs = runs[-1]
            freqs.append(seg.freq)
            runs[-1] = (start, seg.start + win, freqs)
        else:
            runs.append((seg.start, seg.start + win, [seg.freq]))
    result: list[ToneRun] = []
    for start, end, freqs in runs:
        if end - start + 1e-9 < min_duration:
            continue
        f = float(np.median(freqs))
        if result and abs(result[-1].freq - f) <= tolerance_hz:
            prev = result[-1]  # same tone interrupted by a gap or a blip: one run
            result[-1] = ToneRun(freq=prev.freq, start=prev.start, duration=end - prev.start)
        else:
            result.append(ToneRun(freq=f, start=start, duration=end - start))
    return result


def tone_order(
    samples: npt.ArrayLike,
    candidates: Sequence[float],
    rate: int = RATE,
    tolerance_hz: float = 20.0,
    min_duration: float = 0.3,
    min_rms: float = 300.0,
) -> list[float]:
    """The order in which *candidates* tones were heard (each run mapped to the nearest
    candidate within *tolerance_hz*; tones that are not candidates are ignored)."""
    order: list[float] = []
    for run in tone_runs(tone_segments(samples, rate, min_rms=min_rms), tolerance_hz, min_duration):
        near = [c for c in candidates if abs(c - run.freq) <= tolerance_hz]
        if near and (not order or order[-1] != near[0]):
            order.append(near[0])
    return order


def describe(samples: npt.ArrayLike, rate: int = RATE) -> str:
    """A one-line summary for assertion messages: duration, RMS and the tone runs."""
    x = np.asarray(samples)
    runs = tone_runs(tone_segments(x, rate))
    text = ", ".join(f"{r.freq:.0f}Hz@{r.start:.1f}s+{r.duration:.1f}s" for r in runs)
    return f"{x.size / rate:.2f}s rms={rms(x):.0f} runs=[{text}]"


def has_tone(
    samples: npt.ArrayLike, freq: float, min_seconds: float, tolerance_hz: float = 15
) -> bool:
    """Whether *samples* (8 kHz) hold a run of the dominant tone *freq* (± *tolerance_hz*)
    at least *min_seconds* long."""
    runs = tone_runs(tone_segments(samples), tolerance_hz=tolerance_hz)
    return any(abs(r.freq - freq) <= tolerance_hz and r.duration >= min_seconds for r in runs)


def tones_present(
    samples: npt.ArrayLike, candidates: dict[str, float], width_hz: float = 20.0
) -> set[str]:
    """Which *candidates* (name: frequency) hold more than 5 % of the power of *samples*
    (8 kHz, Hann-windowed FFT, ± *width_hz* around each)."""
    x = np.asarray(samples).astype(np.float64)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size))) ** 2
    freqs = np.fft.rfftfreq(x.size, 1 / RATE)
    total = float(spectrum.sum())
    return {
        name
        for name, f in candidates.items()
        if float(spectrum[(freqs > f - width_hz) & (freqs < f + width_hz)].sum()) > 0.05 * total
    }


def tone_seconds(samples: npt.ArrayLike, freq: float, tolerance_hz: float = 15) -> float:
    """Total seconds in which *freq* (± *tolerance_hz*) is the dominant tone."""
    runs = tone_runs(tone_segments(samples), tolerance_hz=tolerance_hz)
    return sum(r.duration for r in runs if abs(r.freq - freq) <= tolerance_hz)


# ------------------------------------------------------------- finding a known recording


def system_prompt(name: str) -> Int16Array:
    """The samples of flowpbx's system prompt *name* (src/flowpbx/media/prompts, 8 kHz)."""
    samples, rate = soundfile.read(SYSTEM_PROMPTS / f"{name}.wav", dtype="int16")
    assert rate == RATE, rate
    return np.asarray(samples, dtype=np.int16)


def _ncc(signal: npt.ArrayLike, template: npt.ArrayLike, floor: float) -> npt.NDArray[np.float64]:
    """Normalised cross-correlation of *template* at every offset of *signal* (FFT), each
    window's variance (times the template's length) raised to at least *floor*. Empty when
    the template is longer than the signal or empty."""
    x = np.asarray(signal).astype(np.float64)
    t = np.asarray(template).astype(np.float64)
    t = t - float(np.mean(t)) if t.size else t
    m = len(t)
    if len(x) < m or m == 0:
        return np.zeros(0)
    size = 1 << int(np.ceil(np.log2(len(x) + m)))
    corr = np.fft.irfft(np.fft.rfft(x, size) * np.conj(np.fft.rfft(t, size)), size)
    corr = corr[: len(x) - m + 1]
    sq = np.concatenate([[0.0], np.cumsum(x * x)])
    s1 = np.concatenate([[0.0], np.cumsum(x)])
    var = (sq[m:] - sq[:-m]) - (s1[m:] - s1[:-m]) ** 2 / m
    norm = np.linalg.norm(t)
    if norm == 0:
        return np.zeros(0)
    return np.asarray(corr / (norm * np.sqrt(np.maximum(var, floor))), dtype=np.float64)


def find_audio(heard: Int16Array, needle: Int16Array, start: int = 0) -> tuple[float, int]:
    """Where *needle* (e.g. a prompt) best matches *heard[start:]*: (normalised
    cross-correlation, sample index in *heard*). A prompt that was played scores near 1.0
    even through G.711; a different word around 0.4. Windows quieter than speech do not
    match."""
    ncc = _ncc(heard[start:], needle, floor=len(needle) * 200.0**2)
    if ncc.size == 0:
        return 0.0, start
    best = int(np.argmax(ncc))
    return float(ncc[best]), start + best


def find_audio_all(signal: Int16Array, template: Int16Array, threshold: float = 0.6) -> list[int]:
    """Sample offsets where *template* occurs in *signal*: peaks of the normalised
    cross-correlation above *threshold* (1.0 = identical shape), at least a template's
    length apart. G.711 coding keeps a spoken prompt well above 0.9."""
    ncc = _ncc(signal, template, floor=1e-9)
    m = len(template)
    found: list[int] = []
    for i in np.argsort(ncc)[::-1]:
        if ncc[i] < threshold:
            break
        if all(abs(int(i) - j) >= m for j in found):
            found.append(int(i))
    return sorted(found)


def similarity(signal: Int16Array, template: Int16Array, at: int, slack: int = 320) -> float:
    """Best normalised correlation of *template* with *signal* near offset *at*."""
    lo = max(0, at - slack)
    piece = signal[lo : at + len(template) + slack].astype(np.float64)
    t = template.astype(np.float64) - template.mean()
    best = 0.0
    for k in range(0, max(1, len(piece) - len(t) + 1), 4):
        w = piece[k : k + len(t)]
        w = w - w.mean()
        denom = np.linalg.norm(w) * np.linalg.norm(t)
        if denom > 0:
            best = max(best, float(np.dot(w, t) / denom))
    return best

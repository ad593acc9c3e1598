"""DTMF: RFC 4733 telephone-events (receive and send) and in-band tone detection (Goertzel).

- `Rfc4733Receiver` turns the packets of telephone-event streams into one `DtmfEvent` per
  key press. By default it reports on the *first* packet of a new event (lowest latency for
  menus; `duration_ms` is then the duration known at that moment). With `report="end"` it
  reports when the event ends instead, with the full duration. Lost end packets are covered
  by `poll(now)`, which ends an event after `timeout` seconds without packets.
- `Rfc4733Sender` spells one digit as the payloads to send, one per 20 ms tick.
- `GoertzelDetector` finds DTMF tones in 8 kHz linear audio (for trunks that send neither
  RFC 4733 nor SIP INFO); it evaluates the eight DTMF frequencies with one small matrix
  product per block and accepts a digit only when two tones carry nearly all the energy.

All of it is sans-I/O: callers pass packets, samples and `now`.

Exceptions::

    ValueError
      └── InvalidDigitError   a digit outside 0-9 * # A-D given to the sender or tones
"""

from __future__ import annotations

import struct
from collections import deque
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
import numpy.typing as npt

from flowpbx.media.rtp import RtpHeader

__all__ = [
    "DIGITS",
    "DTMF_FREQS",
    "DtmfEvent",
    "GoertzelDetector",
    "InvalidDigitError",
    "Rfc4733Receiver",
    "Rfc4733Sender",
    "decode_event_payload",
    "encode_event_payload",
]

# RFC 4733 §3.2: event codes 0-15 are the DTMF digits.
DIGITS: Final = "0123456789*#ABCD"
_CODE_OF: Final = {d: i for i, d in enumerate(DIGITS)}

# ITU-T Q.23 frequency pairs (low group = rows, high group = columns).
ROW_FREQS: Final = (697.0, 770.0, 852.0, 941.0)
COL_FREQS: Final = (1209.0, 1336.0, 1477.0, 1633.0)
_KEYPAD: Final = ("123A", "456B", "789C", "*0#D")
DTMF_FREQS: Final[dict[str, tuple[float, float]]] = {
    _KEYPAD[r][c]: (ROW_FREQS[r], COL_FREQS[c]) for r in range(4) for c in range(4)
}

_EVENT: Final = struct.Struct("!BBH")  # RFC 4733 §2.3: event, E|R|volume, duration

Source = Literal["rfc4733", "inband", "info"]


class InvalidDigitError(ValueError):
    """Not a DTMF digit (0-9, *, #, A-D)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DtmfEvent:
    """One key press, however it arrived (RFC 4733 event, in-band tones, SIP INFO)."""

    digit: str
    duration_ms: int
    source: Source


def _check_digit(digit: str) -> int:
    code = _CODE_OF.get(digit.upper()) if len(digit) == 1 else None
    if code is None:
        raise InvalidDigitError(f"not a DTMF digit: {digit!r}")
    return code


def encode_event_payload(*, event: int, end: bool, volume: int, duration: int) -> bytes:
    """One RFC 4733 §2.3 payload (4 octets); volume in -dBm0 (0-63), duration in samples."""
    return _EVENT.pack(event & 0xFF, (0x80 if end else 0) | (volume & 0x3F), duration & 0xFFFF)


def decode_event_payload(payload: bytes) -> tuple[int, bool, int, int] | None:
    """(event, end, volume, duration) of an RFC 4733 payload, None if shorter than 4 octets."""
    if len(payload) < 4:
        return None
    event, flags, duration = _EVENT.unpack_from(payload)
    return event, bool(flags & 0x80), flags & 0x3F, duration


class _Current:
    """The event being received (mutable, one per receiver)."""

    __slots__ = ("base", "digit", "last_seen", "reported", "seg", "ssrc", "timestamp")

    def __init__(self, *, ssrc: int, timestamp: int, digit: str, now: float) -> None:
        self.ssrc = ssrc
        self.timestamp = timestamp  # of the current segment
        self.digit = digit
        self.base = 0  # samples of the previous segments of a long event
        self.seg = 0  # duration field of the current segment
        self.last_seen = now
        self.reported = False


class Rfc4733Receiver:
    """RFC 4733 telephone-event receiver: one `DtmfEvent` per key press.

    An event is keyed by (SSRC, RTP timestamp) (RFC 4733 §2.5.2.1): the start packet, the
    updates and the (usually three) end packets share the event's timestamp, so repeated or
    reordered packets of an event never produce a second press, while the same digit pressed
    again has a new timestamp. Long events split into segments (RFC 4733 §2.5.1.3, a new
    timestamp without marker that continues the previous segment) stay one press.

    `report="start"` (default) returns the event from the first packet seen of it;
    `report="end"` returns it from the end packet (or `poll` after a timeout) with the total
    duration. Events 16 and above (flash, tones) are ignored.
    """

    __slots__ = ("_clock_ms", "_current", "_done", "_pending", "report", "timeout")

    def __init__(
        self,
        *,
        report: Literal["start", "end"] = "start",
        timeout: float = 0.5,
        clock_rate: int = 8000,
    ) -> None:
        self.report = report
        self.timeout = timeout
        self._clock_ms = clock_rate / 1000.0
        self._current: _Current | None = None
        self._done: deque[tuple[int, int]] = deque(maxlen=8)  # finished (ssrc, timestamp)
        self._pending: deque[DtmfEvent] = deque()

    def _event(self, cur: _Current) -> DtmfEvent:
        return DtmfEvent(
            digit=cur.digit,
            duration_ms=round((cur.base + cur.seg) / self._clock_ms),
            source="rfc4733",
        )

    def feed(self, header: RtpHeader, payload: bytes, now: float) -> DtmfEvent | None:
        """Account for one telephone-event packet; the key press it reveals, if any."""
        fields = decode_event_payload(payload)
        if fields is None:
            return None
        code, end, _volume, duration = fields
        if code >= 16:
            return None
        key = (header.ssrc, header.timestamp)
        if key in self._done:
            return None  # a retransmitted end packet or a late update
        digit = DIGITS[code]
        cur = self._current
        if cur is not None and (cur.ssrc != header.ssrc or cur.timestamp != header.timestamp):
            if (
                not header.marker
                and cur.ssrc == header.ssrc
                and cur.digit == digit
                and header.timestamp == (cur.timestamp + cur.seg) & 0xFFFFFFFF
            ):
                # RFC 4733 §2.5.1.3: the next segment of a long event is the same press.
                self._done.append((cur.ssrc, cur.timestamp))
                cur.timestamp = header.timestamp
                cur.base += cur.seg
                cur.seg = 0
            else:
                self._queue(self._finish())  # the previous event lost its end packets
                cur = None
        if cur is None:
            cur = _Current(ssrc=header.ssrc, timestamp=header.timestamp, digit=digit, now=now)
            self._current = cur
        cur.last_seen = now
        if duration > cur.seg:
            cur.seg = duration
        if self.report == "start" and not cur.reported:
            cur.reported = True
            self._queue(self._event(cur))
        if end:
            self._queue(self._finish())
        return self._pending.popleft() if self._pending else None

    def _queue(self, event: DtmfEvent | None) -> None:
        if event is not None:
            self._pending.append(event)

    def _finish(self) -> DtmfEvent | None:
        cur = self._current
        if cur is None:
            return None
        self._current = None
        self._done.append((cur.ssrc, cur.timestamp))
        if cur.reported:
            return None
        cur.reported = True
        return self._event(cur)

    def poll(self, now: float) -> DtmfEvent | None:
        """End an event whose end packets were lost (returned in `report="end"` mode).

        Also hands out any further press that one packet revealed (rare: a press that both
        began and ended while an earlier one was still open); call until it returns None.
        """
        if self._pending:
            return self._pending.popleft()
        cur = self._current
        if cur is not None and now - cur.last_seen >= self.timeout:
            return self._finish()
        return None

    def next_deadline(self) -> float | None:
        """When `poll` should next be called; None when nothing is open or pending."""
        if self._pending:
            return float("-inf")
        cur = self._current
        return None if cur is None else cur.last_seen + self.timeout

    @property
    def active_digit(self) -> str | None:
        """The digit currently held down, if any."""
        return None if self._current is None else self._current.digit


class Rfc4733Sender:
    """Spells a digit as RFC 4733 payloads, one per packet interval (RFC 4733 §2.5.1).

    `packets` returns `(payload, marker, duration)` tuples; the runtime sends one per 20 ms
    tick with `RtpSender.event_packet`, holding the RTP timestamp it read when the event
    began. The first packet carries the marker bit (§2.5.1.2); updates carry the growing
    duration; the final packet has the E bit and is sent `end_repeats` times (§2.5.1.4).
    Durations are in timestamp units and capped at 0xFFFF (one segment, ~8 s).
    """

    __slots__ = ("clock_rate", "end_repeats", "ptime_ms")

    def __init__(self, *, clock_rate: int = 8000, ptime_ms: int = 20, end_repeats: int = 3):
        self.clock_rate = clock_rate
        self.ptime_ms = ptime_ms
        self.end_repeats = end_repeats

    def packets(
        self, digit: str, *, duration_ms: int = 160, volume: int = 10
    ) -> list[tuple[bytes, bool, int]]:
        """The payloads for one key press of `duration_ms` at `volume` (-dBm0)."""
        code = _check_digit(digit)
        step = self.clock_rate * self.ptime_ms // 1000
        ticks = max(1, -(-duration_ms // self.ptime_ms))
        out: list[tuple[bytes, bool, int]] = []
        for k in range(1, ticks):
            dur = min(k * step, 0xFFFF)
            out.append(
                (
                    encode_event_payload(event=code, end=False, volume=volume, duration=dur),
                    k == 1,
                    dur,
                )
            )
        total = min(ticks * step, 0xFFFF)
        end = encode_event_payload(event=code, end=True, volume=volume, duration=total)
        for i in range(self.end_repeats):
            out.append((end, ticks == 1 and i == 0, total))
        return out


Samples = npt.NDArray[np.int16]
_DETUNE: Final = 0.012
_KEY_POS: Final = {_KEYPAD[r][c]: (r, 4 + c) for r in range(4) for c in range(4)}


class GoertzelDetector:
    """In-band DTMF detector for 8 kHz 16-bit linear audio (ITU-T Q.23/Q.24 tones).

    The audio is cut into 20 ms windows every 10 ms; for each window the power at the eight
    DTMF frequencies is computed at once (a Goertzel / single-bin DFT per frequency, done as
    one complex matrix product). A window is a hit for a digit when:

    - the strongest row and column tones each exceed `min_amplitude` (about -35 dBm0),
    - twist is within limits: the high group at most `normal_twist_db` (8 dB) above the
      low group, the low group at most `reverse_twist_db` (4 dB) above the high group,
    - each is at least `relative_peak_db` above the other tones of its group,
    - the two tones carry at least `min_tone_fraction` of the window's power, which is what
      keeps speech, music and noise from triggering.

    Two consecutive hits of the same digit (about 30 ms of tone) start a press. Two windows
    in which its tones are gone (a 40 ms inter-digit pause) end it; windows in which they
    are still there but not clean (a break of a few ms, speech right after the tone) end
    it only after four. One `DtmfEvent` per press, reported at the start (default,
    `duration_ms` so far) or with `report="end"` at the end.
    """

    RATE: Final = 8000
    WINDOW: Final = 160
    HOP: Final = 80

    def __init__(
        self,
        *,
        report: Literal["start", "end"] = "start",
        min_amplitude: float = 400.0,
        normal_twist_db: float = 8.0,
        reverse_twist_db: float = 4.0,
        relative_peak_db: float = 6.0,
        min_tone_fraction: float = 0.8,
        min_hits: int = 2,
        max_misses: int = 2,
    ) -> None:
        self.report = report
        self._min_power = min_amplitude * min_amplitude / 2.0
        self._normal_twist = 10.0 ** (normal_twist_db / 10.0)
        self._reverse_twist = 10.0 ** (reverse_twist_db / 10.0)
        self._relative_peak = 10.0 ** (relative_peak_db / 10.0)
        self._min_fraction = min_tone_fraction
        self._min_hits = min_hits
        self._max_misses = max_misses
        n = np.arange(self.WINDOW, dtype=np.float64)
        # Each DTMF frequency is probed at its nominal value and +-1.2 %, and the strongest
        # probe counts: a 20 ms window resolves 50 Hz, and Q.24 wants tones off by up to
        # 1.5 % accepted at full strength (and off by 3.5 % rejected, which the tone
        # fraction test still does).
        freqs = np.array(ROW_FREQS + COL_FREQS, dtype=np.float64)
        probes = np.outer(freqs, np.array([1.0 - _DETUNE, 1.0, 1.0 + _DETUNE])).ravel()
        # (160, 48) real basis, cosines then sines: window @ basis is the DFT at each probe.
        angle = 2.0 * np.pi * np.outer(n, probes) / self.RATE
        self._basis = np.concatenate((np.cos(angle), np.sin(angle)), axis=1)
        self._scale = 2.0 / (self.WINDOW * self.WINDOW)  # |X|^2 -> sinusoid power A^2/2
        self._buf = np.zeros(0, dtype=np.float64)
        self.reset()

    def reset(self) -> None:
        """Forget any tone in progress and buffered audio."""
        self._buf = np.zeros(0, dtype=np.float64)
        self._cand: str | None = None
        self._cand_hits = 0
        self._active: str | None = None
        self._hits = 0
        self._misses = 0
        self._disturbed = 0
        self._ref_power = (0.0, 0.0)

    def _classify(
        self, windows: npt.NDArray[np.float64]
    ) -> tuple[list[str | None], npt.NDArray[np.float64]]:
        """Per window: the digit it is a hit for (or None), and the 8 tone powers."""
        m = windows.shape[0]
        spectrum = windows @ self._basis  # (m, 48): real parts, then imaginary parts
        sq = spectrum * spectrum
        probe_power = (sq[:, :24] + sq[:, 24:]) * self._scale
        power = probe_power.reshape(m, 8, 3).max(axis=2)
        totals = np.einsum("ij,ij->i", windows, windows).tolist()
        out: list[str | None] = []
        min_power = self._min_power
        for i, p in enumerate(power.tolist()):
            rows = p[:4]
            cols = p[4:]
            pr = max(rows)
            pc = max(cols)
            if (
                pr < min_power
                or pc < min_power
                or pc > pr * self._normal_twist  # high group at most 8 dB above low
                or pr > pc * self._reverse_twist  # low group at most 4 dB above high
                or pr + pc < self._min_fraction * totals[i] / self.WINDOW
            ):
                out.append(None)
                continue
            r = rows.index(pr)
            c = cols.index(pc)
            if any(v * self._relative_peak > pr for j, v in enumerate(rows) if j != r) or any(
                v * self._relative_peak > pc for j, v in enumerate(cols) if j != c
            ):
                out.append(None)
                continue
            out.append(_KEYPAD[r][c])
        return out, power

    def _duration_ms(self) -> int:
        hop_ms = 1000 * self.HOP // self.RATE
        return self._hits * hop_ms + (self.WINDOW - self.HOP) * 1000 // self.RATE

    def feed(self, samples: npt.ArrayLike) -> list[DtmfEvent]:
        """Analyse more audio (any length); the key presses it completes or starts."""
        new = np.asarray(samples, dtype=np.float64).ravel()
        buf = np.concatenate((self._buf, new)) if self._buf.size else new
        if buf.size < self.WINDOW:
            self._buf = buf.copy()
            return []
        count = (buf.size - self.WINDOW) // self.HOP + 1
        step = buf.strides[0]
        windows = np.lib.stride_tricks.as_strided(
            buf, shape=(count, self.WINDOW), strides=(self.HOP * step, step), writeable=False
        )
        results, power = self._classify(windows)
        self._buf = buf[count * self.HOP :].copy()
        events: list[DtmfEvent] = []
        for i, digit in enumerate(results):
            self._step(digit, power[i], events)
        return events

    def _absent(self, power: npt.NDArray[np.float64] | None) -> bool:
        """Whether the active digit's tones have gone (vs. merely disturbed) in a window."""
        if power is None or self._active is None:
            return True
        r, c = _KEY_POS[self._active]
        pr, pc = float(power[r]), float(power[c])
        return (
            pr < self._min_power
            or pc < self._min_power
            or pr < 0.1 * self._ref_power[0]
            or pc < 0.1 * self._ref_power[1]
        )

    def _step(
        self,
        digit: str | None,
        power: npt.NDArray[np.float64] | None,
        events: list[DtmfEvent],
    ) -> None:
        if self._active is not None:
            if digit == self._active:
                self._hits += 1
                self._misses = 0
                self._disturbed = 0
                return
            # A press ends after `max_misses` windows without its tones (a pause), or after
            # twice as many windows where they are present but not clean (a short break in
            # the tone, or speech starting right after it), ITU-T Q.24's 10 ms interruption.
            if self._absent(power):
                self._misses += 1
            else:
                self._disturbed += 1
            if self._misses < self._max_misses and (
                self._misses + self._disturbed < 2 * self._max_misses
            ):
                return
            if self.report == "end":
                events.append(
                    DtmfEvent(digit=self._active, duration_ms=self._duration_ms(), source="inband")
                )
            self._active = None
            self._cand = None
            self._cand_hits = 0
            return
        if digit is None:
            self._cand = None
            self._cand_hits = 0
            return
        if digit == self._cand:
            self._cand_hits += 1
        else:
            self._cand = digit
            self._cand_hits = 1
        if self._cand_hits >= self._min_hits:
            self._active = digit
            self._hits = self._cand_hits
            self._misses = 0
            self._disturbed = 0
            if power is not None:
                r, c = _KEY_POS[digit]
                self._ref_power = (float(power[r]), float(power[c]))
            if self.report == "start":
                events.append(
                    DtmfEvent(digit=digit, duration_ms=self._duration_ms(), source="inband")
                )

    def flush(self) -> list[DtmfEvent]:
        """End of audio: close a press still in progress (reported in `report="end"` mode)."""
        events: list[DtmfEvent] = []
        for _ in range(self._max_misses):
            self._step(None, None, events)
        self._buf = np.zeros(0, dtype=np.float64)
        return events

"""Call-progress and signalling tones as 8 kHz 16-bit samples.

- `tone(freqs, duration_s)`: a steady sum of sines; `dtmf_tone`, `beep`.
- `TonePattern`: frequencies plus an on/off cadence (ITU-T E.180 style), e.g. `ringback("eu")`
  (425 Hz, 1 s on, 4 s off) or `ringback("us")` (440+480 Hz, 2 s on, 4 s off), `busy(...)`.
- `ToneGenerator(pattern).next_frame()`: the next 160-sample (20 ms) frame of a pattern,
  continuous across frames. One cadence cycle is rendered once up front, so a frame is a
  slice, not a computation, on the media clock.

On/off edges get a 4 ms raised-cosine ramp so cadences do not click.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
import numpy.typing as npt

from flowpbx.media.dtmf import DTMF_FREQS, InvalidDigitError

__all__ = [
    "BEEP",
    "ToneGenerator",
    "TonePattern",
    "beep",
    "busy",
    "dtmf_tone",
    "ringback",
    "tone",
]

Samples = npt.NDArray[np.int16]
_FULL_SCALE: Final = 32767.0
_RAMP_S: Final = 0.004


def _render(
    freqs: Sequence[float], n: int, amplitude: float, rate: int, *, ramp: bool
) -> npt.NDArray[np.float64]:
    if n <= 0:
        return np.zeros(0, dtype=np.float64)
    t = np.arange(n, dtype=np.float64) / rate
    out = np.zeros(n, dtype=np.float64)
    if freqs:
        each = amplitude * _FULL_SCALE / len(freqs)
        for f in freqs:
            out += each * np.sin(2.0 * np.pi * f * t)
    if ramp:
        r = min(int(_RAMP_S * rate), n // 2)
        if r > 0:
            edge = 0.5 - 0.5 * np.cos(np.pi * np.arange(r, dtype=np.float64) / r)
            out[:r] *= edge
            out[n - r :] *= edge[::-1]
    return out


def _to_int16(x: npt.NDArray[np.float64]) -> Samples:
    return np.clip(np.rint(x), -32768, 32767).astype(np.int16)


def tone(
    freqs: Sequence[float], duration_s: float, *, amplitude: float = 0.3, rate: int = 8000
) -> Samples:
    """A steady tone: the sum of sines at `freqs`, peak `amplitude` of full scale in total.

    Each of the k frequencies gets amplitude/k, so the peak never exceeds `amplitude`.
    """
    n = round(duration_s * rate)
    return _to_int16(_render(freqs, n, amplitude, rate, ramp=False))


def dtmf_tone(
    digit: str, duration_s: float = 0.1, *, amplitude: float = 0.5, rate: int = 8000
) -> Samples:
    """The ITU-T Q.23 tone pair of a DTMF digit (0-9, *, #, A-D), equal levels."""
    pair = DTMF_FREQS.get(digit.upper())
    if pair is None:
        raise InvalidDigitError(f"not a DTMF digit: {digit!r}")
    return tone(pair, duration_s, amplitude=amplitude, rate=rate)


def beep(
    duration_s: float = 0.25, *, freq: float = 1000.0, amplitude: float = 0.3, rate: int = 8000
) -> Samples:
    """The recording beep: 1 kHz for 0.25 s (with soft edges)."""
    n = round(duration_s * rate)
    return _to_int16(_render((freq,), n, amplitude, rate, ramp=True))


@dataclass(frozen=True, slots=True, kw_only=True)
class TonePattern:
    """Frequencies and an on/off cadence.

    `cadence` is a sequence of (on_s, off_s) pairs played in order; an empty cadence is a
    continuous tone. With `repeat` the cadence loops forever, otherwise silence follows.
    """

    freqs: tuple[float, ...]
    cadence: tuple[tuple[float, float], ...] = ()
    amplitude: float = 0.3
    repeat: bool = True

    def render(self, rate: int = 8000) -> Samples:
        """One cycle of the cadence (one second of tone for a continuous pattern)."""
        if not self.cadence:
            seconds = 1.0
            n = round(seconds * rate)
            return _to_int16(_render(self.freqs, n, self.amplitude, rate, ramp=False))
        parts: list[npt.NDArray[np.float64]] = []
        for on_s, off_s in self.cadence:
            parts.append(_render(self.freqs, round(on_s * rate), self.amplitude, rate, ramp=True))
            parts.append(np.zeros(round(off_s * rate), dtype=np.float64))
        return _to_int16(np.concatenate(parts))


Style = Literal["eu", "us", "uk"]

_RINGBACK: Final[dict[str, TonePattern]] = {
    "eu": TonePattern(freqs=(425.0,), cadence=((1.0, 4.0),)),  # ITU-T E.180 / CEPT
    "us": TonePattern(freqs=(440.0, 480.0), cadence=((2.0, 4.0),)),  # North America
    "uk": TonePattern(freqs=(400.0, 450.0), cadence=((0.4, 0.2), (0.4, 2.0))),
}
_BUSY: Final[dict[str, TonePattern]] = {
    "eu": TonePattern(freqs=(425.0,), cadence=((0.5, 0.5),)),
    "us": TonePattern(freqs=(480.0, 620.0), cadence=((0.5, 0.5),)),
    "uk": TonePattern(freqs=(400.0,), cadence=((0.375, 0.375),)),
}
BEEP: Final = TonePattern(freqs=(1000.0,), cadence=((0.25, 0.0),), repeat=False)


def ringback(style: Style = "eu") -> TonePattern:
    """Ringback tone: "eu" 425 Hz 1 s on / 4 s off, "us" 440+480 Hz 2 s / 4 s, "uk"."""
    return _RINGBACK[style]


def busy(style: Style = "eu") -> TonePattern:
    """Busy tone: "eu" 425 Hz 0.5 s / 0.5 s, "us" 480+620 Hz 0.5 s / 0.5 s, "uk"."""
    return _BUSY[style]


class ToneGenerator:
    """Plays a `TonePattern` frame by frame: `next_frame()` -> 160 int16 samples."""

    __slots__ = ("_cycle", "_pos", "frame_size", "pattern", "rate")

    def __init__(self, pattern: TonePattern, *, rate: int = 8000, frame_size: int = 160) -> None:
        self.pattern = pattern
        self.rate = rate
        self.frame_size = frame_size
        cycle = pattern.render(rate)
        if pattern.repeat and cycle.size % frame_size:
            # Pad the silent tail so that a cycle is a whole number of frames: the wrap-around
            # is then always a plain slice (at most 19 ms longer than the nominal cadence).
            pad = frame_size - cycle.size % frame_size
            cycle = np.concatenate((cycle, np.zeros(pad, dtype=np.int16)))
        cycle.flags.writeable = False
        self._cycle = cycle
        self._pos = 0

    @property
    def done(self) -> bool:
        """True once a non-repeating pattern has been played out."""
        return not self.pattern.repeat and self._pos >= self._cycle.size

    def next_frame(self) -> Samples:
        """The next frame (a read-only view, or silence after a non-repeating pattern)."""
        size = self.frame_size
        pos = self._pos
        cycle = self._cycle
        if pos + size <= cycle.size:
            self._pos = pos + size
            frame = cycle[pos : pos + size]
            if self.pattern.repeat and self._pos == cycle.size:
                self._pos = 0
            return frame
        if not self.pattern.repeat:
            out = np.zeros(size, dtype=np.int16)
            if pos < cycle.size:
                out[: cycle.size - pos] = cycle[pos:]
            self._pos = cycle.size
            return out
        self._pos = 0  # unreachable with padded cycles, kept for safety
        return cycle[:size]

    def reset(self) -> None:
        """Start the cadence again from its beginning."""
        self._pos = 0

"""Recording: frames of a call leg or a whole bridge to a WAV file, written atomically.

    result = await record(endpoint_or_bridge, path, max_s=180, silence_s=10, stop_digits="#")

- A `Bridge` is recorded as a tap that hears every participant (the whole conversation).
- An `RtpEndpoint` is recorded as what that leg says: when it is already in a bridge, a tap
  on that bridge hearing only it; otherwise a private bridge that consumes its audio and
  sends nothing back (a prompt or beep may still play to it at the same time).

It stops at `max_s`, after `silence_s` seconds of continuous silence (voicemail: the caller
stopped talking), on one of `stop_digits` (RFC 4733 digits of the endpoint are seen here;
the caller forwards others with `Recording.digit`), when `stop()` is called, or when the
`until` future resolves (the caller hung up). Trailing silence is trimmed (a short tail is
kept). The file is written in a worker thread with `media.audiofile.write_wav_atomic`:
temporary file, fsync, rename — a reader never sees half a recording. Nothing is written
when no audio was recorded at all (`RecordResult.path` is None).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from flowpbx.media.audiofile import write_wav_atomic
from flowpbx.media.mixer import FRAME
from flowpbx.pbx.rtp.bridge import Bridge
from flowpbx.pbx.rtp.clock import MediaClock
from flowpbx.pbx.rtp.endpoint import RtpEndpoint

Frame = npt.NDArray[np.int16]
StopReason = Literal["silence", "max_length", "digit", "stopped", "hangup"]

SILENCE_RMS = 120.0  # about -49 dBFS: line noise and comfort noise count as silence
TAIL_KEEP_S = 0.3
_TICK_S = FRAME / 8000
_ids = itertools.count(1)


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordResult:
    """What a recording produced."""

    path: Path | None  # None when nothing was recorded
    duration_s: float  # length of the file written
    voiced_s: float  # how much of it was above the silence level
    reason: StopReason
    digit: str | None = None


class Recording:
    """One recording in progress: fed one frame per tick, decides when to stop."""

    def __init__(self, *, max_s: float, silence_s: float | None) -> None:
        self.max_frames = max(1, round(max_s / _TICK_S))
        self.silence_frames = None if silence_s is None else max(1, round(silence_s / _TICK_S))
        self.frames: list[Frame] = []
        self.voiced = 0
        self._quiet_run = 0
        self._last_voiced = 0  # number of frames up to and including the last voiced one
        loop = asyncio.get_running_loop()
        self.finished: asyncio.Future[tuple[StopReason, str | None]] = loop.create_future()

    def feed(self, frame: Frame) -> None:
        if self.finished.done():
            return
        self.frames.append(frame.copy())
        level = float(np.sqrt(np.mean(frame.astype(np.float32) ** 2)))
        if level >= SILENCE_RMS:
            self.voiced += 1
            self._quiet_run = 0
            self._last_voiced = len(self.frames)
        else:
            self._quiet_run += 1
        if self.silence_frames is not None and self._quiet_run >= self.silence_frames:
            self._finish("silence")
        elif len(self.frames) >= self.max_frames:
            self._finish("max_length")

    def digit(self, digit: str, stop_digits: str) -> None:
        if digit in stop_digits:
            self._finish("digit", digit)

    def stop(self, reason: StopReason = "stopped") -> None:
        self._finish(reason)

    def _finish(self, reason: StopReason, digit: str | None = None) -> None:
        if not self.finished.done():
            self.finished.set_result((reason, digit))

    def samples(self, *, trim: bool) -> Frame:
        frames = self.frames
        if trim:
            keep = min(len(frames), self._last_voiced + round(TAIL_KEEP_S / _TICK_S))
            frames = frames[:keep]
        if not frames:
            return np.zeros(0, dtype=np.int16)
        return np.concatenate(frames)


async def record(
    target: RtpEndpoint | Bridge,
    path: Path | str,
    *,
    max_s: float,
    silence_s: float | None = None,
    stop_digits: str = "",
    until: asyncio.Future[Any] | None = None,
    clock: MediaClock | None = None,
    on_start: Callable[[Recording], None] | None = None,
) -> RecordResult:
    """Record `target` to `path` (see the module docstring). `clock` is needed only for an
    endpoint that is not in a bridge. `on_start` gets the `Recording` (to forward digits or
    stop it early)."""
    rec = Recording(max_s=max_s, silence_s=silence_s)
    key = f"recorder:{next(_ids)}"
    private: Bridge | None = None
    endpoint: RtpEndpoint | None = None
    bridge: Bridge
    if isinstance(target, Bridge):
        bridge = target
        bridge.add_tap(key, rec.feed)
    else:
        endpoint = target
        owner = _bridge_of(endpoint)
        if owner is not None:
            bridge, ep_key = owner
            bridge.add_tap(key, rec.feed, hears=[ep_key])
        else:
            if clock is None:
                raise ValueError("recording a leg outside any bridge needs the media clock")
            private = bridge = Bridge(clock, name=key)
            bridge.add_endpoint("leg", endpoint, send=False)
            bridge.add_tap(key, rec.feed, hears=["leg"])
    previous_on_digit: Callable[[str], None] | None = None
    if endpoint is not None and stop_digits:
        previous_on_digit = endpoint.on_digit

        def on_digit(digit: str) -> None:
            if previous_on_digit is not None:
                previous_on_digit(digit)
            rec.digit(digit, stop_digits)

        endpoint.on_digit = on_digit
    if on_start is not None:
        on_start(rec)
    waiters: list[asyncio.Future[Any]] = [rec.finished, bridge.ended]
    if until is not None:
        waiters.append(until)
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if private is not None:
            private.close()
        else:
            bridge.remove(key)
        if endpoint is not None and stop_digits and not endpoint.closed:
            endpoint.on_digit = previous_on_digit
    if rec.finished.done():
        reason, digit = rec.finished.result()
    else:
        reason, digit = "hangup", None
        rec.stop("hangup")
    samples = rec.samples(trim=reason == "silence")
    out: Path | None = None
    if samples.size:
        out = Path(path)
        await asyncio.to_thread(write_wav_atomic, out, samples)
    return RecordResult(
        path=out,
        duration_s=samples.size / 8000,
        voiced_s=rec.voiced * _TICK_S,
        reason=reason,
        digit=digit,
    )


def _bridge_of(endpoint: RtpEndpoint) -> tuple[Bridge, Hashable] | None:
    bridge = endpoint.bridge
    if not isinstance(bridge, Bridge) or bridge.closed:
        return None
    for key in bridge.mixer.keys:
        if bridge.endpoint(key) is endpoint:
            return bridge, key
    return None

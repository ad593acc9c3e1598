"""What a waiting queue caller hears (pbx/features/queues.py `HoldAudio`), on the real media clock:
the position announcement at once, hold audio for `announce_position_s`, the announcement
again with the current position, and silence the moment the caller is taken out."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from flowpbx.pbx.features.queues import HoldAudio, LiveQueue
from flowpbx.pbx.rtp.clock import MediaClock
from flowpbx.pbx.rtp.library import AudioLibrary
from tests.audio_analysis import make_tone_wav


class _Endpoint:
    """Collects what a player sends (the RTP endpoint's part a Player uses)."""

    def __init__(self) -> None:
        self.closed = False
        self.codec = SimpleNamespace(name="PCMU")
        self.sent: list[bytes] = []

    def send_payload(self, payload: bytes, marker: bool = False) -> None:
        self.sent.append(payload)


class _Events:
    def __init__(self) -> None:
        self.emitted: list[tuple[str, dict[str, Any]]] = []

    def emit(self, kind: str, **data: Any) -> None:
        self.emitted.append((kind, data))


def _library(tmp_path: Path) -> AudioLibrary:
    """Short distinct tones standing in for the prompts (the library overrides by name)."""
    paths = {}
    for name, hz in (("queue-position", 700), ("number-1", 1100), ("number-2", 1300)):
        paths[name] = make_tone_wav(tmp_path / f"{name}.wav", hz, 0.06)
    return AudioLibrary(paths)


async def _until(condition: Any, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


async def test_position_is_announced_then_hold_audio_then_again(tmp_path: Path) -> None:
    library = _library(tmp_path)
    clock = MediaClock()
    events = _Events()
    rt = SimpleNamespace(clock=clock, audio=library, events=events)
    manager = SimpleNamespace(rt=rt)
    ahead = SimpleNamespace(call_id="ahead")
    endpoint = _Endpoint()
    call = SimpleNamespace(call_id="me", leg=SimpleNamespace(rtp=endpoint))
    q = LiveQueue("sales", waiting=[ahead, call])  # type: ignore[list-item]
    hold_frames = [b"\x01" * 160]
    intro = await library.frames("queue-position", "PCMU")
    two = await library.frames("number-2", "PCMU")
    one = await library.frames("number-1", "PCMU")
    try:
        hold = HoldAudio(manager, call, q, hold_frames, 0.5)  # type: ignore[arg-type]
        await _until(lambda: len(endpoint.sent) >= len(intro) + len(two) + 2)
        # the caller ahead is answered: now first in line
        q.waiting.remove(ahead)  # type: ignore[arg-type]
        again = [*intro, *one, hold_frames[0]]  # the new position, then hold audio again
        await _until(
            lambda: any(
                endpoint.sent[i : i + len(again)] == again for i in range(len(endpoint.sent))
            )
        )
        hold.stop()
        sent_at_stop = len(endpoint.sent)
        await asyncio.sleep(0.1)
        assert len(endpoint.sent) == sent_at_stop, "nothing is sent after stop()"
    finally:
        clock.close()
    sent = endpoint.sent
    first = intro + two
    assert sent[: len(first)] == first
    rest = sent[len(first) :]
    holds = 0
    while rest and rest[0] == hold_frames[0]:
        rest, holds = rest[1:], holds + 1
    assert holds >= 1  # hold audio between the announcements
    # the next announcement: the new position (or, on a slow machine that reached it
    # before the caller ahead left, the old one once more; the new one is checked above)
    assert rest[: len(intro) + len(one)] in (intro + one, intro + two)
    positions = [d["position"] for k, d in events.emitted if k == "queue.position"]
    assert positions[0] == 2 and 1 in positions
    assert positions == sorted(positions, reverse=True)  # the position only improves


async def test_without_announcements_only_hold_audio_is_played(tmp_path: Path) -> None:
    clock = MediaClock()
    rt = SimpleNamespace(clock=clock, audio=_library(tmp_path), events=_Events())
    endpoint = _Endpoint()
    call = SimpleNamespace(call_id="me", leg=SimpleNamespace(rtp=endpoint))
    q = LiveQueue("sales", waiting=[call])  # type: ignore[list-item]
    try:
        hold = HoldAudio(SimpleNamespace(rt=rt), call, q, [b"\x02" * 160], 0)  # type: ignore[arg-type]
        await _until(lambda: len(endpoint.sent) >= 10)
        hold.stop()
    finally:
        clock.close()
    assert set(endpoint.sent) == {b"\x02" * 160}
    assert rt.events.emitted == []

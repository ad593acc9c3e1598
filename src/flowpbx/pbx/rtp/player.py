"""Everything a caller hears from flowpbx itself (prompts, ringback, hold audio): a `Player`
sends pre-encoded 20 ms frames to one endpoint, one per tick of the media clock."""

from __future__ import annotations

import asyncio

import numpy as np

from flowpbx.media.g711 import get_codec
from flowpbx.media.tones import tone
from flowpbx.pbx.rtp.endpoint import RtpEndpoint

FRAME = 160


class Player:
    """Sends pre-encoded 20 ms frames to one endpoint, one per clock tick."""

    __slots__ = ("_frames", "_index", "_loops", "done", "endpoint", "first")

    def __init__(self, endpoint: RtpEndpoint, frames: list[bytes], loops: int) -> None:
        self.endpoint = endpoint
        self._frames = frames
        self._index = 0
        self._loops = loops  # 0 = forever
        self.first = True
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def tick(self) -> bool:
        """Send the next frame; False when finished."""
        if self.endpoint.closed or not self._frames:
            return False
        self.endpoint.send_payload(self._frames[self._index], self.first)
        self.first = False
        self._index += 1
        if self._index == len(self._frames):
            self._index = 0
            if self._loops:
                self._loops -= 1
                if self._loops == 0:
                    return False
        return True


def encode_frames(pcm: np.ndarray, codec_name: str) -> list[bytes]:
    codec = get_codec(codec_name)
    n = -(-len(pcm) // FRAME) * FRAME
    padded = np.zeros(n, dtype=np.int16)
    padded[: len(pcm)] = pcm
    encoded = codec.encode(padded)
    return [encoded[i : i + FRAME] for i in range(0, len(encoded), FRAME)]


_RINGBACK: dict[str, list[bytes]] = {}


def ringback_pcm() -> np.ndarray:
    """One cadence of ringback as samples (425 Hz, 1 s on, 4 s off)."""
    on = tone([425.0], 1.0, amplitude=0.25)
    return np.concatenate([on, np.zeros(32000, dtype=np.int16)])


def ringback_frames(codec_name: str) -> list[bytes]:
    """One cadence of ringback (425 Hz, 1 s on, 4 s off — the European tone)."""
    frames = _RINGBACK.get(codec_name)
    if frames is None:
        on = tone([425.0], 1.0, amplitude=0.25)
        pcm = np.concatenate([on, np.zeros(32000, dtype=np.int16)])
        frames = _RINGBACK[codec_name] = encode_frames(pcm, codec_name)
    return frames

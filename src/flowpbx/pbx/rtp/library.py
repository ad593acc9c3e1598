"""The audio library of live calls: audio names -> 8 kHz samples -> encoded 20 ms frames."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np

from flowpbx.media.audiofile import builtin_sample_path, load_audio
from flowpbx.pbx.rtp.player import encode_frames

SYSTEM_PROMPTS = Path(__file__).resolve().parent.parent.parent / "media" / "prompts"


class AudioLibrary:
    """Audio names of the library -> 8 kHz samples, and their encoded 20 ms frames per codec."""

    def __init__(self, paths: dict[str, Path]) -> None:
        self._paths = dict(paths)
        self._pcm: dict[str, np.ndarray] = {}
        self._frames: dict[tuple[str, str], list[bytes]] = {}

    def update(self, paths: dict[str, Path]) -> None:
        self._paths = dict(paths)
        self._pcm.clear()
        self._frames.clear()

    def path(self, name: str) -> Path | None:
        """The company's library first, then the built-in samples, then system prompts
        (voicemail menus, numbers: scripts/make_prompts.py)."""
        path = self._paths.get(name)
        if path is None:
            try:
                path = builtin_sample_path(name)
            except (KeyError, ValueError, FileNotFoundError):
                path = SYSTEM_PROMPTS / f"{name}.wav"
                if "/" in name or not path.exists():
                    return None
        return path if path.exists() else None

    async def pcm(self, name: str) -> np.ndarray:
        """The 8 kHz samples of library audio `name` (loaded once, in a worker thread)."""
        pcm = self._pcm.get(name)
        if pcm is None:
            path = self.path(name)
            if path is None:
                raise KeyError(f"audio {name!r} is not in the library")
            loaded: np.ndarray = await asyncio.to_thread(load_audio, path)
            self._pcm[name] = pcm = loaded
        return pcm

    async def frames(self, name: str, codec_name: str) -> list[bytes]:
        key = (name, codec_name)
        cached = self._frames.get(key)
        if cached is not None:
            return cached
        pcm = await self.pcm(name)
        frames = encode_frames(pcm, codec_name)
        self._frames[key] = frames
        return frames

    def duration_s(self, name: str) -> float | None:
        pcm = self._pcm.get(name)
        return None if pcm is None else len(pcm) / 8000.0

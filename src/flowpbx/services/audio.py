"""Audio files for the API: converting an upload to the media format, built-in sample lengths.

The API layer must not reach into `media/` itself; this is its door. `convert_upload`
decodes *by content* (WAV, MP3, OGG, FLAC — whatever the file is, not what it is called)
and writes the media-format WAV in a worker thread, so a long file never stalls the event
loop the calls run on. It is the conversion a configuration import uses too.

Errors: `AudioFileError` (not audio that can be decoded) and its subclass
`AudioTooLongError` (longer than `max_duration_s`), re-exported from `media.audiofile`.
"""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path

from flowpbx.media.audiofile import (
    AudioFileError,
    AudioTooLongError,
    builtin_sample_path,
    convert_to_media_format,
)

__all__ = ["AudioFileError", "AudioTooLongError", "builtin_duration", "convert_upload"]


async def convert_upload(src: Path, dst: Path, *, max_duration_s: float) -> float:
    """Convert `src` to the media format at `dst` off the event loop; its duration (s)."""
    return await asyncio.to_thread(convert_to_media_format, src, dst, max_duration_s=max_duration_s)


@functools.lru_cache(maxsize=32)
def builtin_duration(name: str) -> float:
    """Length in seconds of a built-in sample (0.0 when it cannot be read)."""
    import soundfile as sf

    try:
        return round(float(sf.info(str(builtin_sample_path(name))).duration), 3)
    except (RuntimeError, OSError, KeyError):
        return 0.0

"""Audio files for the API: converting an upload to the media format, built-in sample lengths.

The API layer must not reach into `media/` itself; this is its door. `convert_upload`
decodes *by content* (WAV, MP3, OGG, FLAC — whatever the file is, not what it is called)
and writes the media-format WAV in a worker thread, so a long file never stalls the event
loop the calls run on. It is the conversion a configuration import uses too.

Errors: `AudioFileError` (not audio that can be decoded) and its subclasses
`AudioTooLongError` (longer than `max_duration_s`), re-exported from `media.audiofile`, and
`AudioTooManySamplesError` (its header announces more samples than may be decoded).
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

__all__ = [
    "AudioFileError",
    "AudioTooLongError",
    "AudioTooManySamplesError",
    "builtin_duration",
    "check_header",
    "convert_upload",
]


class AudioTooManySamplesError(AudioFileError):
    """The file's header announces more samples (frames times channels) than may be decoded."""

    def __init__(self, message: str, *, samples: int, max_samples: int) -> None:
        super().__init__(message)
        self.samples = samples
        self.max_samples = max_samples


def check_header(src: Path, *, max_samples: int) -> None:
    """Read only the header of `src` and refuse it when decoding it would produce more than
    `max_samples` samples (frames times channels): a small, well-compressed file — minutes of
    silence at 384 kHz in 8 channels — can otherwise decode to gigabytes."""
    import soundfile as sf

    try:
        info = sf.info(str(src))
    except (RuntimeError, TypeError) as exc:  # LibsndfileError is a RuntimeError
        text = getattr(exc, "error_string", None) or str(exc)
        raise AudioFileError(f"cannot decode {src.name}: {text}") from exc
    frames, channels, rate = int(info.frames), int(info.channels), int(info.samplerate)
    samples = max(frames, 0) * max(channels, 1)
    if samples > max_samples:
        raise AudioTooManySamplesError(
            f"the file would decode to {samples} samples ({frames} frames of {channels}"
            f" channels at {rate} Hz), at most {max_samples}",
            samples=samples,
            max_samples=max_samples,
        )


def _convert(src: Path, dst: Path, max_duration_s: float, max_samples: int | None) -> float:
    if max_samples is not None:
        check_header(src, max_samples=max_samples)
    return convert_to_media_format(src, dst, max_duration_s=max_duration_s)


async def convert_upload(
    src: Path, dst: Path, *, max_duration_s: float, max_samples: int | None = None
) -> float:
    """Convert `src` to the media format at `dst` off the event loop; its duration (s).
    With `max_samples`, the header is checked first (`check_header`): nothing is decoded
    when the file would decode to more samples than that."""
    return await asyncio.to_thread(_convert, src, dst, max_duration_s, max_samples)


@functools.lru_cache(maxsize=32)
def builtin_duration(name: str) -> float:
    """Length in seconds of a built-in sample (0.0 when it cannot be read)."""
    import soundfile as sf

    try:
        return round(float(sf.info(str(builtin_sample_path(name))).duration), 3)
    except (RuntimeError, OSError, KeyError):
        return 0.0

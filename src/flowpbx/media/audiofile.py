"""Audio files <-> the media format (8 kHz, mono, 16-bit linear PCM WAV).

- `load_audio(path)`: WAV, MP3, OGG/Vorbis, FLAC (anything libsndfile reads) -> mixed to mono,
  resampled to 8 kHz with soxr, int16 samples.
- `convert_to_media_format(src, dst)`: the same, written as a media-format WAV atomically.
- `write_wav_atomic(path, samples)`: temp file in the same directory, fsync, `os.replace`,
  so readers never see half a file (recordings, voicemail, uploads).
- `frames_of(samples)`: (n, 160) array of 20 ms frames, last one zero padded.
- `builtin_sample_path(name)`: the WAV of a built-in sample (SPEC §2), `BUILTIN_SAMPLES`.

Loading and converting are CPU work: the runtime calls them in a worker thread, never on
the media clock.

Exceptions::

    ValueError
      └── AudioFileError          the file cannot be decoded (not audio, unsupported format)
            └── AudioTooLongError the audio exceeds the allowed duration
    KeyError
      └── UnknownSampleError      builtin_sample_path() with a name that is not built in
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import soundfile as sf
import soxr

__all__ = [
    "BUILTIN_SAMPLES",
    "MEDIA_RATE",
    "AudioFileError",
    "AudioTooLongError",
    "UnknownSampleError",
    "builtin_sample_path",
    "convert_to_media_format",
    "frames_of",
    "load_audio",
    "write_wav_atomic",
]

Samples = npt.NDArray[np.int16]
MEDIA_RATE: Final = 8000

BUILTIN_SAMPLES: Final = (
    "greeting",
    "menu",
    "please-hold",
    "hold-music",
    "voicemail-greeting",
    "beep",
    "office-closed",
    "goodbye",
)
_SAMPLES_DIR: Final = Path(__file__).resolve().parent / "samples"


class AudioFileError(ValueError):
    """The file is not audio that can be decoded."""


class AudioTooLongError(AudioFileError):
    """The audio is longer than allowed."""


class UnknownSampleError(KeyError):
    """No built-in sample has that name."""


def builtin_sample_path(name: str) -> Path:
    """The media-format WAV of a built-in sample (one of `BUILTIN_SAMPLES`)."""
    if name not in BUILTIN_SAMPLES:
        raise UnknownSampleError(name)
    return _SAMPLES_DIR / f"{name}.wav"


def _to_int16(x: npt.NDArray[np.float32]) -> Samples:
    scaled: npt.NDArray[np.float32] = np.clip(np.rint(x * 32768.0), -32768, 32767)
    return scaled.astype(np.int16)


def load_audio(
    path: Path | str, *, rate: int = MEDIA_RATE, max_duration_s: float | None = None
) -> Samples:
    """Decode an audio file to mono int16 samples at `rate` (8 kHz by default).

    Channels are averaged; resampling uses soxr (high quality). Raises `AudioFileError`
    for anything that is not decodable audio, `AudioTooLongError` above `max_duration_s`.
    """
    try:
        with sf.SoundFile(str(path)) as f:
            src_rate = f.samplerate
            if max_duration_s is not None and f.frames > 0 and f.frames > max_duration_s * src_rate:
                raise AudioTooLongError(
                    f"audio is {f.frames / src_rate:.1f} s long, at most {max_duration_s:g} s"
                )
            data = f.read(dtype="float32", always_2d=True)
    except sf.LibsndfileError as exc:
        raise AudioFileError(f"cannot decode {Path(path).name}: {exc.error_string}") from exc
    except (RuntimeError, TypeError) as exc:  # libsndfile reports some failures this way
        raise AudioFileError(f"cannot decode {Path(path).name}: {exc}") from exc
    if src_rate <= 0:
        raise AudioFileError(f"cannot decode {Path(path).name}: no sample rate")
    if max_duration_s is not None and data.shape[0] > max_duration_s * src_rate:
        raise AudioTooLongError(
            f"audio is {data.shape[0] / src_rate:.1f} s long, at most {max_duration_s:g} s"
        )
    mono: npt.NDArray[np.float32] = (
        data[:, 0] if data.shape[1] == 1 else data.mean(axis=1, dtype=np.float32)
    )
    if data.shape[0] == 0:
        return np.zeros(0, dtype=np.int16)
    if src_rate != rate:
        mono = np.asarray(soxr.resample(mono, src_rate, rate, quality="HQ"), dtype=np.float32)
    return _to_int16(mono)


def write_wav_atomic(path: Path | str, samples: npt.ArrayLike, rate: int = MEDIA_RATE) -> None:
    """Write mono 16-bit PCM WAV so that `path` is either the old file or the complete new one.

    The data goes to a temporary file in the same directory, is fsynced, then renamed over
    `path` with `os.replace` (atomic on POSIX); the directory is fsynced too.
    """
    target = Path(path)
    pcm = np.asarray(samples)
    if pcm.dtype != np.int16:
        pcm = np.clip(np.rint(pcm), -32768, 32767).astype(np.int16)
    try:
        mode = target.stat().st_mode & 0o777  # keep the permissions of the file replaced
    except FileNotFoundError:
        mode = 0o644  # mkstemp creates 0600; a media file is readable like any other
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            sf.write(fh, pcm, rate, format="WAV", subtype="PCM_16")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    dir_fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    except OSError:  # some file systems cannot fsync a directory; the rename still happened
        pass
    finally:
        os.close(dir_fd)


def convert_to_media_format(
    src: Path | str, dst: Path | str, *, max_duration_s: float | None = None
) -> float:
    """Convert any readable audio file to the media format at `dst`; returns its duration (s)."""
    samples = load_audio(src, max_duration_s=max_duration_s)
    write_wav_atomic(dst, samples)
    return samples.size / MEDIA_RATE


def frames_of(samples: npt.ArrayLike, size: int = 160) -> Samples:
    """Cut samples into frames: shape (n, size), the last frame zero padded."""
    pcm = np.asarray(samples, dtype=np.int16).ravel()
    n = -(-pcm.size // size)
    if pcm.size == n * size:
        return pcm.reshape(n, size)
    out = np.zeros(n * size, dtype=np.int16)
    out[: pcm.size] = pcm
    return out.reshape(n, size)

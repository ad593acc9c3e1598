"""Audio files <-> the media format (8 kHz, mono, 16-bit linear PCM WAV).

- `load_audio(path)`: WAV, MP3, OGG/Vorbis, FLAC (anything libsndfile reads) -> mixed to mono,
  resampled to 8 kHz with soxr, int16 samples.
- `convert_to_media_format(src, dst)`: the same, loudness normalised (`normalize_loudness`),
  written as a media-format WAV atomically; optional limits on size, duration and emptiness.
- `normalize_loudness(samples)`: gain so the active (non-silent) part sits at -20 dBFS RMS,
  never more than +20 dB, and never so much that a peak would pass -1 dBFS.
- `write_wav_atomic(path, samples)`: temp file in the same directory, fsync, `os.replace`,
  so readers never see half a file (recordings, voicemail, uploads).
- `frames_of(samples)`: (n, 160) array of 20 ms frames, last one zero padded.
- `builtin_sample_path(name)`: the WAV of a built-in sample (SPEC §2), `BUILTIN_SAMPLES`.

Loading and converting are CPU work: the runtime calls them in a worker thread, never on
the media clock.

Exceptions::

    ValueError
      └── AudioFileError          the file cannot be decoded (not audio, unsupported format)
            ├── AudioTooLongError  the audio exceeds the allowed duration
            ├── AudioTooLargeError the file exceeds the allowed size (before decoding)
            └── AudioEmptyError    the file decodes to no samples at all
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
    "AudioEmptyError",
    "AudioFileError",
    "AudioTooLargeError",
    "AudioTooLongError",
    "UnknownSampleError",
    "builtin_sample_path",
    "convert_to_media_format",
    "frames_of",
    "load_audio",
    "normalize_loudness",
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


class AudioTooLargeError(AudioFileError):
    """The file is larger than allowed."""


class AudioEmptyError(AudioFileError):
    """The file holds no audio samples."""


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
        mode = 0o600  # recordings and voicemail: for the PBX user only
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


TARGET_DBFS: Final = -20.0
MAX_GAIN_DB: Final = 20.0
PEAK_CEILING_DBFS: Final = -1.0
_GATE_DBFS: Final = -50.0  # 20 ms blocks quieter than this are pauses, not loudness


def _dbfs(level: float) -> float:
    return 20.0 * float(np.log10(max(level, 1e-9) / 32768.0))


def normalize_loudness(
    samples: npt.ArrayLike,
    *,
    target_dbfs: float = TARGET_DBFS,
    max_gain_db: float = MAX_GAIN_DB,
    peak_ceiling_dbfs: float = PEAK_CEILING_DBFS,
) -> Samples:
    """Scale audio so its active part has an RMS of `target_dbfs` (gated: 20 ms blocks below
    -50 dBFS do not count), with at most `max_gain_db` of gain and no peak above
    `peak_ceiling_dbfs`. Silence stays silence."""
    pcm = np.asarray(samples, dtype=np.int16).ravel()
    if pcm.size == 0:
        return pcm.copy()
    x = pcm.astype(np.float64)
    n = pcm.size // 160
    blocks = x[: n * 160].reshape(n, 160) if n else x.reshape(1, -1)
    levels = np.sqrt(np.mean(blocks**2, axis=1))
    gate = 32768.0 * 10.0 ** (_GATE_DBFS / 20.0)
    active = blocks[levels >= gate]
    if active.size == 0:
        return pcm.copy()
    rms = float(np.sqrt(np.mean(active**2)))
    gain_db = min(target_dbfs - _dbfs(rms), max_gain_db)
    peak = float(np.abs(x).max())
    gain_db = min(gain_db, peak_ceiling_dbfs - _dbfs(peak))
    scaled: npt.NDArray[np.float64] = np.clip(np.rint(x * 10.0 ** (gain_db / 20.0)), -32768, 32767)
    return scaled.astype(np.int16)


def convert_to_media_format(
    src: Path | str,
    dst: Path | str,
    *,
    max_duration_s: float | None = None,
    max_bytes: int | None = None,
    reject_empty: bool = False,
    normalize: bool = True,
) -> float:
    """Convert any readable audio file to the media format at `dst`; returns its duration (s).

    Raises `AudioTooLargeError` above `max_bytes` (checked before decoding),
    `AudioTooLongError` above `max_duration_s`, `AudioEmptyError` for no samples when
    `reject_empty`, `AudioFileError` for anything that is not audio. `dst` is untouched
    on any error."""
    if max_bytes is not None:
        try:
            size = os.path.getsize(src)
        except OSError as exc:
            raise AudioFileError(f"cannot read {Path(src).name}: {exc.strerror}") from exc
        if size > max_bytes:
            raise AudioTooLargeError(
                f"{Path(src).name} is {size / 1e6:.1f} MB, at most {max_bytes / 1e6:g} MB"
            )
    if reject_empty and os.path.exists(src) and os.path.getsize(src) == 0:
        raise AudioEmptyError(f"{Path(src).name} is an empty file")
    samples = load_audio(src, max_duration_s=max_duration_s)
    if samples.size == 0 and reject_empty:
        raise AudioEmptyError(f"{Path(src).name} holds no audio")
    if normalize:
        samples = normalize_loudness(samples)
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


def discard_partial_writes(root: Path | str) -> list[Path]:
    """Delete the temporary files `write_wav_atomic` leaves when the process dies between
    creating and renaming one (``.NAME.XXXX.tmp`` anywhere under ``root``); at start-up,
    before anything writes. Returns what was deleted. The completed files are untouched: a
    crash leaves either the old file or the new one, and now no debris beside it."""
    base = Path(root)
    if not base.is_dir():
        return []
    removed: list[Path] = []
    for path in base.rglob(".*.tmp"):
        if path.is_file():
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(path)
    return removed

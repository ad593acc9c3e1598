"""Audio file loading/conversion (WAV, FLAC, OGG, MP3), atomic writes, frames, samples."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import soundfile as sf

from flowpbx.media.audiofile import (
    BUILTIN_SAMPLES,
    AudioFileError,
    AudioTooLongError,
    UnknownSampleError,
    builtin_sample_path,
    convert_to_media_format,
    frames_of,
    load_audio,
    write_wav_atomic,
)

needs_sox = pytest.mark.skipif(shutil.which("sox") is None, reason="sox is not installed")


def peak_hz(x: npt.ArrayLike, rate: int = 8000) -> float:
    arr = np.asarray(x, dtype=np.float64)
    spectrum = np.abs(np.fft.rfft(arr * np.hanning(arr.size)))
    return float(np.fft.rfftfreq(arr.size, 1 / rate)[int(np.argmax(spectrum))])


def sox_synth(path: Path, *, rate: int, channels: int, seconds: float, freq: int) -> Path:
    subprocess.run(
        [
            "sox",
            "-n",
            "-r",
            str(rate),
            "-c",
            str(channels),
            str(path),
            "synth",
            str(seconds),
            "sine",
            str(freq),
            "vol",
            "0.5",
        ],
        check=True,
        capture_output=True,
    )
    return path


@needs_sox
@pytest.mark.parametrize(
    ("suffix", "rate", "channels"),
    [("wav", 44100, 2), ("wav", 8000, 1), ("flac", 48000, 2), ("ogg", 22050, 1), ("mp3", 44100, 2)],
)
def test_load_any_format_to_8k_mono(tmp_path: Path, suffix: str, rate: int, channels: int) -> None:
    if suffix == "mp3":
        # sox here has no MP3 writer: make a WAV with sox and encode it with libsndfile.
        wav = sox_synth(tmp_path / "src.wav", rate=rate, channels=channels, seconds=2, freq=1000)
        data, sr = sf.read(wav)
        src = tmp_path / "in.mp3"
        sf.write(src, data, sr, format="MP3")
    else:
        src = sox_synth(
            tmp_path / f"in.{suffix}", rate=rate, channels=channels, seconds=2, freq=1000
        )
    samples = load_audio(src)
    assert samples.dtype == np.int16 and samples.ndim == 1
    # Duration survives (MP3 encoders add a little priming/padding).
    assert samples.size / 8000 == pytest.approx(2.0, abs=0.08 if suffix == "mp3" else 0.002)
    assert peak_hz(samples[800:-800]) == pytest.approx(1000, abs=5)
    level = np.sqrt(np.mean(samples[800:-800].astype(np.float64) ** 2))
    assert level == pytest.approx(0.5 * 32768 / np.sqrt(2), rel=0.1)


@needs_sox
def test_convert_writes_media_format_atomically(tmp_path: Path) -> None:
    src = sox_synth(tmp_path / "music.flac", rate=44100, channels=2, seconds=1.5, freq=440)
    dst = tmp_path / "out" / "music.wav"
    dst.parent.mkdir()
    duration = convert_to_media_format(src, dst)
    assert duration == pytest.approx(1.5, abs=0.002)
    info = sf.info(dst)
    assert (info.samplerate, info.channels, info.subtype, info.format) == (8000, 1, "PCM_16", "WAV")
    data, _ = sf.read(dst, dtype="int16")
    assert peak_hz(data) == pytest.approx(440, abs=5)
    assert os.listdir(dst.parent) == ["music.wav"]  # no temp file left behind


def test_stereo_is_mixed_to_mono(tmp_path: Path) -> None:
    t = np.arange(8000) / 8000
    left = 0.4 * np.sin(2 * np.pi * 500 * t)
    stereo = np.stack([left, -left], axis=1)  # opposite phase: the mix is silence
    src = tmp_path / "stereo.wav"
    sf.write(src, stereo, 8000, subtype="PCM_16")
    assert np.abs(load_audio(src)).max() <= 1
    sf.write(src, np.stack([left, np.zeros_like(left)], axis=1), 8000, subtype="PCM_16")
    mono = load_audio(src)
    assert np.abs(mono).max() == pytest.approx(0.2 * 32768, rel=0.01)


def test_non_audio_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "notes.mp3"
    bad.write_bytes(b"this is not audio at all" * 10)
    with pytest.raises(AudioFileError, match=r"notes\.mp3"):
        load_audio(bad)
    with pytest.raises(AudioFileError):
        load_audio(tmp_path / "missing.wav")
    dst = tmp_path / "out.wav"
    with pytest.raises(AudioFileError):
        convert_to_media_format(bad, dst)
    assert not dst.exists()


def test_too_long_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "long.wav"
    sf.write(src, np.zeros(16000 * 5, dtype=np.int16), 16000)
    with pytest.raises(AudioTooLongError, match=r"5\.0 s"):
        load_audio(src, max_duration_s=4)
    assert load_audio(src, max_duration_s=5).size == 40000


def test_empty_file_gives_no_samples(tmp_path: Path) -> None:
    src = tmp_path / "empty.wav"
    sf.write(src, np.zeros(0, dtype=np.int16), 16000)
    assert load_audio(src).size == 0


def test_write_wav_atomic_replaces_and_cleans_up(tmp_path: Path) -> None:
    path = tmp_path / "rec.wav"
    write_wav_atomic(path, np.full(800, 1000, dtype=np.int16))
    write_wav_atomic(path, np.arange(-5, 5))  # replaced; other integer dtypes are converted
    data, rate = sf.read(path, dtype="int16")
    assert rate == 8000 and data.tolist() == list(range(-5, 5))
    assert sorted(os.listdir(tmp_path)) == ["rec.wav"]
    assert path.stat().st_mode & 0o777 == 0o600  # a new file: the PBX user only
    path.chmod(0o640)
    write_wav_atomic(path, np.zeros(4, dtype=np.int16))
    assert path.stat().st_mode & 0o777 == 0o640  # a replaced file keeps its permissions


def test_write_wav_atomic_keeps_old_file_on_failure(tmp_path: Path) -> None:
    path = tmp_path / "rec.wav"
    write_wav_atomic(path, np.ones(10, dtype=np.int16))
    with pytest.raises(ValueError, match="dimensions"):
        write_wav_atomic(path, np.ones((2, 3, 4), dtype=np.int16))
    data, _ = sf.read(path, dtype="int16")
    assert data.tolist() == [1] * 10
    assert sorted(os.listdir(tmp_path)) == ["rec.wav"]


def test_frames_of_pads_the_last_frame() -> None:
    frames = frames_of(np.arange(400, dtype=np.int16))
    assert frames.shape == (3, 160) and frames.dtype == np.int16
    assert frames[2, :80].tolist() == list(range(320, 400))
    assert not frames[2, 80:].any()
    assert frames_of(np.ones(320, dtype=np.int16)).shape == (2, 160)
    assert frames_of(np.zeros(0, dtype=np.int16)).shape == (0, 160)
    assert frames_of(np.ones(10, dtype=np.int16), size=4).shape == (3, 4)


@pytest.mark.parametrize("name", BUILTIN_SAMPLES)
def test_builtin_samples_exist_in_media_format(name: str) -> None:
    path = builtin_sample_path(name)
    info = sf.info(path)
    assert (info.samplerate, info.channels, info.subtype) == (8000, 1, "PCM_16")
    assert 0.2 <= info.duration <= 7.0
    assert path.stat().st_size < 100 * 1024
    samples = load_audio(path)
    assert np.sqrt(np.mean(samples.astype(np.float64) ** 2)) > 500  # not silent


def test_builtin_names_match_spec_and_unknown_is_refused() -> None:
    assert BUILTIN_SAMPLES == (
        "greeting",
        "menu",
        "please-hold",
        "hold-music",
        "voicemail-greeting",
        "beep",
        "office-closed",
        "goodbye",
    )
    assert peak_hz(load_audio(builtin_sample_path("beep"))) == pytest.approx(1000, abs=5)
    with pytest.raises(UnknownSampleError):
        builtin_sample_path("../../etc/passwd")


@needs_sox
@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_make_samples_script_reproduces_the_committed_files(tmp_path: Path) -> None:
    script = Path(__file__).resolve().parents[2] / "scripts" / "make_samples.py"
    subprocess.run(
        [sys.executable, str(script), "--out", str(tmp_path)], check=True, capture_output=True
    )
    for name in BUILTIN_SAMPLES:
        made = tmp_path / f"{name}.wav"
        assert made.read_bytes() == builtin_sample_path(name).read_bytes(), name


def _dbfs_rms(x: np.ndarray) -> float:
    return float(20 * np.log10(np.sqrt(np.mean(x.astype(np.float64) ** 2)) / 32768))


def test_normalize_loudness_brings_quiet_and_loud_audio_to_the_target() -> None:
    from flowpbx.media.audiofile import TARGET_DBFS, normalize_loudness

    t = np.arange(8000) / 8000
    quiet = (0.007 * 32767 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)  # about -46 dBFS
    loud = (0.9 * 32767 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)  # about -4 dBFS
    # A pause does not count towards loudness: the tone itself reaches the target.
    with_pause = np.concatenate([np.zeros(16000, np.int16), loud])
    assert _dbfs_rms(normalize_loudness(loud)) == pytest.approx(TARGET_DBFS, abs=0.1)
    out = normalize_loudness(with_pause)
    assert _dbfs_rms(out[16000:]) == pytest.approx(TARGET_DBFS, abs=0.1)
    assert not out[:16000].any()
    # Quiet audio gets at most +20 dB.
    assert _dbfs_rms(normalize_loudness(quiet)) == pytest.approx(_dbfs_rms(quiet) + 20, abs=0.1)
    # Peaky audio (a click in silence-level noise) is limited by its peak, never clipped.
    click = np.zeros(8000, np.int16)
    click[4000] = 20000
    click[::7] = 2000
    assert np.abs(normalize_loudness(click)).max() <= 32768 * 10 ** (-1 / 20) + 1
    # Silence stays silence; empty stays empty.
    assert not normalize_loudness(np.zeros(800, np.int16)).any()
    assert normalize_loudness(np.zeros(0, np.int16)).size == 0


def test_convert_normalizes_and_reports_clear_errors(tmp_path: Path) -> None:
    from flowpbx.media.audiofile import (
        TARGET_DBFS,
        AudioEmptyError,
        AudioTooLargeError,
    )

    t = np.arange(16000) / 16000
    src = tmp_path / "quiet.wav"
    sf.write(src, 0.05 * np.sin(2 * np.pi * 300 * t), 16000, subtype="PCM_16")
    dst = tmp_path / "out.wav"
    assert convert_to_media_format(src, dst) == pytest.approx(1.0)
    data, _ = sf.read(dst, dtype="int16")
    assert _dbfs_rms(data[400:-400]) == pytest.approx(TARGET_DBFS, abs=0.5)
    raw = tmp_path / "raw.wav"
    convert_to_media_format(src, raw, normalize=False)
    data, _ = sf.read(raw, dtype="int16")
    assert _dbfs_rms(data[400:-400]) == pytest.approx(-29.0, abs=0.5)

    with pytest.raises(AudioTooLargeError, match="MB"):
        convert_to_media_format(src, tmp_path / "big.wav", max_bytes=1000)
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, dtype=np.int16), 8000)
    with pytest.raises(AudioEmptyError, match="no audio"):
        convert_to_media_format(empty, tmp_path / "e.wav", reject_empty=True)
    zero = tmp_path / "zero.mp3"
    zero.write_bytes(b"")
    with pytest.raises(AudioEmptyError, match="empty file"):
        convert_to_media_format(zero, tmp_path / "z.wav", reject_empty=True)
    assert convert_to_media_format(empty, tmp_path / "e2.wav") == 0.0  # allowed by default
    for name in ("big.wav", "e.wav", "z.wav"):
        assert not (tmp_path / name).exists()

"""The header check before an upload is decoded (`services.audio.check_header`): a file
that would decode to more samples than allowed is refused without decoding it."""

from __future__ import annotations

from pathlib import Path

import pytest
import soundfile as sf

from flowpbx.services.audio import (
    AudioFileError,
    AudioTooManySamplesError,
    check_header,
    convert_upload,
)
from tests.services.hostile_audio import flac_claiming, flac_silence

CAP = 600 * 48_000 * 2


def test_real_silence_at_a_high_rate_in_many_channels_is_refused(tmp_path: Path) -> None:
    src = flac_silence(tmp_path / "s.flac", seconds=100, rate=96_000, channels=8)
    assert src.stat().st_size < 1_000_000
    with pytest.raises(AudioTooManySamplesError) as err:
        check_header(src, max_samples=CAP)
    assert err.value.samples == 100 * 96_000 * 8 and err.value.max_samples == CAP
    assert f"at most {CAP}" in str(err.value) and "96000 Hz" in str(err.value)


def test_a_header_claiming_gigabytes_is_refused(tmp_path: Path) -> None:
    src = flac_claiming(tmp_path / "lie.flac", seconds=600, rate=384_000, channels=8)
    assert sf.info(str(src)).frames == 600 * 384_000  # what libsndfile believes
    with pytest.raises(AudioTooManySamplesError) as err:
        check_header(src, max_samples=CAP)
    assert err.value.samples == 600 * 384_000 * 8


def test_within_the_cap_passes(tmp_path: Path) -> None:
    src = flac_silence(tmp_path / "ok.flac", seconds=10, rate=48_000, channels=2)
    check_header(src, max_samples=CAP)


def test_not_audio_is_a_file_error(tmp_path: Path) -> None:
    src = tmp_path / "junk.flac"
    src.write_bytes(b"not audio" * 100)
    with pytest.raises(AudioFileError):
        check_header(src, max_samples=CAP)


async def test_convert_upload_writes_nothing_for_a_refused_file(tmp_path: Path) -> None:
    src = flac_claiming(tmp_path / "lie.flac", seconds=600, rate=384_000, channels=8)
    dst = tmp_path / "out.wav"
    with pytest.raises(AudioTooManySamplesError):
        await convert_upload(src, dst, max_duration_s=600, max_samples=CAP)
    assert not dst.exists()

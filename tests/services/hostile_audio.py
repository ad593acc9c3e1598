"""Audio files that are small on disk but decode to a great many samples, for the upload
caps: real FLAC silence at a high rate in many channels, and a FLAC whose header claims
more frames than it holds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf


def flac_silence(path: Path, *, seconds: int, rate: int, channels: int) -> Path:
    """`seconds` of real silence, written a second at a time (FLAC packs it to almost
    nothing: 100 s at 96 kHz in 8 channels is under 100 KB)."""
    block = np.zeros((rate, channels), np.int16)
    with sf.SoundFile(path, "w", rate, channels, "PCM_16", format="FLAC") as f:
        for _ in range(seconds):
            f.write(block)
    return path


def flac_claiming(path: Path, *, seconds: int, rate: int, channels: int) -> Path:
    """A one-second FLAC at `rate` in `channels` whose STREAMINFO says it holds `seconds`
    seconds (FLAC §8.2: total samples are the low 36 bits of bytes 18-25 of the file)."""
    flac_silence(path, seconds=1, rate=rate, channels=channels)
    data = bytearray(path.read_bytes())
    assert data[:4] == b"fLaC" and data[4] & 0x7F == 0  # STREAMINFO comes first
    field = int.from_bytes(data[18:26], "big")
    field = (field & ~((1 << 36) - 1)) | (seconds * rate)
    data[18:26] = field.to_bytes(8, "big")
    path.write_bytes(bytes(data))
    return path

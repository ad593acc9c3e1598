#!/usr/bin/env python3
"""Generate the built-in audio samples (SPEC §2) into src/flowpbx/media/samples/.

Voice prompts are spoken by espeak-ng and converted with sox to the media format (8 kHz,
mono, 16-bit PCM WAV); `hold-music` and `beep` are synthesised with numpy. The output is
reproducible for the same espeak-ng/sox versions. Run from the repository root:

    .venv/bin/python scripts/make_samples.py [--out DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from flowpbx.media.audiofile import BUILTIN_SAMPLES, write_wav_atomic
from flowpbx.media.tones import beep

RATE = 8000
VOICE = "en-us"
WORDS_PER_MINUTE = "155"

PROMPTS: dict[str, str] = {
    "greeting": "Welcome to our company. Thank you for calling.",
    "menu": "Press one for sales, two for support.",
    "please-hold": "Please hold. Your call is important to us.",
    "voicemail-greeting": "Nobody is available. Please leave a message after the tone.",
    "office-closed": "Our office is closed. Please call again during office hours.",
    "goodbye": "Thank you for calling. Goodbye.",
}


def speak(text: str, dst: Path) -> None:
    """espeak-ng -> sox -> 8 kHz mono 16-bit WAV at `dst` (written via a temp file)."""
    espeak = subprocess.run(
        ["espeak-ng", "-v", VOICE, "-s", WORDS_PER_MINUTE, "--stdout", text],
        check=True,
        capture_output=True,
    )
    fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".wav", dir=dst.parent)
    os.fchmod(fd, 0o644)
    os.close(fd)
    try:
        subprocess.run(
            # Band-limit to the telephone band, normalise to -3 dBFS, then resample.
            [
                *("sox", "-D", "-t", "wav", "-", "-r", str(RATE), "-c", "1", "-b", "16"),
                *("-e", "signed-integer", tmp, "highpass", "200", "gain", "-n", "-3"),
            ],
            input=espeak.stdout,
            check=True,
            capture_output=True,
        )
        os.replace(tmp, dst)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def hold_music(seconds: float = 6.0) -> np.ndarray:
    """A calm, loopable arpeggio (C major, F major, G major, C major) of soft bell notes."""
    chords = [
        (261.63, 329.63, 392.00, 523.25),
        (349.23, 440.00, 523.25, 698.46),
        (392.00, 493.88, 587.33, 783.99),
        (261.63, 329.63, 392.00, 523.25),
    ]
    notes = [f for chord in chords for f in chord + chord[-2:0:-1]]  # up and back down
    n_total = round(seconds * RATE)
    note_len = n_total // len(notes)
    t = np.arange(note_len * 2, dtype=np.float64) / RATE  # each note rings into the next
    out = np.zeros(n_total + note_len * 2, dtype=np.float64)
    for i, f in enumerate(notes):
        envelope = np.exp(-3.0 * t) * np.minimum(1.0, t / 0.01)
        note = (
            np.sin(2 * np.pi * f * t)
            + 0.3 * np.sin(2 * np.pi * 2 * f * t)
            + 0.1 * np.sin(2 * np.pi * 3 * f * t)
        )
        start = i * note_len
        out[start : start + t.size] += envelope * note
    # Fold the ringing tail back to the start so the loop point is seamless.
    out[: note_len * 2] += out[n_total : n_total + note_len * 2]
    out = out[:n_total]
    out *= 0.35 * 32767 / np.max(np.abs(out))
    return np.rint(out).astype(np.int16)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_out = Path(__file__).resolve().parent.parent / "src/flowpbx/media/samples"
    parser.add_argument("--out", type=Path, default=default_out, help="output directory")
    args = parser.parse_args(argv)
    out: Path = args.out
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            print(f"error: {tool} is not installed (apt-get install {tool})", file=sys.stderr)
            return 1
    out.mkdir(parents=True, exist_ok=True)
    for name in BUILTIN_SAMPLES:
        dst = out / f"{name}.wav"
        if name in PROMPTS:
            speak(PROMPTS[name], dst)
        elif name == "hold-music":
            write_wav_atomic(dst, hold_music())
        elif name == "beep":
            write_wav_atomic(dst, beep())
        else:  # pragma: no cover - every built-in name is handled above
            raise SystemExit(f"no recipe for built-in sample {name!r}")
        print(f"{dst}  {dst.stat().st_size // 1024} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main())

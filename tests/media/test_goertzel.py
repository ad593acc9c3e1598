"""In-band DTMF detection: every digit, timing limits, robustness, and no false positives."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from flowpbx.media.audiofile import BUILTIN_SAMPLES, builtin_sample_path, load_audio
from flowpbx.media.dtmf import DIGITS, DTMF_FREQS, DtmfEvent, GoertzelDetector
from flowpbx.media.g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from flowpbx.media.tones import dtmf_tone, tone

RATE = 8000
Pcm = npt.NDArray[np.int16]


def silence(seconds: float) -> Pcm:
    return np.zeros(round(seconds * RATE), dtype=np.int16)


def pair(
    digit: str, seconds: float, *, low_amp: float, high_amp: float, detune: float = 1.0
) -> Pcm:
    low, high = DTMF_FREQS[digit]
    t = np.arange(round(seconds * RATE)) / RATE
    x = low_amp * np.sin(2 * np.pi * low * detune * t) + high_amp * np.sin(
        2 * np.pi * high * detune * t
    )
    return np.rint(x).astype(np.int16)


def detect(samples: Pcm, *, chunk: int = 160, **kwargs: object) -> list[DtmfEvent]:
    detector = GoertzelDetector(**kwargs)  # type: ignore[arg-type]
    events: list[DtmfEvent] = []
    for i in range(0, samples.size, chunk):
        events += detector.feed(samples[i : i + chunk])
    return events + detector.flush()


def digits_of(events: list[DtmfEvent]) -> str:
    return "".join(e.digit for e in events)


@pytest.mark.parametrize("digit", list(DIGITS))
def test_every_digit_is_detected_once(digit: str) -> None:
    audio = np.concatenate([silence(0.1), dtmf_tone(digit, 0.1), silence(0.1)])
    events = detect(audio)
    assert events == [DtmfEvent(digit=digit, duration_ms=30, source="inband")]


def test_sequence_with_the_same_digit_twice_and_odd_chunk_sizes() -> None:
    keys = "1123#*0D"
    audio = np.concatenate([np.concatenate([dtmf_tone(d, 0.06), silence(0.05)]) for d in keys])
    for chunk in (160, 1, 37, 333, audio.size):
        assert digits_of(detect(audio, chunk=chunk)) == keys, chunk


def test_report_at_end_gives_durations() -> None:
    audio = np.concatenate(
        [silence(0.05), dtmf_tone("7", 0.2), silence(0.1), dtmf_tone("8", 0.5), silence(0.1)]
    )
    events = detect(audio, report="end")
    assert [e.digit for e in events] == ["7", "8"]
    assert events[0].duration_ms == pytest.approx(200, abs=20)
    assert events[1].duration_ms == pytest.approx(500, abs=20)


def test_tone_still_open_at_end_of_audio_is_flushed() -> None:
    events = detect(np.concatenate([silence(0.02), dtmf_tone("5", 0.3)]), report="end")
    assert [e.digit for e in events] == ["5"]


@pytest.mark.parametrize("seconds", [0.04, 0.05])
def test_minimum_duration_is_accepted(seconds: float) -> None:
    for offset in range(0, 160, 20):  # whatever the alignment to the 10 ms analysis hop
        audio = np.concatenate(
            [silence(0.1 + offset / RATE), dtmf_tone("9", seconds), silence(0.1)]
        )
        assert digits_of(detect(audio)) == "9", offset


@pytest.mark.parametrize("seconds", [0.01, 0.02])
def test_too_short_bursts_are_rejected(seconds: float) -> None:
    audio = np.concatenate([silence(0.1), dtmf_tone("9", seconds), silence(0.1)])
    assert detect(audio) == []


def test_short_dropout_inside_a_press_is_one_press() -> None:
    tone_ = dtmf_tone("3", 0.1)
    audio = np.concatenate([tone_, silence(0.005), tone_, silence(0.1)])
    assert digits_of(detect(audio)) == "3"


@pytest.mark.parametrize(
    ("low_db", "high_db", "detected"),
    [
        (0.0, 0.0, True),
        (0.0, 7.0, True),  # normal twist: high group louder, within 8 dB
        (3.0, 0.0, True),  # reverse twist within 4 dB
        (0.0, 10.0, False),  # too much normal twist
        (6.0, 0.0, False),  # too much reverse twist
    ],
)
def test_twist_limits(low_db: float, high_db: float, detected: bool) -> None:
    base = 3000.0
    audio = np.concatenate(
        [
            pair(
                "6", 0.1, low_amp=base * 10 ** (low_db / 20), high_amp=base * 10 ** (high_db / 20)
            ),
            silence(0.1),
        ]
    )
    assert digits_of(detect(audio)) == ("6" if detected else "")


@pytest.mark.parametrize(("amplitude", "detected"), [(1000.0, True), (600.0, True), (150.0, False)])
def test_level_threshold(amplitude: float, detected: bool) -> None:
    audio = np.concatenate([pair("0", 0.1, low_amp=amplitude, high_amp=amplitude), silence(0.1)])
    assert digits_of(detect(audio)) == ("0" if detected else "")


@pytest.mark.parametrize("detune", [0.985, 1.015])
def test_frequency_tolerance_of_one_and_a_half_percent(detune: float) -> None:
    audio = np.concatenate(
        [pair("8", 0.1, low_amp=6000, high_amp=6000, detune=detune), silence(0.1)]
    )
    assert digits_of(detect(audio)) == "8"


def test_detected_after_g711_and_with_noise() -> None:
    keys = "159#"
    clean = np.concatenate([np.concatenate([dtmf_tone(d, 0.08), silence(0.06)]) for d in keys])
    rng = np.random.default_rng(7)
    noisy = np.clip(clean + rng.normal(0, 300, clean.size), -32768, 32767).astype(np.int16)
    assert digits_of(detect(ulaw_decode(ulaw_encode(noisy)))) == keys
    assert digits_of(detect(alaw_decode(alaw_encode(noisy)))) == keys


def test_no_false_positives_on_white_noise() -> None:
    rng = np.random.default_rng(1)
    for sigma in (300, 3000, 10000):
        noise = np.clip(rng.normal(0, sigma, 10 * RATE), -32768, 32767).astype(np.int16)
        assert detect(noise) == []


def test_no_false_positives_on_a_chirp() -> None:
    t = np.arange(10 * RATE) / RATE
    freq = 200 + (3600 - 200) * t / t[-1]
    phase = 2 * np.pi * np.cumsum(freq) / RATE
    assert detect(np.rint(15000 * np.sin(phase)).astype(np.int16)) == []


def test_no_false_positives_on_single_tones_and_ringback() -> None:
    for freqs in ([697.0], [1209.0], [425.0], [440.0, 480.0], [480.0, 620.0], [1000.0]):
        assert detect(tone(freqs, 1.0, amplitude=0.5)) == [], freqs


@pytest.mark.skipif(
    shutil.which("espeak-ng") is None or shutil.which("sox") is None,
    reason="espeak-ng and sox are needed (scripts/install-system-deps.sh)",
)
def test_no_false_positives_on_speech(tmp_path: Path) -> None:
    text = (
        "Hello and welcome. One two three four five six seven eight nine zero. "
        "Press star or pound. She sells sea shells by the sea shore. "
        "The quick brown fox jumps over the lazy dog, again and again."
    )
    speech = load_audio(_espeak(tmp_path, text, "en-us"))
    high = load_audio(_espeak(tmp_path, text, "en-us+f3", pitch="90"))
    assert speech.size > 5 * RATE
    for audio in (speech, high, np.clip(speech.astype(np.int32) * 3, -32768, 32767)):
        assert detect(audio.astype(np.int16)) == []


def _espeak(tmp_path: Path, text: str, voice: str, *, pitch: str = "50") -> Path:
    out = tmp_path / f"speech-{voice.replace('+', '_')}.wav"
    spoken = subprocess.run(
        ["espeak-ng", "-v", voice, "-p", pitch, "--stdout", text], check=True, capture_output=True
    ).stdout
    subprocess.run(
        [
            "sox",
            "-t",
            "wav",
            "-",
            "-r",
            "8000",
            "-c",
            "1",
            "-b",
            "16",
            "-e",
            "signed-integer",
            str(out),
        ],
        input=spoken,
        check=True,
        capture_output=True,
    )
    return out


@pytest.mark.parametrize("name", BUILTIN_SAMPLES)
def test_no_false_positives_on_builtin_prompts_and_music(name: str) -> None:
    assert detect(load_audio(builtin_sample_path(name))) == []


def test_speech_then_digit_is_found() -> None:
    music = load_audio(builtin_sample_path("hold-music"))[: 2 * RATE]
    audio = np.concatenate([music, silence(0.05), dtmf_tone("4", 0.08), silence(0.05), music])
    assert digits_of(detect(audio)) == "4"


def test_reset_forgets_buffered_audio() -> None:
    detector = GoertzelDetector()
    assert detector.feed(dtmf_tone("2", 0.015)) == []
    detector.reset()
    assert detector.feed(silence(0.1)) == []
    assert detector.feed(np.concatenate([dtmf_tone("2", 0.1), silence(0.05)]))[0].digit == "2"

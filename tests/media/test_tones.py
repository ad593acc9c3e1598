"""Tone synthesis and cadence generators."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from flowpbx.media.dtmf import InvalidDigitError
from flowpbx.media.tones import (
    BEEP,
    ToneGenerator,
    TonePattern,
    beep,
    busy,
    dtmf_tone,
    ringback,
    tone,
)

RATE = 8000


def peak_freqs(x: npt.ArrayLike, count: int = 1) -> list[float]:
    spectrum = np.abs(np.fft.rfft(np.asarray(x, dtype=np.float64)))
    freqs = np.fft.rfftfreq(np.asarray(x).size, 1 / RATE)
    return sorted(float(freqs[i]) for i in np.argsort(spectrum)[-count:])


def test_tone_length_level_and_frequency() -> None:
    x = tone([1000.0], 0.5, amplitude=0.5)
    assert x.dtype == np.int16 and x.size == 4000
    assert abs(int(x.max()) - 16384) < 50
    assert peak_freqs(x) == [1000.0]


def test_two_frequency_tone_peak_is_bounded() -> None:
    x = tone([440.0, 480.0], 1.0, amplitude=0.4)
    assert int(np.abs(x.astype(np.int32)).max()) <= round(0.4 * 32767) + 1
    assert peak_freqs(x, 2) == [440.0, 480.0]


def test_dtmf_tone_has_the_q23_pair() -> None:
    assert peak_freqs(dtmf_tone("5", 1.0), 2) == [770.0, 1336.0]
    assert peak_freqs(dtmf_tone("#", 1.0), 2) == [941.0, 1477.0]
    assert peak_freqs(dtmf_tone("a", 1.0), 2) == [697.0, 1633.0]
    with pytest.raises(InvalidDigitError):
        dtmf_tone("E", 0.1)


def test_beep_is_quarter_second_1khz_with_soft_edges() -> None:
    x = beep()
    assert x.size == 2000
    assert peak_freqs(x) == [1000.0]
    assert abs(int(x[0])) < 100 and abs(int(x[-1])) < 100
    assert int(np.abs(x).max()) > 9000


def _on_off(frames: list[npt.NDArray[np.int16]]) -> str:
    return "".join("#" if np.abs(f).max() > 1000 else "." for f in frames)


def test_ringback_eu_cadence_one_second_on_four_off() -> None:
    gen = ToneGenerator(ringback("eu"))
    frames = [gen.next_frame().copy() for _ in range(2 * 250)]  # two 5 s cycles
    assert all(f.shape == (160,) and f.dtype == np.int16 for f in frames)
    pattern = _on_off(frames)
    assert pattern == ("#" * 50 + "." * 200) * 2
    assert peak_freqs(np.concatenate(frames[5:45])) == [425.0]


def test_ringback_us_and_busy_patterns() -> None:
    us = ToneGenerator(ringback("us"))
    frames = [us.next_frame().copy() for _ in range(300)]
    assert _on_off(frames) == "#" * 100 + "." * 200
    assert peak_freqs(np.concatenate(frames[10:90]), 2) == [440.0, 480.0]
    gen = ToneGenerator(busy())
    assert _on_off([gen.next_frame().copy() for _ in range(100)]) == ("#" * 25 + "." * 25) * 2
    assert busy("us").freqs == (480.0, 620.0)
    uk = ToneGenerator(ringback("uk"))
    assert _on_off([uk.next_frame().copy() for _ in range(150)]) == (
        "#" * 20 + "." * 10 + "#" * 20 + "." * 100
    )


def test_generator_phase_is_continuous_across_frames() -> None:
    gen = ToneGenerator(TonePattern(freqs=(300.0,)))
    audio = np.concatenate([gen.next_frame() for _ in range(100)]).astype(np.float64)
    expected = np.rint(0.3 * 32767 * np.sin(2 * np.pi * 300 * np.arange(16000) / RATE))
    assert np.abs(audio - expected).max() <= 1


def test_non_repeating_pattern_ends_in_silence() -> None:
    gen = ToneGenerator(BEEP)
    frames = [gen.next_frame().copy() for _ in range(20)]
    assert gen.done
    assert _on_off(frames) == "#" * 13 + "." * 7  # 0.25 s = 12.5 frames
    assert int(np.abs(frames[12][:80]).max()) > 0 and not frames[12][80:].any()
    gen.reset()
    assert not gen.done


def test_frames_are_read_only_views() -> None:
    frame = ToneGenerator(ringback()).next_frame()
    with pytest.raises(ValueError):
        frame[0] = 1


def test_cadence_not_a_multiple_of_the_frame_is_padded() -> None:
    gen = ToneGenerator(TonePattern(freqs=(500.0,), cadence=((0.105, 0.1),)))
    frames = [gen.next_frame().copy() for _ in range(33)]
    # 0.205 s -> 1640 samples, padded to 11 frames: the cycle restarts at frame 11.
    assert _on_off(frames)[:11] == _on_off(frames)[11:22] == _on_off(frames)[22:]

"""Mixer matrices on real audio: each participant sends its own tone (and one sends speech),
the mixed output of each participant is analysed by FFT for exactly the tones it should hear."""

from __future__ import annotations

from collections.abc import Hashable

import numpy as np
import numpy.typing as npt
import pytest

from flowpbx.media.audiofile import builtin_sample_path, frames_of, load_audio
from flowpbx.media.g711 import get_codec
from flowpbx.media.mixer import FRAME, Mixer, SpyMode, apply_spy_mode
from flowpbx.media.tones import tone

TONES = {"agent": 500.0, "client": 900.0, "supervisor": 1300.0, "fourth": 1700.0}


def run(mixer: Mixer, sources: dict[Hashable, npt.NDArray[np.int16]]) -> dict[Hashable, np.ndarray]:
    """Feed every source frame by frame (as G.711 would deliver it) and collect outputs."""
    codec = get_codec("PCMU")
    framed = {k: frames_of(codec.decode(codec.encode(v))) for k, v in sources.items()}
    ticks = min(len(f) for f in framed.values())
    outs: dict[Hashable, list[np.ndarray]] = {k: [] for k in mixer.keys}
    for t in range(ticks):
        mixed = mixer.mix({k: f[t] for k, f in framed.items()})
        for k, frame in mixed.items():
            assert frame.dtype == np.int16 and frame.shape == (FRAME,)
            outs[k].append(frame)
    return {k: np.concatenate(v) for k, v in outs.items()}


def heard(samples: np.ndarray, candidates: dict[str, float]) -> set[str]:
    """Which candidate tones carry real energy: > 1 % of the strongest candidate's power
    and well above the floor between tones."""
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64) * np.hanning(samples.size))) ** 2
    freqs = np.fft.rfftfreq(samples.size, 1 / 8000)

    def band(f: float) -> float:
        return float(spectrum[(freqs > f - 15) & (freqs < f + 15)].sum())

    power = {name: band(f) for name, f in candidates.items()}
    total = float(spectrum.sum())
    if total == 0.0:
        return set()
    return {name for name, p in power.items() if p > 0.05 * total}


def sources(*names: str, seconds: float = 1.0) -> dict[Hashable, npt.NDArray[np.int16]]:
    return {n: tone([TONES[n]], seconds, amplitude=0.3) for n in names}


def test_two_party_each_hears_only_the_other() -> None:
    mixer = Mixer()
    mixer.add("agent")
    mixer.add("client")
    out = run(mixer, sources("agent", "client"))
    assert heard(out["agent"], TONES) == {"client"}
    assert heard(out["client"], TONES) == {"agent"}


def test_conference_of_four_hears_everybody_but_self() -> None:
    mixer = Mixer()
    names = ["agent", "client", "supervisor", "fourth"]
    for n in names:
        mixer.add(n)
    out = run(mixer, sources(*names))
    for n in names:
        assert heard(out[n], TONES) == set(names) - {n}, n


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        (
            SpyMode.LISTEN,
            {"agent": {"client"}, "client": {"agent"}, "supervisor": {"agent", "client"}},
        ),
        (
            SpyMode.WHISPER,
            {
                "agent": {"client", "supervisor"},
                "client": {"agent"},
                "supervisor": {"agent", "client"},
            },
        ),
        (
            SpyMode.BARGE,
            {
                "agent": {"client", "supervisor"},
                "client": {"agent", "supervisor"},
                "supervisor": {"agent", "client"},
            },
        ),
    ],
)
def test_spy_modes(mode: SpyMode, expected: dict[str, set[str]]) -> None:
    mixer = Mixer()
    mixer.add("agent")
    mixer.add("client")
    mixer.add("supervisor")
    apply_spy_mode(mixer, mode, agent="agent", client="client", supervisor="supervisor")
    out = run(mixer, sources("agent", "client", "supervisor"))
    for name, want in expected.items():
        assert heard(out[name], TONES) == want, (mode, name)


def test_switching_modes_between_ticks() -> None:
    mixer = Mixer()
    for n in ("agent", "client", "supervisor"):
        mixer.add(n)
    src = sources("agent", "client", "supervisor", seconds=0.5)
    apply_spy_mode(mixer, SpyMode.LISTEN, agent="agent", client="client", supervisor="supervisor")
    first = run(mixer, src)
    apply_spy_mode(mixer, SpyMode.BARGE, agent="agent", client="client", supervisor="supervisor")
    second = run(mixer, src)
    assert heard(first["client"], TONES) == {"agent"}
    assert heard(second["client"], TONES) == {"agent", "supervisor"}
    apply_spy_mode(mixer, SpyMode.WHISPER, agent="agent", client="client", supervisor="supervisor")
    third = run(mixer, src)
    assert heard(third["client"], TONES) == {"agent"}
    assert heard(third["agent"], TONES) == {"client", "supervisor"}


def test_speech_is_mixed_sample_exact() -> None:
    """A recorded prompt mixed with a tone: the listener gets exactly their sum."""
    speech = load_audio(builtin_sample_path("greeting"))[: 8000 * 2]
    music = tone([440.0], 2.0, amplitude=0.2)
    mixer = Mixer()
    mixer.add("a")
    mixer.add("b")
    mixer.add("listener", heard_by_all=False)
    n = min(speech.size, music.size) // FRAME * FRAME
    fa, fb = frames_of(speech[:n]), frames_of(music[:n])
    got = np.concatenate(
        [mixer.mix({"a": x, "b": y})["listener"] for x, y in zip(fa, fb, strict=True)]
    )
    want = np.clip(speech[:n].astype(np.int32) + music[:n].astype(np.int32), -32768, 32767)
    assert np.array_equal(got, want)
    # And a listener heard by none is heard by none.
    assert mixer.heard_by("listener") == []


def test_loud_parties_clip_instead_of_wrapping() -> None:
    mixer = Mixer()
    for n in ("a", "b", "c"):
        mixer.add(n)
    loud = np.full(FRAME, 30000, dtype=np.int16)
    out = mixer.mix({"a": loud, "b": loud, "c": -loud})
    assert (out["c"] == 32767).all()  # 60000 saturates, does not wrap to negative
    assert (out["a"] == 0).all()  # 30000 - 30000
    low = np.full(FRAME, -30000, dtype=np.int16)
    assert (mixer.mix({"a": low, "b": low})["c"] == -32768).all()


def test_missing_frames_are_silence_and_membership_changes() -> None:
    mixer = Mixer()
    mixer.add("a")
    mixer.add("b")
    frame = tone([700.0], 0.02, amplitude=0.3)
    out = mixer.mix({"a": frame, "b": None})
    assert np.array_equal(out["b"], frame) and not out["a"].any()
    mixer.add("c", hears_all=True, heard_by_all=False)
    assert mixer.hears("c", "a") and not mixer.hears("a", "c")
    mixer.remove("a")
    assert mixer.keys == ("b", "c") and "a" not in mixer
    out = mixer.mix({"a": frame, "b": frame})  # a is gone: its frame is ignored
    assert np.array_equal(out["c"], frame) and not out["b"].any()
    mixer.remove("nobody")
    with pytest.raises(ValueError):
        mixer.add("b")
    with pytest.raises(KeyError):
        mixer.set_hears("b", "zz")
    with pytest.raises(ValueError):
        mixer.mix({"b": np.zeros(80, dtype=np.int16)})
    assert Mixer().mix({}) == {}
    assert SpyMode.from_digit("5") is SpyMode.WHISPER and SpyMode.from_digit("7") is None

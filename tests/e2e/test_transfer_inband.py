"""`*2` from a phone that sends its keys in-band (SPEC §4, issue 8): extension 101 (a SIPp
UAS whose SDP has no telephone-event) answers a provider call, talks (its tone), keys
`*` `2` `1` `0` `2` as tone pairs in its audio, then talks again. 102 is no extension, so
after the 3 s pause the transfer attempt plays 101 the error and gives the call back. What
the provider received shows the keys were not relayed: no `2`, `1` or `0` pair at all and
only the detector's reaction time of the `*` pair, 101's tone before and after."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from flowpbx.media.tones import dtmf_tone
from tests.audio_analysis import (
    _udp_frame,
    describe,
    has_tone,
    tone,
    tone_segments,
    ulaw_encode,
    write_pcap,
)
from tests.e2e import transfer_support as xfer
from tests.e2e.conftest import Harness
from tests.e2e.sipp import Sipp
from tests.e2e.transfer_support import AGENT_HZ, ERROR_HZ

pytestmark = pytest.mark.e2e

ROWS = {"*": 941.0, "2": 697.0, "1": 697.0, "0": 941.0}
COLS = {"*": 1209.0, "2": 1336.0, "1": 1209.0, "0": 1336.0}
FRAME = 160  # 20 ms at 8 kHz: one RTP packet


def _agent_audio(pressed: str) -> npt.NDArray[np.int16]:
    """101's audio: its tone for 1.5 s, 0.5 s of silence, the keys `pressed` (120 ms each,
    80 ms apart), 0.3 s of silence, then its tone for 16 s."""
    gap = np.zeros(640, np.int16)
    keys: list[npt.NDArray[np.int16]] = []
    for i, key in enumerate(pressed):
        keys += [gap] if i else []
        keys.append(dtmf_tone(key, 0.12, amplitude=0.25))
    return np.concatenate(
        [
            tone(AGENT_HZ, 1.5),
            np.zeros(4000, np.int16),
            *keys,
            np.zeros(2400, np.int16),
            tone(AGENT_HZ, 16.0),
        ]
    )


def _pcap(path: Path, audio: npt.NDArray[np.int16]) -> Path:
    """`audio` as a PCMU RTP stream, one packet every 20 ms."""
    frames = []
    for i in range(audio.size // FRAME):
        rtp = struct.pack("!BBHII", 0x80, 0, (700 + i) & 0xFFFF, 16000 + FRAME * i, 0x1C0C0C0C)
        rtp += ulaw_encode(audio[FRAME * i : FRAME * (i + 1)])
        frames.append(
            (1_700_000_000.0 + 0.02 * i, _udp_frame(("10.0.0.1", 2), ("10.0.0.2", 4), rtp, i))
        )
    return write_pcap(path, frames)


def _power(frame: npt.NDArray[np.float64], freq: float) -> float:
    """A sinusoid's power A²/2 at `freq` in `frame` (a single-bin DFT)."""
    n = np.arange(frame.size)
    bin_ = np.dot(frame, np.exp(-2j * np.pi * freq * n / 8000.0))
    return float(abs(bin_) ** 2 * 2.0 / frame.size**2)


def _key_frames(samples: Any, key: str) -> int:
    """How many 20 ms frames carry `key`'s tone pair: both its tones strong (each at least a
    fifth of the frame's power) in a frame that is not silence."""
    x = np.asarray(samples, dtype=np.float64)
    found = 0
    for i in range(0, x.size - FRAME + 1, FRAME):
        frame = x[i : i + FRAME]
        total = float(np.mean(frame * frame))
        if total < 200.0**2:
            continue
        row, col = _power(frame, ROWS[key]), _power(frame, COLS[key])
        if row >= 0.2 * total and col >= 0.2 * total:
            found += 1
    return found


def _call(e2e: Harness, tag: str, pressed: str) -> tuple[Any, Any]:
    """A provider call answered by in-band 101, who keys `pressed` (`_agent_audio`); the
    provider hangs up after some 13 s. The server and what the provider received."""
    server, trunk_port = xfer.company(e2e, tag, tones={"invalid-number": ERROR_HZ})
    sent = _agent_audio(pressed)
    # The analysis sees every key in what 101 sends (6 frames of 20 ms each).
    assert all(_key_frames(sent, key) >= 5 for key in pressed), describe(sent)
    agent = e2e.adopt_sipp(
        Sipp(
            "uas_inband.xml",
            e2e.tmp_path,
            local_port=xfer.registered(e2e, server, "101", tag),
            service="101",
            variables={"answer_after_ms": 0},
            files={"inband.pcap": _pcap(e2e.tmp_path / "agent101-inband.pcap", sent)},
            name="agent101",
        )
    )
    agent.start()
    agent.wait_ready()
    provider = xfer.provider(e2e, server, trunk_port, talk_ms=13000)
    cap = e2e.capture("caller", [provider.media_port])
    provider.start()
    provider.check(timeout=40)  # the provider hangs up after ~13 s of talk
    agent.check(timeout=20)  # 101 got the BYE
    cap.stop()
    return server, cap.audio()


def test_inband_star2_keys_are_not_heard_by_the_other_party(e2e: Harness) -> None:
    server, heard = _call(e2e, "inband", "*2102")
    # The keys did not reach the provider: no 2, 1 or 0 at all, the * only for the
    # detector's reaction time (under 100 ms).
    assert {key: _key_frames(heard, key) for key in "210"} == {"2": 0, "1": 0, "0": 0}
    assert _key_frames(heard, "*") * 20 < 100, _key_frames(heard, "*")
    # 101 before its keys, hold audio during the attempt, 101 again once it failed.
    assert has_tone(heard, AGENT_HZ, 1.0), describe(heard)
    seconds, on_notes = xfer.hold_between_agent_runs(heard)
    assert seconds >= 3.0 and on_notes >= 0.5, (seconds, on_notes, describe(heard))
    assert xfer.ends_with_agent(heard), describe(heard)

    (row,) = server.history()
    transfers = xfer.transfers(row)
    assert [(t["to"], t["result"]) for t in transfers] == [("102", "unknown")], row["trace"]


def test_inband_lone_star_is_quiet_only_until_the_pause(e2e: Harness) -> None:
    """A `*` alone: the provider stops hearing 101 at the `*` and hears it again after the
    3 s pause (no transfer); the `*` leaks only for the detector's reaction time."""
    server, heard = _call(e2e, "lonestar", "*")
    assert _key_frames(heard, "*") * 20 < 100, _key_frames(heard, "*")
    segments = tone_segments(heard)
    on = [abs(seg.freq - AGENT_HZ) <= 15 for seg in segments]
    first_off = on.index(False)  # the * (or the silence before it): 101 no longer heard
    back = on.index(True, first_off)
    assert segments[first_off].start >= 0.5, describe(heard)  # 101 was heard before
    # 101's tone resumes 0.3 s after its `*` but stays unheard for the pause: a gap of
    # well over a second (0.5 s of it is 101's own silence), then 101 to the end.
    assert segments[back].start - segments[first_off].start >= 2.0, describe(heard)
    assert xfer.ends_with_agent(heard), describe(heard)
    (row,) = server.history()
    assert not xfer.transfers(row), row["trace"]

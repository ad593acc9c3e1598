"""Shared pieces of the transfer end-to-end tests (tests/e2e/test_transfer*.py).

A company whose provider calls (DID) all go to agent 101 (`company`), SIPp phones
registered from their own port (`registered`), the provider's call keying 5 (`provider`),
101 as a SIPp UAS sending its tone and pressing feature keys (`agent`), 103 as a baresip
target (`target`); the transfer records of a call-history row (`transfers`) and what the
caller heard around a transfer (`hold_between_agent_runs`, `ends_with_agent`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tests.audio_analysis import describe, make_tone_wav, tone_runs, tone_segments
from tests.e2e.baresip import Baresip
from tests.e2e.conftest import Harness
from tests.e2e.peers import tone_pcap
from tests.e2e.server import FlowpbxServer
from tests.e2e.sipp import Sipp, dtmf_pcap
from tests.netutil import free_udp_port

DID = "+37167000041"
AGENT_HZ = 1300.0
TARGET_HZ = 900.0
# The notes of the built-in "hold-music" arpeggio (C, F, G major; scripts/make_samples.py).
HOLD_NOTES = (261.63, 329.63, 392.0, 523.25, 349.23, 440.0, 698.46, 493.88, 587.33, 783.99)
ERROR_HZ = 2100.0  # "invalid-number", the transferer's error prompt
CALLER_HZ = 700.0  # extension 102 calling 101


def long_runs(samples: Any, min_s: float = 0.5) -> list[Any]:
    """Tone runs of *samples* at least *min_s* long."""
    return [r for r in tone_runs(tone_segments(samples), tolerance_hz=15) if r.duration >= min_s]


def hold_between_agent_runs(heard: Any) -> tuple[float, float]:
    """The stretch between 101's first and last tone runs (the caller on hold): its length
    in seconds and the share of its power on the hold music's notes (and their octaves)."""
    runs = [r for r in long_runs(heard) if abs(r.freq - AGENT_HZ) <= 15]
    assert len(runs) >= 2, describe(heard)
    start = int((runs[0].start + runs[0].duration + 0.1) * 8000)
    end = int((runs[-1].start - 0.1) * 8000)
    gap = heard[start:end].astype(np.float64)
    if gap.size < 800:
        return 0.0, 0.0
    power = np.abs(np.fft.rfft(gap * np.hanning(gap.size))) ** 2
    freqs = np.fft.rfftfreq(gap.size, 1 / 8000)
    on_notes = np.zeros(freqs.size, dtype=bool)
    for f in HOLD_NOTES:
        on_notes |= (np.abs(freqs - f) < 8) | (np.abs(freqs - 2 * f) < 12)
    return gap.size / 8000, float(power[on_notes].sum() / max(power.sum(), 1.0))


def ends_with_agent(heard: Any) -> bool:
    """Whether 101's tone runs until the end of what the caller heard."""
    return ends_with(heard, AGENT_HZ)


def ends_with(heard: Any, hz: float, min_s: float = 0.5) -> bool:
    """Whether a tone of *hz* (at least *min_s* long) runs until the end of *heard*."""
    end = len(heard) / 8000
    return any(
        abs(r.freq - hz) <= 15 and r.start + r.duration >= end - 0.6
        for r in long_runs(heard, min_s)
    )


def company(
    e2e: Harness,
    tag: str,
    *,
    agent_node: dict[str, Any] | None = None,
    extensions: tuple[str, ...] = ("101", "103"),
    tones: dict[str, float] | None = None,
    extra_env: dict[str, str] | None = None,
) -> tuple[FlowpbxServer, int]:
    """Extensions 101 (the agent) and 103 (the target), a trunk, and a flow that gives every
    provider call to 101 (`agent_node`, default a `call_sip` to 101); `tag` keeps passwords
    and names apart per test. `tones`: library audio names played as tones of those
    frequencies (to tell prompts apart by FFT)."""
    trunk_port = free_udp_port()
    server = FlowpbxServer(e2e.tmp_path, None, extra_env=extra_env)
    audio = []
    for name, hz in (tones or {}).items():
        make_tone_wav(server.config_file(f"prompts/{name}.wav"), hz, 2.5)
        audio.append({"name": name, "file": f"prompts/{name}.wav"})
    server.config = {
        "extensions": [
            {"number": ext, "name": f"Ext {ext}", "password": f"pw-long-{ext}-{tag}"}
            for ext in extensions
        ],
        "trunks": [{"name": "provider", "host": "127.0.0.1", "port": trunk_port}],
        "numbers": [{"number": DID, "trunk": "provider"}],
        "audio": audio,
        "flows": [
            {
                "name": tag,
                "entry": "start",
                "nodes": {
                    "start": {
                        "type": "numbers",
                        "params": {"numbers": [DID]},
                        "next": {"next": "agent"},
                    },
                    "agent": agent_node or {"type": "call_sip", "params": {"extension": "101"}},
                },
            }
        ],
    }
    e2e.adopt(server)
    server.start()
    return server, trunk_port


def registered(e2e: Harness, server: FlowpbxServer, ext: str, tag: str) -> int:
    """Register `ext` from a fresh port with SIPp; the port for the SIPp phone to answer on."""
    port = free_udp_port()
    e2e.register(
        server.sip, ext=ext, password=f"pw-long-{ext}-{tag}", local_port=port, name=f"reg{ext}"
    ).start().check(timeout=15)
    return port


def provider(e2e: Harness, server: FlowpbxServer, trunk_port: int, **kw: Any) -> Sipp:
    """The provider's call to DID, keying 5 in the menu (to agent 101), adopted by the harness."""
    return e2e.provider(server.sip, trunk_port, did=DID, digit="5", dtmf_at_ms=200, **kw)


def agent(
    e2e: Harness,
    port: int,
    keys: str,
    hangup_after_ms: int,
    ssrcs: tuple[int, int],
    tone2_s: float = 12.0,
    scenario: str = "uas_transfer.xml",
    more_files: dict[str, Path] | None = None,
) -> Sipp:
    """SIPp as 101 on *port* (started, ready): answers, sends its tone (1.2 s, then
    *tone2_s*, SSRCs *ssrcs*), presses `keys` (RFC 4733), talks on for `hangup_after_ms` and
    hangs up (*scenario*, uas_transfer.xml; *more_files* for its further keys)."""
    sipp = e2e.adopt_sipp(
        Sipp(
            scenario,
            e2e.tmp_path,
            local_port=port,
            service="101",
            variables={"answer_after_ms": 0, "hangup_after_ms": hangup_after_ms},
            files={
                "uas_tone.pcap": tone_pcap(AGENT_HZ, 1.2, ssrc=ssrcs[0]),
                "uas_tone2.pcap": tone_pcap(AGENT_HZ, tone2_s, ssrc=ssrcs[1]),
                **{f"key_{i}.pcap": dtmf_pcap(d) for i, d in enumerate(keys, start=1)},
                **(more_files or {}),
            },
            name="agent101",
        )
    )
    sipp.start()
    sipp.wait_ready()
    return sipp


def target(e2e: Harness, server: FlowpbxServer, tag: str, name: str, **kw: Any) -> Baresip:
    """Extension 103 on baresip sending TARGET_HZ, registered."""
    phone = e2e.baresip(
        name=name,
        user="103",
        password=f"pw-long-103-{tag}",
        registrar=server.sip,
        tone_hz=TARGET_HZ,
        **kw,
    )
    phone.wait_registered(10)
    return phone


def transfers(row: dict[str, Any]) -> list[dict[str, Any]]:
    """The facts of each transfer in a call-history row's trace."""
    return [e["facts"] for e in row["trace"] if e.get("type") == "transfer"]


def row_transfers(server: FlowpbxServer) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The one finished call's history row and its transfers."""
    (row,) = server.history()
    return row, transfers(row)

"""More `*2` attended-transfer paths on live calls (SPEC §4), next to test_transfer.py: the
target not answering in time, hanging up during the consultation (in which 101 hears it),
and an unknown number all give the transferer the caller back; a call that came from a
queue and a call between two extensions are transferred like a trunk call. The error prompt
is library audio replaced by a tone here, and the built-in hold music is a melody of known
notes, so the captures tell by FFT who heard what."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest

from tests.audio_analysis import describe, tone_order, tone_runs, tone_segments
from tests.e2e.conftest import Harness
from tests.e2e.peers import PROVIDER_TONE_HZ, tone_pcap, uas_extension
from tests.e2e.sipp import Sipp, dtmf_pcap
from tests.e2e.test_transfer import (
    AGENT_HZ,
    TARGET_HZ,
    _company,
    _has_tone,
    _provider,
    _registered,
)

pytestmark = pytest.mark.e2e

# The notes of the built-in "hold-music" arpeggio (C, F, G major; scripts/make_samples.py).
HOLD_NOTES = (261.63, 329.63, 392.0, 523.25, 349.23, 440.0, 698.46, 493.88, 587.33, 783.99)
ERROR_HZ = 2100.0  # "invalid-number", the transferer's error prompt
CALLER_HZ = 700.0  # extension 102 calling 101


def _runs(samples: Any, min_s: float = 0.5) -> list[Any]:
    return [r for r in tone_runs(tone_segments(samples), tolerance_hz=15) if r.duration >= min_s]


def _agent(e2e: Harness, port: int, keys: str, hangup_after_ms: int, seed: int) -> Sipp:
    """SIPp as 101: answers, sends its tone, presses `keys` (RFC 4733), talks on for
    `hangup_after_ms` and hangs up (uas_transfer.xml)."""
    agent = e2e.adopt_sipp(
        Sipp(
            "uas_transfer.xml",
            e2e.tmp_path,
            local_port=port,
            service="101",
            variables={"answer_after_ms": 0, "hangup_after_ms": hangup_after_ms},
            files={
                "uas_tone.pcap": tone_pcap(AGENT_HZ, 1.2, ssrc=seed),
                "uas_tone2.pcap": tone_pcap(AGENT_HZ, 12.0, ssrc=seed + 1),
                **{f"key_{i}.pcap": dtmf_pcap(d) for i, d in enumerate(keys, start=1)},
            },
            name="agent101",
        )
    )
    agent.start()
    agent.wait_ready()
    return agent


def _row_transfers(server: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    (row,) = server.history()
    return row, [e["facts"] for e in row["trace"] if e.get("type") == "transfer"]


def _hold_between_agent_runs(heard: Any) -> tuple[float, float]:
    """The stretch between 101's first and last tone runs (the caller on hold): its length
    in seconds and the share of its power on the hold music's notes (and their octaves)."""
    runs = [r for r in _runs(heard) if abs(r.freq - AGENT_HZ) <= 15]
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


def _ends_with_agent(heard: Any) -> bool:
    end = len(heard) / 8000
    return any(
        abs(r.freq - AGENT_HZ) <= 15 and r.start + r.duration >= end - 0.6 for r in _runs(heard)
    )


def test_star2_target_not_answering_gives_the_caller_back(e2e: Harness) -> None:
    """103 rings without answering: after the transfer ring time (FLOWPBX_TRANSFER_RING_S,
    4 s here; 20 s by default) 103 is cancelled and 101 talks to the caller again, who heard
    hold audio meanwhile."""
    server, trunk_port = _company(e2e, "noans", extra_env={"FLOWPBX_TRANSFER_RING_S": "4"})
    ring_port = _registered(e2e, server, "103", "noans")
    ringing = e2e.adopt_sipp(
        Sipp("uas_ring_cancel.xml", e2e.tmp_path, local_port=ring_port, service="103",
             name="ring103")
    )  # fmt: skip
    ringing.start()
    ringing.wait_ready()
    agent = _agent(e2e, _registered(e2e, server, "101", "noans"), "*2103#", 7000, 0x1A1A0000)
    provider = _provider(e2e, server, trunk_port, hangup_expected=True)
    cap = e2e.capture("caller", [provider.media_port])
    provider.start()
    ringing.check(timeout=30)  # 103 rang and was cancelled (CANCEL, 487)
    agent.check(timeout=30)
    provider.check(timeout=30)  # the call ends when 101 hangs up
    cap.stop()
    heard = cap.audio()
    # 101, hold music while 103 rang (4 s), then 101 again after the ring time
    seconds, on_notes = _hold_between_agent_runs(heard)
    assert seconds >= 3.0 and on_notes >= 0.5, (seconds, on_notes, describe(heard))
    assert _ends_with_agent(heard), describe(heard)
    _, transfers = _row_transfers(server)
    assert [t["result"] for t in transfers] == ["not answered"], transfers


def test_star2_target_hanging_up_gives_the_caller_back(e2e: Harness) -> None:
    """103 answers, talks to 101 and hangs up: 101 talks to the caller again."""
    server, trunk_port = _company(e2e, "tgthup")
    target_port = _registered(e2e, server, "103", "tgthup")
    target = e2e.adopt_sipp(
        uas_extension(e2e.tmp_path, ext="103", tone_hz=TARGET_HZ, local_port=target_port,
                      hangup_after_ms=2000, name="hup103")
    )  # fmt: skip
    target.start()
    target.wait_ready()
    agent = _agent(e2e, _registered(e2e, server, "101", "tgthup"), "*2103#", 6000, 0x7A7A0000)
    provider = _provider(e2e, server, trunk_port, hangup_expected=True)
    cap = e2e.capture("caller", [provider.media_port])
    agent_cap = e2e.capture("agent", [agent.media_port])
    provider.start()
    target.check(timeout=30)  # 103 answered and hung up
    agent.check(timeout=30)
    provider.check(timeout=30)
    cap.stop()
    agent_cap.stop()
    heard_by_agent = agent_cap.audio()
    order = tone_order(heard_by_agent, [PROVIDER_TONE_HZ, TARGET_HZ], tolerance_hz=15)
    assert order == [PROVIDER_TONE_HZ, TARGET_HZ, PROVIDER_TONE_HZ], describe(heard_by_agent)
    heard = cap.audio()
    assert not any(abs(r.freq - TARGET_HZ) <= 15 for r in _runs(heard)), describe(heard)
    assert _ends_with_agent(heard), describe(heard)
    _, transfers = _row_transfers(server)
    assert [t["result"] for t in transfers] == ["target hung up"], transfers


def test_star2_unknown_number_plays_an_error_and_returns(e2e: Harness) -> None:
    """*2104# (no such extension): 101 hears the error prompt (and not the caller), the
    caller hears hold audio meanwhile (and not the prompt), then the two talk again."""
    server, trunk_port = _company(e2e, "unknown", tones={"invalid-number": ERROR_HZ})
    agent = _agent(e2e, _registered(e2e, server, "101", "unknown"), "*2104#", 5000, 0x2B2B0000)
    provider = _provider(e2e, server, trunk_port, hangup_expected=True)
    cap = e2e.capture("caller", [provider.media_port])
    agent_cap = e2e.capture("agent", [agent.media_port])
    provider.start()
    agent.check(timeout=30)
    provider.check(timeout=30)
    cap.stop()
    agent_cap.stop()
    heard_by_agent = agent_cap.audio()
    order = tone_order(heard_by_agent, [PROVIDER_TONE_HZ, ERROR_HZ], tolerance_hz=15)
    # the caller, the error alone, then the caller again
    assert order == [PROVIDER_TONE_HZ, ERROR_HZ, PROVIDER_TONE_HZ], describe(heard_by_agent)
    assert _has_tone(heard_by_agent, ERROR_HZ, 2.0), describe(heard_by_agent)
    heard = cap.audio()
    assert not any(abs(r.freq - ERROR_HZ) <= 15 for r in _runs(heard, 0.2)), describe(heard)
    seconds, on_notes = _hold_between_agent_runs(heard)  # hold music during the prompt
    assert seconds >= 1.5 and on_notes >= 0.5, (seconds, on_notes, describe(heard))
    assert _ends_with_agent(heard), describe(heard)
    _, transfers = _row_transfers(server)
    assert [(t["to"], t["result"]) for t in transfers] == [("104", "unknown")], transfers


def test_star2_transfers_a_call_that_came_from_a_queue(e2e: Harness) -> None:
    """The provider's call waits in a queue whose member 101 answers; 101 transfers it to
    103 with *2103# and hangs up: the provider and 103 talk."""
    queue = {"type": "queue", "params": {"members": [{"extension": "101"}]}}
    server, trunk_port = _company(e2e, "queue", agent_node=queue)
    target = e2e.baresip(
        name="q103",
        user="103",
        password="pw-long-103-queue",
        registrar=server.sip,
        tone_hz=TARGET_HZ,
    )
    target.wait_registered(10)
    agent = _agent(e2e, _registered(e2e, server, "101", "queue"), "*2103#", 2500, 0x3C3C0000)
    provider = _provider(e2e, server, trunk_port, talk_ms=12000)
    cap = e2e.capture("caller", [provider.media_port])
    provider.start()
    target.wait_event("CALL_ESTABLISHED", timeout=20)
    agent.check(timeout=30)  # 101 hung up: the transfer completes
    provider.check(timeout=40)
    target.wait_event("CALL_CLOSED", timeout=10)
    cap.stop()
    heard = cap.audio()
    assert tone_order(heard, [AGENT_HZ, TARGET_HZ], tolerance_hz=15) == [AGENT_HZ, TARGET_HZ], (
        describe(heard)
    )
    assert _has_tone(heard, TARGET_HZ, 3.0), describe(heard)
    _, heard_by_target = target.received_wav()
    assert _has_tone(heard_by_target, PROVIDER_TONE_HZ, 3.0), describe(heard_by_target)
    row, transfers = _row_transfers(server)
    assert [(t["to"], t["result"]) for t in transfers] == [("103", "completed")], row["trace"]
    assert any(e.get("type") == "queue" for e in row["trace"]), row["trace"]


def test_star2_transfers_a_call_between_two_extensions(e2e: Harness) -> None:
    """102 (baresip) calls 101, who transfers it to 103 with *2103# and hangs up: 102 and
    103 talk; the internal call's history row shows the transfer."""
    server, _ = _company(e2e, "internal", extensions=("101", "102", "103"))
    target = e2e.baresip(
        name="i103", user="103", password="pw-long-103-internal", registrar=server.sip,
        tone_hz=TARGET_HZ,
    )  # fmt: skip
    target.wait_registered(10)
    agent = _agent(e2e, _registered(e2e, server, "101", "internal"), "*2103#", 2500, 0x4D4D0000)
    caller = e2e.baresip(
        name="i102", user="102", password="pw-long-102-internal", registrar=server.sip,
        tone_hz=CALLER_HZ,
    )  # fmt: skip
    caller.wait_registered(10)
    host, port = server.sip
    caller.dial(f"sip:101@{host}:{port}")
    caller.wait_event("CALL_ESTABLISHED", timeout=15)
    target.wait_event("CALL_ESTABLISHED", timeout=20)  # 101 pressed *2103#
    agent.check(timeout=30)  # 101 hung up: 102 and 103 are connected
    time.sleep(4.0)  # 102 and 103 talk
    caller.hangup()
    caller.wait_event("CALL_CLOSED", timeout=10)
    target.wait_event("CALL_CLOSED", timeout=10)
    _, heard_by_caller = caller.received_wav()
    order = tone_order(heard_by_caller, [AGENT_HZ, TARGET_HZ], tolerance_hz=15)
    assert order == [AGENT_HZ, TARGET_HZ], describe(heard_by_caller)
    assert _has_tone(heard_by_caller, TARGET_HZ, 3.0), describe(heard_by_caller)
    _, heard_by_target = target.received_wav()
    assert _has_tone(heard_by_target, CALLER_HZ, 3.0), describe(heard_by_target)
    row, transfers = _row_transfers(server)
    assert row["did"] == "101", row
    assert [(t["by"], t["to"], t["result"]) for t in transfers] == [("101", "103", "completed")]

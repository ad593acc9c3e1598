"""`*2` attended transfer on a live call (SPEC §4): a provider call (SIPp) answered by
extension 101 (a SIPp UAS that presses *2103# as RFC 4733 events and then hangs up) ends up
connecting the provider with 103 (baresip); the keys never reach the provider. (103, not
102: SIPp's bundled key captures repeat their RTP timestamps, so the same key twice in a row
would look like one press.)"""

from __future__ import annotations

from typing import Any

import pytest

from tests.audio_analysis import (
    describe,
    make_tone_wav,
    rtp_events,
    tone_order,
    tone_runs,
    tone_segments,
)
from tests.e2e.conftest import Harness
from tests.e2e.peers import (
    PROVIDER_TONE_HZ,
    dtmf_pcap_shifted,
    provider_call,
    register,
    tone_pcap,
)
from tests.e2e.server import FlowpbxServer
from tests.e2e.sipp import Sipp, dtmf_pcap
from tests.netutil import free_udp_port

pytestmark = pytest.mark.e2e

DID = "+37167000041"
AGENT_HZ = 1300.0
TARGET_HZ = 900.0


def _has_tone(samples: Any, freq: float, min_seconds: float) -> bool:
    runs = tone_runs(tone_segments(samples), tolerance_hz=15)
    return any(abs(r.freq - freq) <= 15 and r.duration >= min_seconds for r in runs)


def _company(
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


def _registered(e2e: Harness, server: FlowpbxServer, ext: str, tag: str) -> int:
    """Register `ext` from a fresh port with SIPp; the port for the SIPp phone to answer on."""
    port = free_udp_port()
    e2e.adopt_sipp(
        register(
            e2e.tmp_path,
            registrar=server.sip,
            ext=ext,
            password=f"pw-long-{ext}-{tag}",
            local_port=port,
            name=f"reg{ext}",
        )
    ).start().check(timeout=15)
    return port


def _provider(e2e: Harness, server: FlowpbxServer, trunk_port: int, **kw: Any) -> Sipp:
    """The provider's call to DID, keying 5 in the menu (to agent 101), adopted by the harness."""
    return e2e.adopt_sipp(
        provider_call(
            e2e.tmp_path,
            pbx=server.sip,
            trunk_port=trunk_port,
            did=DID,
            digit="5",
            dtmf_at_ms=200,
            **kw,
        )
    )


def test_star2_attended_transfer_connects_caller_and_target(e2e: Harness) -> None:
    server, trunk_port = _company(e2e, "xfer")
    target = e2e.baresip(
        name="t103",
        user="103",
        password="pw-long-103-xfer",
        registrar=server.sip,
        tone_hz=TARGET_HZ,
    )
    target.wait_registered(10)
    agent_port = _registered(e2e, server, "101", "xfer")
    keys = {f"key_{i}.pcap": dtmf_pcap(d) for i, d in enumerate("*2103#", start=1)}
    agent = e2e.adopt_sipp(
        Sipp(
            "uas_transfer.xml",
            e2e.tmp_path,
            local_port=agent_port,
            service="101",
            variables={"answer_after_ms": 0, "hangup_after_ms": 2500},
            files={
                "uas_tone.pcap": tone_pcap(AGENT_HZ, 1.2, ssrc=0x11110000),
                "uas_tone2.pcap": tone_pcap(AGENT_HZ, 10.0, ssrc=0x22220000),
                **keys,
            },
            name="agent101",
        )
    )
    agent.start()
    agent.wait_ready()
    provider = _provider(e2e, server, trunk_port, talk_ms=11000)
    cap = e2e.capture("caller", [provider.media_port])
    provider.start()
    target.wait_event("CALL_ESTABLISHED", timeout=20)  # 101 pressed *2103#: 103 rings
    agent.check(timeout=30)  # 101 hung up: transfer completes
    provider.check(timeout=40)
    target.wait_event("CALL_CLOSED", timeout=10)
    cap.stop()

    heard = cap.audio()
    order = tone_order(heard, [AGENT_HZ, TARGET_HZ], tolerance_hz=15)
    assert order == [AGENT_HZ, TARGET_HZ], describe(heard)
    assert _has_tone(heard, TARGET_HZ, 3.0), describe(heard)
    # The feature keys were not relayed to the caller.
    events = rtp_events(cap.rtp(), payload_type=101)
    assert not events, events
    _, heard_by_target = target.received_wav()
    assert _has_tone(heard_by_target, PROVIDER_TONE_HZ, 3.0), describe(heard_by_target)
    assert _has_tone(heard_by_target, AGENT_HZ, 0.5), describe(heard_by_target)

    (row,) = server.history()
    transfers = [e for e in row["trace"] if e.get("type") == "transfer"]
    assert transfers and transfers[0]["facts"]["to"] == "103", row["trace"]
    assert transfers[0]["facts"]["result"] == "completed", row["trace"]


def test_refer_blind_transfer_from_the_phone_button(e2e: Harness) -> None:
    server, trunk_port = _company(e2e, "refer")
    target = e2e.baresip(
        name="b103",
        user="103",
        password="pw-long-103-refer",
        registrar=server.sip,
        tone_hz=TARGET_HZ,
    )
    target.wait_registered(10)
    agent_port = _registered(e2e, server, "101", "refer")
    agent = e2e.adopt_sipp(
        Sipp(
            "uas_refer.xml",
            e2e.tmp_path,
            local_port=agent_port,
            service="101",
            variables={"answer_after_ms": 0, "hangup_after_ms": 0},
            keys={"refer_to": f"103@{server.sip[0]}:{server.sip[1]}"},
            files={"uas_tone.pcap": tone_pcap(AGENT_HZ, 10.0, ssrc=0x33330000)},
            name="agent101",
        )
    )
    agent.start()
    agent.wait_ready()
    provider = _provider(e2e, server, trunk_port, talk_ms=8000)
    cap = e2e.capture("caller", [provider.media_port])
    provider.start()
    target.wait_event("CALL_ESTABLISHED", timeout=20)
    agent.check(timeout=30)  # 202, NOTIFY 100, NOTIFY 200, BYE
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
    (row,) = server.history()
    transfers = [e for e in row["trace"] if e.get("type") == "transfer"]
    assert transfers and transfers[0]["facts"]["kind"] == "blind", row["trace"]
    assert transfers[0]["facts"]["result"] == "completed", row["trace"]


def test_star1_aborts_the_transfer_and_returns_the_caller(e2e: Harness) -> None:
    """*2103#, 103 answers, then *1: 103 is hung up and 101 talks to the caller again."""
    server, trunk_port = _company(e2e, "abort")
    target = e2e.baresip(
        name="a103",
        user="103",
        password="pw-long-103-abort",
        registrar=server.sip,
        tone_hz=TARGET_HZ,
    )
    target.wait_registered(10)
    agent_port = _registered(e2e, server, "101", "abort")
    keys = {f"key_{i}.pcap": dtmf_pcap(d) for i, d in enumerate("*2103#", start=1)}
    # *1 again: the same bundled captures would repeat their timestamps (one press to RFC 4733)
    keys["key_7.pcap"] = dtmf_pcap_shifted("*", 400_000)
    keys["key_8.pcap"] = dtmf_pcap_shifted("1", 400_000)
    agent = e2e.adopt_sipp(
        Sipp(
            "uas_transfer_abort.xml",
            e2e.tmp_path,
            local_port=agent_port,
            service="101",
            variables={"answer_after_ms": 0, "hangup_after_ms": 2500},
            files={
                "uas_tone.pcap": tone_pcap(AGENT_HZ, 1.2, ssrc=0x44440000),
                "uas_tone2.pcap": tone_pcap(AGENT_HZ, 10.0, ssrc=0x55550000),
                **keys,
            },
            name="agent101",
        )
    )
    agent.start()
    agent.wait_ready()
    provider = _provider(e2e, server, trunk_port, hangup_expected=True)
    cap = e2e.capture("caller", [provider.media_port])
    provider.start()
    target.wait_event("CALL_ESTABLISHED", timeout=20)
    target.wait_event("CALL_CLOSED", timeout=15)  # *1: the target is hung up
    agent.check(timeout=30)
    provider.check(timeout=30)  # the call ends when 101 hangs up
    cap.stop()

    heard = cap.audio()
    runs = [r for r in tone_runs(tone_segments(heard), tolerance_hz=15) if r.duration >= 0.5]
    agent_runs = [r for r in runs if abs(r.freq - AGENT_HZ) <= 15]
    assert len(agent_runs) >= 2, describe(heard)  # 101 before the transfer and after *1
    assert not any(abs(r.freq - TARGET_HZ) <= 15 for r in runs), describe(heard)
    (row,) = server.history()
    transfers = [e for e in row["trace"] if e.get("type") == "transfer"]
    assert transfers and transfers[0]["facts"]["result"] == "aborted", row["trace"]


def test_busy_target_gives_the_transferer_the_caller_back(e2e: Harness) -> None:
    """*2103# while 103 is busy (486): 101 gets the caller back, nothing is transferred."""
    server, trunk_port = _company(e2e, "busy")
    busy_port = _registered(e2e, server, "103", "busy")
    busy = e2e.adopt_sipp(
        Sipp("uas_busy.xml", e2e.tmp_path, local_port=busy_port, service="103", name="busy103")
    )
    busy.start()
    busy.wait_ready()
    agent_port = _registered(e2e, server, "101", "busy")
    keys = {f"key_{i}.pcap": dtmf_pcap(d) for i, d in enumerate("*2103#", start=1)}
    agent = e2e.adopt_sipp(
        Sipp(
            "uas_transfer.xml",
            e2e.tmp_path,
            local_port=agent_port,
            service="101",
            variables={"answer_after_ms": 0, "hangup_after_ms": 2500},
            files={
                "uas_tone.pcap": tone_pcap(AGENT_HZ, 1.2, ssrc=0x66660000),
                "uas_tone2.pcap": tone_pcap(AGENT_HZ, 10.0, ssrc=0x77770000),
                **keys,
            },
            name="agent101",
        )
    )
    agent.start()
    agent.wait_ready()
    provider = _provider(e2e, server, trunk_port, hangup_expected=True)
    cap = e2e.capture("caller", [provider.media_port])
    provider.start()
    busy.check(timeout=20)  # 103 was rung and said busy
    agent.check(timeout=30)
    provider.check(timeout=30)
    cap.stop()
    heard = cap.audio()
    # The caller still (again) hears 101 at the end of the call, after the failed transfer.
    runs = [r for r in tone_runs(tone_segments(heard), tolerance_hz=15) if r.duration >= 0.5]
    end = len(heard) / 8000
    assert any(abs(r.freq - AGENT_HZ) <= 15 and r.start + r.duration >= end - 0.5 for r in runs), (
        describe(heard)
    )
    (row,) = server.history()
    transfers = [e for e in row["trace"] if e.get("type") == "transfer"]
    assert transfers and transfers[0]["facts"]["result"] == "not answered", row["trace"]

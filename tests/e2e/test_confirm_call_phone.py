"""`call_phone` with `confirm` (SPEC §3, issue "Every call-flow element live"): the callee,
a SIPp mobile behind the provider, hears "press 1 to accept"; only after its RFC 4733 "1"
is the caller bridged. Another key, or none, takes `no_answer` (so a mobile's voicemail
answering does not count as answered).

The mobile sends one tone before its key (what a voicemail greeting would be) and another
after it: the caller must hear only the second."""

from __future__ import annotations

from typing import Any

import pytest

from tests.audio_analysis import describe, find_audio, has_tone, system_prompt
from tests.e2e.conftest import Harness
from tests.e2e.peers import (
    PROVIDER_TONE_HZ,
    company,
    flow,
    provider_media,
    tone_audio,
    trace_output,
)
from tests.e2e.server import FlowpbxServer
from tests.e2e.sipp import Sipp
from tests.netutil import free_udp_port

pytestmark = pytest.mark.e2e

DID = "+37167000091"
MOBILE = "+37129999991"
BEFORE_KEY_HZ = 1300.0  # the mobile before its key
AFTER_KEY_HZ = 1500.0  # the mobile after its key
NO_ANSWER_HZ = 1150.0  # the flow's no_answer branch


def _mobile(e2e: Harness, port: int, digit: str, name: str) -> Sipp:
    media = provider_media(digit, 2500, BEFORE_KEY_HZ, post_tone_hz=AFTER_KEY_HZ)
    sipp = Sipp(
        "uas_confirm.xml",
        e2e.tmp_path,
        local_port=port,
        service=MOBILE,
        variables={"dtmf_at_ms": 2500},
        files=media,
        name=name,
    )
    return e2e.adopt_sipp(sipp)


def _caller(e2e: Harness, server: FlowpbxServer, port: int, name: str, **kw: Any) -> Sipp:
    return e2e.provider(server.sip, port, did=DID, dtmf_at_ms=300, name=name, **kw)


def test_confirm_bridges_only_after_the_callee_presses_1(e2e: Harness) -> None:
    out_port, in_port = free_udp_port(), free_udp_port()
    server = FlowpbxServer(e2e.tmp_path, None)
    company(
        server,
        trunk_ports=[out_port, in_port],  # the DID (and so calls out) on the first
        audio=[tone_audio(server, "noanswer-tone", NO_ANSWER_HZ, 1.5)],
        flows=[
            flow(
                "Confirm",
                [DID],
                {
                    "main": {
                        "type": "call_phone",
                        "params": {
                            "number": MOBILE,
                            "ring_timeout_s": 10,
                            "caller_id": "did",
                            "confirm": True,
                        },
                        "next": {"no_answer": "sorry"},
                    },
                    "sorry": {"type": "play", "params": {"audio": "noanswer-tone"}},
                },
            )
        ],
    )
    e2e.adopt(server)
    server.start()

    # 1 pressed: bridged, and only what the mobile sends after the key reaches the caller.
    mobile = _mobile(e2e, out_port, "1", "mobile1").start()
    mobile.wait_ready()
    caller = _caller(e2e, server, in_port, "caller1", talk_ms=4000)
    heard_by_mobile = e2e.capture("mobile1", [mobile.media_port])
    heard_by_caller = e2e.capture("caller1", [caller.media_port])
    caller.start()
    caller.check(timeout=60)
    mobile.check(timeout=20)
    heard_by_mobile.stop()
    heard_by_caller.stop()
    mobile_audio = heard_by_mobile.audio()
    caller_audio = heard_by_caller.audio()
    # the key cuts the prompt short: look for its first 1.5 s
    score, at = find_audio(mobile_audio, system_prompt("confirm-call")[:12000])
    assert score > 0.8, (score, describe(mobile_audio))
    assert has_tone(mobile_audio[at:], PROVIDER_TONE_HZ, 1.5), describe(mobile_audio)
    assert has_tone(caller_audio, AFTER_KEY_HZ, 1.5), describe(caller_audio)
    assert not has_tone(caller_audio, BEFORE_KEY_HZ, 0.3), describe(caller_audio)

    # Another key: refused, the caller takes no_answer and never hears the mobile.
    mobile = _mobile(e2e, out_port, "2", "mobile2").start()
    mobile.wait_ready()
    caller = _caller(e2e, server, in_port, "caller2", hangup_expected=True)
    heard_by_caller = e2e.capture("caller2", [caller.media_port])
    caller.start()
    caller.check(timeout=60)
    mobile.check(timeout=20)
    heard_by_caller.stop()
    caller_audio = heard_by_caller.audio()
    assert has_tone(caller_audio, NO_ANSWER_HZ, 1.0), describe(caller_audio)
    for hz in (BEFORE_KEY_HZ, AFTER_KEY_HZ):
        assert not has_tone(caller_audio, hz, 0.3), describe(caller_audio)

    # No key at all (the mobile's voicemail answered): no_answer after the wait.
    silent = e2e.uas(ext=MOBILE, tone_hz=BEFORE_KEY_HZ, local_port=out_port).start()
    silent.wait_ready()
    caller = _caller(e2e, server, in_port, "caller3", hangup_expected=True)
    heard_by_caller = e2e.capture("caller3", [caller.media_port])
    caller.start()
    caller.check(timeout=60)
    silent.check(timeout=20)
    heard_by_caller.stop()
    caller_audio = heard_by_caller.audio()
    assert has_tone(caller_audio, NO_ANSWER_HZ, 1.0), describe(caller_audio)
    assert not has_tone(caller_audio, BEFORE_KEY_HZ, 0.3), describe(caller_audio)

    server.wait_rows("SELECT * FROM call_history WHERE outcome != 'in_progress'", count=3)
    rows = server.history()
    assert [trace_output(r, "main") for r in rows] == ["answered", "no_answer", "no_answer"], [
        r["trace"] for r in rows
    ]
    assert rows[0]["answered_by"] == MOBILE, rows[0]

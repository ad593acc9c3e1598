"""`call_phone` passes the far end's early media to the caller (SPEC §3, issue "Every
call-flow element live": "ringback/early media passed to the caller"): a SIPp provider
answers 183 with SDP and sends an announcement tone, then answers with another tone. The
caller hears the announcement before the answer — whether the flow had answered it already
(the announcement replaces flowpbx's ringback) or not (flowpbx sends 183 itself)."""

from __future__ import annotations

import pytest

from tests.audio_analysis import describe, has_tone, tone_order
from tests.e2e.conftest import Harness
from tests.e2e.peers import company, flow, tone_audio, tone_pcap, trace_output
from tests.e2e.server import FlowpbxServer
from tests.e2e.sipp import Sipp
from tests.netutil import free_udp_port

pytestmark = pytest.mark.e2e

DID_DIRECT = "+37167000111"  # call_phone straight away: the caller is not answered yet
DID_GREETED = "+37167000112"  # a greeting first: the caller is answered, hears ringback
MOBILE = "+37129999911"
EARLY_HZ = 1250.0
ANSWER_HZ = 1450.0
GREETING_HZ = 700.0
RINGBACK_HZ = 425.0


def _dial() -> dict[str, object]:
    return {
        "type": "call_phone",
        "params": {"number": MOBILE, "ring_timeout_s": 15, "caller_id": "did"},
    }


def test_announcement_before_the_answer_reaches_the_caller(e2e: Harness) -> None:
    out_port, in_port = free_udp_port(), free_udp_port()
    server = FlowpbxServer(e2e.tmp_path, None)
    greeted = {
        "hello": {"type": "play", "params": {"audio": "greeting-tone"}, "next": {"next": "main"}},
        "main": _dial(),
    }
    company(
        server,
        trunk_ports=[out_port, in_port],  # the DIDs (and so calls out) on the first
        audio=[tone_audio(server, "greeting-tone", GREETING_HZ, 1.0)],
        flows=[
            flow("Direct", [DID_DIRECT], {"main": _dial()}),
            flow("Greeted", [DID_GREETED], greeted, first="hello"),
        ],
    )
    e2e.adopt(server)
    server.start()

    for did in (DID_DIRECT, DID_GREETED):
        mobile = e2e.adopt_sipp(
            Sipp(
                "uas_early_media.xml",
                e2e.tmp_path,
                local_port=out_port,
                service=MOBILE,
                variables={"answer_after_ms": 3000},
                files={
                    "uas_early.pcap": tone_pcap(EARLY_HZ, 3.0, ssrc=0x0EA41001),
                    "uas_tone.pcap": tone_pcap(ANSWER_HZ, 30.0, ssrc=0x0EA41002),
                },
                name=f"mobile{did[-1]}",
            )
        ).start()
        mobile.wait_ready()
        caller = e2e.provider(
            server.sip,
            in_port,
            did=did,
            dtmf_at_ms=300,  # answered at the bridge (direct) or before the greeting (greeted)
            talk_ms=2500 if did == DID_DIRECT else 7000,
            name=f"caller{did[-1]}",
        )
        cap = e2e.capture(f"caller{did[-1]}", [caller.media_port])
        caller.start()
        caller.check(timeout=60)
        mobile.check(timeout=20)
        cap.stop()
        heard = cap.audio()
        assert has_tone(heard, EARLY_HZ, 2.0), (did, describe(heard))
        assert has_tone(heard, ANSWER_HZ, 1.5), (did, describe(heard))
        expected = [EARLY_HZ, ANSWER_HZ] if did == DID_DIRECT else [GREETING_HZ]
        expected += [] if did == DID_DIRECT else [EARLY_HZ, ANSWER_HZ]
        order = tone_order(heard, [GREETING_HZ, EARLY_HZ, ANSWER_HZ], tolerance_hz=15)
        assert order == expected, (did, describe(heard))
        assert not has_tone(heard, RINGBACK_HZ, 0.5), (did, describe(heard))
        if did == DID_DIRECT:
            assert 183 in caller.received_status_codes(), caller.logs()

    server.wait_rows("SELECT * FROM call_history WHERE outcome != 'in_progress'", count=2)
    rows = server.history()
    assert [trace_output(r, "main") for r in rows] == ["answered", "answered"], [
        r["trace"] for r in rows
    ]

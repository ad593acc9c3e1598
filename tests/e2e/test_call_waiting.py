"""Call waiting per extension (SPEC §3 call_sip `busy`, issue "Every call-flow element
live"): an extension with `call_waiting: false` that is already on a call gives the next
call_sip `busy` without ringing its phone (the caller hears the busy branch's prompt, a
distinct tone); with `call_waiting: true` its phone rings again."""

from __future__ import annotations

from typing import Any

import pytest

from tests.audio_analysis import describe, has_tone
from tests.e2e.conftest import Harness
from tests.e2e.peers import company, flow, provider_call, tone_audio, trace_output
from tests.e2e.server import FlowpbxServer
from tests.netutil import free_udp_port

pytestmark = pytest.mark.e2e

DID_NO_WAITING = "+37167000071"  # rings 101 (call_waiting off)
DID_WAITING = "+37167000072"  # rings 102 (call_waiting on)
BUSY_HZ = 850.0
NO_ANSWER_HZ = 1150.0
PHONE_HZ = {"101": 900.0, "102": 1000.0}


def _ring(ext: str, timeout_s: int) -> dict[str, Any]:
    return {
        "main": {
            "type": "call_sip",
            "params": {"extension": ext, "ring_timeout_s": timeout_s},
            "next": {"busy": "busy", "no_answer": "noanswer"},
        },
        "busy": {"type": "play", "params": {"audio": "busy-tone"}},
        "noanswer": {"type": "play", "params": {"audio": "noanswer-tone"}},
    }


def _row_for(server: FlowpbxServer, did: str, count: int) -> list[dict[str, Any]]:
    server.wait_rows(
        "SELECT * FROM call_history WHERE did = ? AND outcome != 'in_progress'",
        [did],
        count=count,
        timeout=30,
    )
    return [r for r in server.history() if r["did"] == did]


def test_call_waiting_off_gives_busy_on_gives_a_second_ring(e2e: Harness) -> None:
    ports = [free_udp_port() for _ in range(4)]
    server = FlowpbxServer(e2e.tmp_path, None)
    company(
        server,
        trunk_ports=ports,
        extensions=[
            {"number": "101", "name": "Alice", "password": "pw-long-101-cw", "call_waiting": False},
            {"number": "102", "name": "Bob", "password": "pw-long-102-cw", "call_waiting": True},
        ],
        audio=[
            tone_audio(server, "busy-tone", BUSY_HZ, 1.5),
            tone_audio(server, "noanswer-tone", NO_ANSWER_HZ, 1.5),
        ],
        flows=[
            flow("No waiting", [DID_NO_WAITING], _ring("101", 10)),
            flow("Waiting", [DID_WAITING], _ring("102", 4)),
        ],
    )
    e2e.adopt(server)
    server.start()
    alice = e2e.baresip(
        name="cw101", user="101", password="pw-long-101-cw", registrar=server.sip, tone_hz=900
    )
    bob = e2e.baresip(
        name="cw102",
        user="102",
        password="pw-long-102-cw",
        registrar=server.sip,
        tone_hz=1000,
        answermode="manual",
    )
    alice.wait_registered(10)
    bob.wait_registered(10)

    def call(port: int, did: str, name: str, **kw: Any) -> Any:
        sipp = provider_call(
            e2e.tmp_path, pbx=server.sip, trunk_port=port, did=did, dtmf_at_ms=300, name=name, **kw
        )
        return e2e.adopt_sipp(sipp)

    # First calls: 101 answers by itself, 102 is answered by hand.
    first_a = call(ports[0], DID_NO_WAITING, "first101", talk_ms=25000).start()
    alice.wait_event("CALL_ESTABLISHED", timeout=15)
    first_b = call(ports[1], DID_WAITING, "first102", talk_ms=25000).start()
    bob.wait_event("CALL_INCOMING", timeout=15)
    bob.command("accept")
    bob.wait_event("CALL_ESTABLISHED", timeout=10)

    # Second calls while both are talking.
    second_a = call(ports[2], DID_NO_WAITING, "second101", hangup_expected=True)
    second_b = call(ports[3], DID_WAITING, "second102", hangup_expected=True)
    cap = e2e.capture("second101", [second_a.media_port])
    second_a.start()
    second_b.start()
    bob.wait_event("CALL_INCOMING", timeout=15)  # call waiting on: the phone rings again
    second_a.check(timeout=40)  # busy prompt, then the PBX hangs up
    second_b.check(timeout=40)  # not answered within 4 s: the no-answer prompt, hang-up
    cap.stop()

    heard = cap.audio()
    assert has_tone(heard, BUSY_HZ, 1.0), describe(heard)
    assert not has_tone(heard, PHONE_HZ["101"], 0.5), describe(heard)
    incoming_101 = [e for e in alice.events() if e.get("type") == "CALL_INCOMING"]
    assert len(incoming_101) <= 1, incoming_101  # the second call never rang Alice

    first_a.check(timeout=60)
    first_b.check(timeout=60)
    rows_a = _row_for(server, DID_NO_WAITING, 2)
    rows_b = _row_for(server, DID_WAITING, 2)
    outputs_a = sorted(trace_output(r, "main") for r in rows_a)
    outputs_b = sorted(trace_output(r, "main") for r in rows_b)
    assert outputs_a == ["answered", "busy"], [r["trace"] for r in rows_a]
    assert outputs_b == ["answered", "no_answer"], [r["trace"] for r in rows_b]
    busy_row = next(r for r in rows_a if trace_output(r, "main") == "busy")
    facts = next(e["facts"] for e in busy_row["trace"] if e.get("node") == "main")
    assert "call waiting off" in str(facts.get("detail")), facts

"""`call_sip` rings every registered phone of an extension; the first to answer wins and the
others get CANCEL (SPEC §3, foundation issue): SIPp and baresip both registered as 101."""

from __future__ import annotations

from typing import Any

import pytest

from tests.audio_analysis import describe, tone_runs, tone_segments
from tests.e2e.conftest import Harness
from tests.e2e.peers import PROVIDER_TONE_HZ, company_config, flow
from tests.netutil import free_udp_port

pytestmark = pytest.mark.e2e

DID = "+37167000009"
PASSWORD = "fork-101-secret"
UAS_HZ = 1300.0


def config(trunk_port: int) -> dict[str, Any]:
    ring = {"type": "call_sip", "params": {"extension": "101"}}
    return company_config(
        trunk_ports=[trunk_port],
        extensions=[{"number": "101", "name": "Alice", "password": PASSWORD}],
        flows=[flow("Fork", [DID], {"ring": ring}, first="ring")],
    )


def test_all_phones_ring_first_answer_wins_others_cancelled(e2e: Harness) -> None:
    trunk_port = free_udp_port()
    server = e2e.server(config(trunk_port))
    # Phone 1: baresip registered as 101 that rings but never answers.
    slow = e2e.baresip(
        name="slow101", user="101", password=PASSWORD, registrar=server.sip, answermode="manual"
    )
    slow.wait_registered(10)
    # Phone 2: a SIPp UAS registered as 101 (same port for REGISTER and for answering).
    uas_port = free_udp_port()
    reg = e2e.register(
        server.sip, ext="101", password=PASSWORD, local_port=uas_port, name="reg-uas"
    )
    reg.start().check(timeout=15)
    uas = e2e.uas(
        ext="101", tone_hz=UAS_HZ, local_port=uas_port, answer_after_ms=1500, name="uas101"
    )
    uas.start()
    uas.wait_ready()

    provider = e2e.provider(
        server.sip, trunk_port, did=DID, digit="5", dtmf_at_ms=500, talk_ms=3000
    )
    cap = e2e.capture("provider-heard", [provider.media_port])
    provider.start()
    slow.wait_event("CALL_INCOMING", timeout=10)  # both phones ring
    provider.check(timeout=30)
    uas.check(timeout=15)  # answered, then got flowpbx's BYE after the provider hung up
    slow.wait_event("CALL_CLOSED", timeout=10)  # the other phone was cancelled
    cap.stop()
    types = [e.get("type") for e in slow.events()]
    assert "CALL_ESTABLISHED" not in types, types

    heard = cap.audio()
    runs = tone_runs(tone_segments(heard), tolerance_hz=15)
    assert any(abs(r.freq - UAS_HZ) <= 15 and r.duration >= 1.5 for r in runs), describe(heard)
    assert PROVIDER_TONE_HZ != UAS_HZ

    (row,) = server.history()
    assert row["answered_by"] == "101"
    ring = [e for e in row["trace"] if e.get("node") == "ring"]
    assert ring and ring[0]["output"] == "answered", row["trace"]

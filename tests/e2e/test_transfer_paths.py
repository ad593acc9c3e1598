"""More `*2` attended-transfer paths on live calls (SPEC §4), next to test_transfer.py: the
target not answering in time, hanging up during the consultation (in which 101 hears it),
and an unknown number all give the transferer the caller back; a call that came from a
queue and a call between two extensions are transferred like a trunk call. The error prompt
is library audio replaced by a tone here, and the built-in hold music is a melody of known
notes, so the captures tell by FFT who heard what."""

from __future__ import annotations

import time

import pytest

from tests.audio_analysis import describe, has_tone, tone_order
from tests.e2e import transfer_support as xfer
from tests.e2e.conftest import Harness
from tests.e2e.peers import PROVIDER_TONE_HZ
from tests.e2e.sipp import Sipp
from tests.e2e.transfer_support import AGENT_HZ, CALLER_HZ, ERROR_HZ, TARGET_HZ

pytestmark = pytest.mark.e2e


def test_star2_target_not_answering_gives_the_caller_back(e2e: Harness) -> None:
    """103 rings without answering: after the transfer ring time (FLOWPBX_TRANSFER_RING_S,
    4 s here; 20 s by default) 103 is cancelled and 101 talks to the caller again, who heard
    hold audio meanwhile."""
    server, trunk_port = xfer.company(e2e, "noans", extra_env={"FLOWPBX_TRANSFER_RING_S": "4"})
    ring_port = xfer.registered(e2e, server, "103", "noans")
    ringing = e2e.adopt_sipp(
        Sipp("uas_ring_cancel.xml", e2e.tmp_path, local_port=ring_port, service="103",
             name="ring103")
    )  # fmt: skip
    ringing.start()
    ringing.wait_ready()
    agent_port = xfer.registered(e2e, server, "101", "noans")
    agent = xfer.agent(e2e, agent_port, "*2103#", 7000, (0x1A1A0000, 0x1A1A0001))
    provider = xfer.provider(e2e, server, trunk_port, hangup_expected=True)
    cap = e2e.capture("caller", [provider.media_port])
    provider.start()
    ringing.check(timeout=30)  # 103 rang and was cancelled (CANCEL, 487)
    agent.check(timeout=30)
    provider.check(timeout=30)  # the call ends when 101 hangs up
    cap.stop()
    heard = cap.audio()
    # 101, hold music while 103 rang (4 s), then 101 again after the ring time
    seconds, on_notes = xfer.hold_between_agent_runs(heard)
    assert seconds >= 3.0 and on_notes >= 0.5, (seconds, on_notes, describe(heard))
    assert xfer.ends_with_agent(heard), describe(heard)
    _, transfers = xfer.row_transfers(server)
    assert [t["result"] for t in transfers] == ["not answered"], transfers


def test_star2_target_hanging_up_gives_the_caller_back(e2e: Harness) -> None:
    """103 answers, talks to 101 and hangs up: 101 talks to the caller again."""
    server, trunk_port = xfer.company(e2e, "tgthup")
    target_port = xfer.registered(e2e, server, "103", "tgthup")
    target = e2e.uas(
        ext="103", tone_hz=TARGET_HZ, local_port=target_port, hangup_after_ms=2000, name="hup103"
    )
    target.start()
    target.wait_ready()
    agent_port = xfer.registered(e2e, server, "101", "tgthup")
    agent = xfer.agent(e2e, agent_port, "*2103#", 6000, (0x7A7A0000, 0x7A7A0001))
    provider = xfer.provider(e2e, server, trunk_port, hangup_expected=True)
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
    assert not any(abs(r.freq - TARGET_HZ) <= 15 for r in xfer.long_runs(heard)), describe(heard)
    assert xfer.ends_with_agent(heard), describe(heard)
    _, transfers = xfer.row_transfers(server)
    assert [t["result"] for t in transfers] == ["target hung up"], transfers


def test_star2_unknown_number_plays_an_error_and_returns(e2e: Harness) -> None:
    """*2104# (no such extension): 101 hears the error prompt (and not the caller), the
    caller hears hold audio meanwhile (and not the prompt), then the two talk again."""
    server, trunk_port = xfer.company(e2e, "unknown", tones={"invalid-number": ERROR_HZ})
    agent_port = xfer.registered(e2e, server, "101", "unknown")
    agent = xfer.agent(e2e, agent_port, "*2104#", 5000, (0x2B2B0000, 0x2B2B0001))
    provider = xfer.provider(e2e, server, trunk_port, hangup_expected=True)
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
    assert has_tone(heard_by_agent, ERROR_HZ, 2.0), describe(heard_by_agent)
    heard = cap.audio()
    assert not any(abs(r.freq - ERROR_HZ) <= 15 for r in xfer.long_runs(heard, 0.2)), describe(
        heard
    )
    seconds, on_notes = xfer.hold_between_agent_runs(heard)  # hold music during the prompt
    assert seconds >= 1.5 and on_notes >= 0.5, (seconds, on_notes, describe(heard))
    assert xfer.ends_with_agent(heard), describe(heard)
    _, transfers = xfer.row_transfers(server)
    assert [(t["to"], t["result"]) for t in transfers] == [("104", "unknown")], transfers


def test_star2_transfers_a_call_that_came_from_a_queue(e2e: Harness) -> None:
    """The provider's call waits in a queue whose member 101 answers; 101 transfers it to
    103 with *2103# and hangs up: the provider and 103 talk."""
    queue = {"type": "queue", "params": {"members": [{"extension": "101"}]}}
    server, trunk_port = xfer.company(e2e, "queue", agent_node=queue)
    target = xfer.target(e2e, server, "queue", "q103")
    agent_port = xfer.registered(e2e, server, "101", "queue")
    agent = xfer.agent(e2e, agent_port, "*2103#", 2500, (0x3C3C0000, 0x3C3C0001))
    provider = xfer.provider(e2e, server, trunk_port, talk_ms=12000)
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
    assert has_tone(heard, TARGET_HZ, 3.0), describe(heard)
    _, heard_by_target = target.received_wav()
    assert has_tone(heard_by_target, PROVIDER_TONE_HZ, 3.0), describe(heard_by_target)
    row, transfers = xfer.row_transfers(server)
    assert [(t["to"], t["result"]) for t in transfers] == [("103", "completed")], row["trace"]
    assert any(e.get("type") == "queue" for e in row["trace"]), row["trace"]


def test_star2_transfers_a_call_between_two_extensions(e2e: Harness) -> None:
    """102 (baresip) calls 101, who transfers it to 103 with *2103# and hangs up: 102 and
    103 talk; the internal call's history row shows the transfer."""
    server, _ = xfer.company(e2e, "internal", extensions=("101", "102", "103"))
    target = e2e.baresip(
        name="i103", user="103", password="pw-long-103-internal", registrar=server.sip,
        tone_hz=TARGET_HZ,
    )  # fmt: skip
    target.wait_registered(10)
    agent_port = xfer.registered(e2e, server, "101", "internal")
    agent = xfer.agent(e2e, agent_port, "*2103#", 2500, (0x4D4D0000, 0x4D4D0001))
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
    assert has_tone(heard_by_caller, TARGET_HZ, 3.0), describe(heard_by_caller)
    _, heard_by_target = target.received_wav()
    assert has_tone(heard_by_target, CALLER_HZ, 3.0), describe(heard_by_target)
    row, transfers = xfer.row_transfers(server)
    assert row["did"] == "101", row
    assert [(t["by"], t["to"], t["result"]) for t in transfers] == [("101", "103", "completed")]

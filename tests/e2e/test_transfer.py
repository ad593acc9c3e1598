"""`*2` attended transfer on a live call (SPEC §4): a provider call (SIPp) answered by
extension 101 (a SIPp UAS that presses *2103# as RFC 4733 events and then hangs up) ends up
connecting the provider with 103 (baresip); the keys never reach the provider. (103, not
102: SIPp's bundled key captures repeat their RTP timestamps, so the same key twice in a row
would look like one press.)"""

from __future__ import annotations

import pytest

from tests.audio_analysis import (
    describe,
    has_tone,
    rtp_events,
    tone_order,
)
from tests.e2e import transfer_support as xfer
from tests.e2e.conftest import Harness
from tests.e2e.peers import (
    PROVIDER_TONE_HZ,
    dtmf_pcap_shifted,
    tone_pcap,
)
from tests.e2e.sipp import Sipp
from tests.e2e.transfer_support import AGENT_HZ, TARGET_HZ

pytestmark = pytest.mark.e2e


def test_star2_attended_transfer_connects_caller_and_target(e2e: Harness) -> None:
    server, trunk_port = xfer.company(e2e, "xfer")
    target = xfer.target(e2e, server, "xfer", "t103")
    agent_port = xfer.registered(e2e, server, "101", "xfer")
    ssrcs = (0x11110000, 0x22220000)
    agent = xfer.agent(e2e, agent_port, "*2103#", 2500, ssrcs, tone2_s=10.0)
    provider = xfer.provider(e2e, server, trunk_port, talk_ms=11000)
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
    assert has_tone(heard, TARGET_HZ, 3.0), describe(heard)
    # The feature keys were not relayed to the caller.
    events = rtp_events(cap.rtp(), payload_type=101)
    assert not events, events
    _, heard_by_target = target.received_wav()
    assert has_tone(heard_by_target, PROVIDER_TONE_HZ, 3.0), describe(heard_by_target)
    assert has_tone(heard_by_target, AGENT_HZ, 0.5), describe(heard_by_target)

    row, transfers = xfer.row_transfers(server)
    assert transfers and transfers[0]["to"] == "103", row["trace"]
    assert transfers[0]["result"] == "completed", row["trace"]


def test_refer_blind_transfer_from_the_phone_button(e2e: Harness) -> None:
    server, trunk_port = xfer.company(e2e, "refer")
    target = xfer.target(e2e, server, "refer", "b103")
    agent_port = xfer.registered(e2e, server, "101", "refer")
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
    provider = xfer.provider(e2e, server, trunk_port, talk_ms=8000)
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
    assert has_tone(heard, TARGET_HZ, 3.0), describe(heard)
    _, heard_by_target = target.received_wav()
    assert has_tone(heard_by_target, PROVIDER_TONE_HZ, 3.0), describe(heard_by_target)
    row, transfers = xfer.row_transfers(server)
    assert transfers and transfers[0]["kind"] == "blind", row["trace"]
    assert transfers[0]["result"] == "completed", row["trace"]


def test_star1_aborts_the_transfer_and_returns_the_caller(e2e: Harness) -> None:
    """*2103#, 103 answers, then *1: 103 is hung up and 101 talks to the caller again."""
    server, trunk_port = xfer.company(e2e, "abort")
    target = xfer.target(e2e, server, "abort", "a103")
    agent_port = xfer.registered(e2e, server, "101", "abort")
    # *1 again: the same bundled captures would repeat their timestamps (one press to RFC 4733)
    again = {
        "key_7.pcap": dtmf_pcap_shifted("*", 400_000),
        "key_8.pcap": dtmf_pcap_shifted("1", 400_000),
    }
    agent = xfer.agent(
        e2e,
        agent_port,
        "*2103#",
        2500,
        (0x44440000, 0x55550000),
        tone2_s=10.0,
        scenario="uas_transfer_abort.xml",
        more_files=again,
    )
    provider = xfer.provider(e2e, server, trunk_port, hangup_expected=True)
    cap = e2e.capture("caller", [provider.media_port])
    provider.start()
    target.wait_event("CALL_ESTABLISHED", timeout=20)
    target.wait_event("CALL_CLOSED", timeout=15)  # *1: the target is hung up
    agent.check(timeout=30)
    provider.check(timeout=30)  # the call ends when 101 hangs up
    cap.stop()

    heard = cap.audio()
    runs = xfer.long_runs(heard)
    agent_runs = [r for r in runs if abs(r.freq - AGENT_HZ) <= 15]
    assert len(agent_runs) >= 2, describe(heard)  # 101 before the transfer and after *1
    assert not any(abs(r.freq - TARGET_HZ) <= 15 for r in runs), describe(heard)
    row, transfers = xfer.row_transfers(server)
    assert transfers and transfers[0]["result"] == "aborted", row["trace"]


def test_busy_target_gives_the_transferer_the_caller_back(e2e: Harness) -> None:
    """*2103# while 103 is busy (486): 101 gets the caller back, nothing is transferred."""
    server, trunk_port = xfer.company(e2e, "busy")
    busy_port = xfer.registered(e2e, server, "103", "busy")
    busy = e2e.adopt_sipp(
        Sipp("uas_busy.xml", e2e.tmp_path, local_port=busy_port, service="103", name="busy103")
    )
    busy.start()
    busy.wait_ready()
    agent_port = xfer.registered(e2e, server, "101", "busy")
    ssrcs = (0x66660000, 0x77770000)
    agent = xfer.agent(e2e, agent_port, "*2103#", 2500, ssrcs, tone2_s=10.0)
    provider = xfer.provider(e2e, server, trunk_port, hangup_expected=True)
    cap = e2e.capture("caller", [provider.media_port])
    provider.start()
    busy.check(timeout=20)  # 103 was rung and said busy
    agent.check(timeout=30)
    provider.check(timeout=30)
    cap.stop()
    heard = cap.audio()
    # The caller still (again) hears 101 at the end of the call, after the failed transfer.
    runs = xfer.long_runs(heard)
    end = len(heard) / 8000
    assert any(abs(r.freq - AGENT_HZ) <= 15 and r.start + r.duration >= end - 0.5 for r in runs), (
        describe(heard)
    )
    row, transfers = xfer.row_transfers(server)
    assert transfers and transfers[0]["result"] == "not answered", row["trace"]

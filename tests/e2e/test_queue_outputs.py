"""Queue outputs on live calls (SPEC §3 `queue`): `answered` (after the member hangs up),
`timeout` (max_wait_s), `full` (max_callers), `empty` (nobody registered, join_empty off),
`exit` (exit_key pressed as RFC 4733 by SIPp). Each output plays a tone of its own, so the
caller's capture tells which one the flow took; queue_calls and call history are checked."""

from __future__ import annotations

import time

import pytest

from tests.audio_analysis import describe, has_tone, tone_order
from tests.e2e.conftest import Harness
from tests.e2e.queue_support import (
    HOLD_HZ,
    MEMBER_HZ,
    OUTPUT_HZ,
    caller,
    incoming,
    member,
    queue_rows,
    queue_trace,
    start_company,
)

pytestmark = pytest.mark.e2e

DID = "+37167000031"
DID2 = "+37167000032"


def test_answered_after_the_member_hangs_up_history_has_wait_and_member(e2e: Harness) -> None:
    company = start_company(
        e2e,
        {
            DID: {
                "name": "ans",
                "members": ["101"],
                "strategy": "linear",
                "member_timeout_s": 2,
                "retry_s": 1,
                "max_wait_s": 60,
            }
        },
    )
    agent = member(e2e, company, "101", answermode="manual")
    call = caller(e2e, company, DID, name="caller", hangup_expected=True)
    cap = e2e.capture("answered-caller", [call.media_port])
    call.start()
    agent.wait_event("CALL_INCOMING", timeout=15)
    agent.wait_event("CALL_CLOSED", timeout=15)  # not picked up within member_timeout_s
    agent.wait_event("CALL_INCOMING", timeout=15)  # rung again after retry_s
    agent.command("accept")
    agent.wait_event("CALL_ESTABLISHED", timeout=10)
    time.sleep(2.5)  # the conversation (what the caller heard is checked below)
    agent.hangup()  # the operator hangs up: the flow goes on at `answered`
    call.check(timeout=30)
    cap.stop()
    heard = cap.audio()
    tones = [HOLD_HZ, MEMBER_HZ["101"], OUTPUT_HZ["answered"]]
    assert tone_order(heard, tones, tolerance_hz=15) == tones, describe(heard)
    assert has_tone(heard, HOLD_HZ, 2.0), describe(heard)
    assert has_tone(heard, MEMBER_HZ["101"], 1.0), describe(heard)
    assert has_tone(heard, OUTPUT_HZ["answered"], 1.0), describe(heard)

    (row,) = company.server.history()
    assert row["answered_by"] == "101"
    entry = queue_trace(row)
    assert entry["output"] == "answered", row["trace"]
    facts = entry["facts"]
    assert facts["answered_by"] == "101", facts
    assert facts["wait_s"] >= 3.0 and facts["talk_s"] >= 1.0, facts  # two rings + retry
    (stat,) = queue_rows(company.server, "ans", 1)
    assert stat["result"] == "answered" and stat["member"] == "101", stat
    assert abs(stat["wait_s"] - facts["wait_s"]) < 0.5 and stat["talk_s"] >= 1.0, (stat, facts)


def test_full_when_max_callers_wait_and_timeout_after_max_wait(e2e: Harness) -> None:
    company = start_company(
        e2e,
        {
            DID: {
                "name": "small",
                "members": ["101"],
                "strategy": "ring_all",
                "member_timeout_s": 30,
                "max_wait_s": 6,
                "max_callers": 1,
            }
        },
    )
    agent = member(e2e, company, "101", answermode="manual")  # rings, never picks up
    first = caller(e2e, company, DID, name="first", hangup_expected=True, trunk=0)
    cap1 = e2e.capture("full-first", [first.media_port])
    first.start()
    agent.wait_event("CALL_INCOMING", timeout=15)  # the first caller is in the line
    second = caller(e2e, company, DID, name="second", hangup_expected=True, trunk=1)
    cap2 = e2e.capture("full-second", [second.media_port])
    second.start()
    second.check(timeout=30)  # full: played the `full` tone at once, then hung up
    cap2.stop()
    first.check(timeout=30)  # max_wait_s: the `timeout` tone, then hung up
    cap1.stop()
    heard2 = cap2.audio()
    assert has_tone(heard2, OUTPUT_HZ["full"], 1.0), describe(heard2)
    assert not has_tone(heard2, HOLD_HZ, 0.3), describe(heard2)  # never joined the line
    heard1 = cap1.audio()
    assert tone_order(heard1, [HOLD_HZ, OUTPUT_HZ["timeout"]], tolerance_hz=15) == [
        HOLD_HZ,
        OUTPUT_HZ["timeout"],
    ], describe(heard1)
    assert has_tone(heard1, HOLD_HZ, 4.0), describe(heard1)
    assert incoming(agent) == 1  # one ring for the first caller, cancelled at the timeout

    rows = company.server.history()
    assert sorted(queue_trace(r)["output"] for r in rows) == ["full", "timeout"], rows
    stats = queue_rows(company.server, "small", 2)
    assert [s["result"] for s in stats] == ["full", "timeout"], stats
    assert stats[0]["wait_s"] == 0.0 and stats[1]["wait_s"] >= 5.5, stats


def test_empty_without_registered_members_unless_join_empty(e2e: Harness) -> None:
    company = start_company(
        e2e,
        {
            DID: {"name": "nobody", "members": ["101", "102"], "max_wait_s": 30},
            DID2: {
                "name": "nobody-wait",
                "members": ["101", "102"],
                "join_empty": True,
                "max_wait_s": 3,
            },
        },
    )
    call = caller(e2e, company, DID, name="empty", hangup_expected=True)
    cap = e2e.capture("empty-caller", [call.media_port])
    call.start()
    call.check(timeout=30)
    cap.stop()
    heard = cap.audio()
    assert has_tone(heard, OUTPUT_HZ["empty"], 1.0), describe(heard)
    assert not has_tone(heard, HOLD_HZ, 0.3), describe(heard)

    waiting = caller(e2e, company, DID2, name="join-empty", hangup_expected=True)
    cap2 = e2e.capture("join-empty-caller", [waiting.media_port])
    waiting.start()
    waiting.check(timeout=30)
    cap2.stop()
    heard2 = cap2.audio()
    assert has_tone(heard2, HOLD_HZ, 2.0), describe(heard2)
    assert has_tone(heard2, OUTPUT_HZ["timeout"], 1.0), describe(heard2)

    # a caller who hangs up while waiting leaves the line too, with the time waited
    gone = caller(e2e, company, DID2, name="hangs-up", dtmf_at_ms=500, talk_ms=1500)
    gone.start()
    gone.check(timeout=30)

    rows = company.server.history()
    assert [queue_trace(r)["output"] for r in rows[:2]] == ["empty", "timeout"], rows
    (stat,) = queue_rows(company.server, "nobody", 1)
    assert stat["result"] == "empty", stat
    waited = queue_rows(company.server, "nobody-wait", 2)
    assert [s["result"] for s in waited] == ["timeout", "hangup"], waited
    assert waited[0]["wait_s"] >= 2.5 and waited[1]["wait_s"] >= 1.5, waited


def test_exit_key_pressed_while_waiting_leaves_by_exit(e2e: Harness) -> None:
    company = start_company(
        e2e,
        {
            DID: {
                "name": "leave",
                "members": ["101"],
                "member_timeout_s": 30,
                "max_wait_s": 60,
                "exit_key": "5",
            }
        },
    )
    agent = member(e2e, company, "101", answermode="manual")
    call = caller(
        e2e, company, DID, name="caller", digit="5", dtmf_at_ms=3000, hangup_expected=True
    )
    cap = e2e.capture("exit-caller", [call.media_port])
    call.start()
    agent.wait_event("CALL_INCOMING", timeout=15)  # ringing when the caller presses 5
    agent.wait_event("CALL_CLOSED", timeout=15)  # the ring is cancelled by the key
    call.check(timeout=30)
    cap.stop()
    heard = cap.audio()
    tones = [HOLD_HZ, OUTPUT_HZ["exit"]]
    assert tone_order(heard, tones, tolerance_hz=15) == tones, describe(heard)
    assert has_tone(heard, OUTPUT_HZ["exit"], 1.0), describe(heard)
    (row,) = company.server.history()
    entry = queue_trace(row)
    assert entry["output"] == "exit", row["trace"]
    assert entry["facts"]["wait_s"] >= 2.0, entry
    (stat,) = queue_rows(company.server, "leave", 1)
    assert stat["result"] == "exit" and stat["member"] is None, stat

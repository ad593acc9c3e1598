"""Queue strategies on live calls (SPEC §3 `queue`, issue "Every call-flow element live"):
three baresip members with tones of their own, SIPp as the provider's caller, a controlled
history seeded through the store. Each test checks which member's phone rang and answered,
that the caller heard that member (FFT of the caller's capture), and the call history."""

from __future__ import annotations

import pytest

from tests.audio_analysis import describe, has_tone
from tests.e2e.conftest import Harness
from tests.e2e.queue_support import (
    HOLD_HZ,
    MEMBER_HZ,
    OUTPUT_HZ,
    caller,
    established,
    incoming,
    member,
    queue_rows,
    queue_trace,
    seed_queue_calls,
    start_company,
)

pytestmark = pytest.mark.e2e

DID = "+37167000021"
DID2 = "+37167000022"


def test_ring_all_rings_every_free_member_first_answer_wins_others_cancelled(
    e2e: Harness,
) -> None:
    company = start_company(
        e2e,
        {
            DID: {
                "name": "all",
                "members": ["101", "102", "103"],
                "strategy": "ring_all",
                "member_timeout_s": 30,
                "max_wait_s": 60,
            }
        },
    )
    phones = {ext: member(e2e, company, ext, answermode="manual") for ext in MEMBER_HZ}
    call = caller(e2e, company, DID, name="caller", talk_ms=5000)
    cap = e2e.capture("ring-all-caller", [call.media_port])
    sip = e2e.capture("ring-all-members-sip", [p.sip_port for p in phones.values()])
    call.start()
    for phone in phones.values():  # all three ring at once
        phone.wait_event("CALL_INCOMING", timeout=15)
    phones["102"].command("accept")
    phones["102"].wait_event("CALL_ESTABLISHED", timeout=10)
    for ext in ("101", "103"):  # the others are cancelled, never answered
        phones[ext].wait_event("CALL_CLOSED", timeout=10)
        assert established(phones[ext]) == 0, phones[ext].events()
    call.check(timeout=40)
    phones["102"].wait_event("CALL_CLOSED", timeout=10)
    cap.stop()
    # what each member's phone received on the wire: an INVITE each, a CANCEL for the losers
    requests: dict[str, list[str]] = {ext: [] for ext in phones}
    for datagram in sip.stop():
        for ext, phone in phones.items():
            if datagram.dst[1] == phone.sip_port and not datagram.payload.startswith(b"SIP/2.0"):
                requests[ext].append(datagram.payload.split(b" ", 1)[0].decode())
    assert "INVITE" in requests["102"] and "CANCEL" not in requests["102"], requests
    for ext in ("101", "103"):
        assert "INVITE" in requests[ext] and "CANCEL" in requests[ext], requests
    heard = cap.audio()
    assert has_tone(heard, MEMBER_HZ["102"], 2.0), describe(heard)
    for ext in ("101", "103"):
        assert not has_tone(heard, MEMBER_HZ[ext], 0.3), describe(heard)
    (row,) = company.server.history()
    assert row["answered_by"] == "102"
    assert queue_trace(row)["output"] == "answered", row["trace"]
    (stat,) = queue_rows(company.server, "all", 1)
    assert stat["member"] == "102" and stat["result"] == "answered", stat


# (strategy, seeded answered calls today as (member, minutes ago), member expected to ring)
ONE_AT_A_TIME = [
    pytest.param(
        "fewest_calls",
        [("101", 5), ("101", 6), ("101", 7), ("102", 8), ("103", 9), ("103", 10)],
        "102",
        id="fewest_calls",
    ),
    pytest.param(
        "least_recent",
        [("101", 3), ("102", 2), ("103", 30), ("101", 4)],
        "103",
        id="least_recent",
    ),
    pytest.param(
        "linear",  # list order whatever the history says
        [("101", 1), ("101", 2), ("102", 60)],
        "101",
        id="linear",
    ),
]


@pytest.mark.parametrize(("strategy", "seed", "expected"), ONE_AT_A_TIME)
def test_one_at_a_time_strategy_rings_the_member_the_history_picks(
    e2e: Harness, strategy: str, seed: list[tuple[str, float]], expected: str
) -> None:
    company = start_company(
        e2e,
        {
            DID: {
                "name": strategy,
                "members": ["101", "102", "103"],
                "strategy": strategy,
                "member_timeout_s": 20,
                "max_wait_s": 60,
            }
        },
    )
    seed_queue_calls(company.server, strategy, seed)
    phones = {ext: member(e2e, company, ext) for ext in MEMBER_HZ}
    call = caller(e2e, company, DID, name="caller", talk_ms=3500)
    cap = e2e.capture(f"{strategy}-caller", [call.media_port])
    call.start()
    phones[expected].wait_event("CALL_ESTABLISHED", timeout=15)
    call.check(timeout=40)
    phones[expected].wait_event("CALL_CLOSED", timeout=10)
    cap.stop()
    for ext, phone in phones.items():
        if ext != expected:
            assert established(phone) == 0, (ext, phone.events())
    heard = cap.audio()
    assert has_tone(heard, MEMBER_HZ[expected], 2.0), describe(heard)
    (row,) = company.server.history()
    assert row["answered_by"] == expected
    (stat,) = queue_rows(company.server, strategy, 1)
    assert stat["member"] == expected, stat


def test_round_robin_rotation_is_remembered_per_queue_across_callers_and_elements(
    e2e: Harness,
) -> None:
    # two flows (two DIDs) whose queue elements share the name: one line, one rotation
    params = {
        "name": "rr",
        "members": ["101", "102", "103"],
        "strategy": "round_robin",
        "member_timeout_s": 20,
        "max_wait_s": 60,
    }
    company = start_company(e2e, {DID: params, DID2: params})
    phones = {ext: member(e2e, company, ext) for ext in MEMBER_HZ}
    order = []
    for i, did in enumerate((DID, DID2, DID, DID2)):
        call = caller(e2e, company, did, name=f"caller{i}", talk_ms=1500)
        cap = e2e.capture(f"rr-caller{i}", [call.media_port])
        call.start()
        call.check(timeout=40)
        cap.stop()
        rows = queue_rows(company.server, "rr", i + 1)
        answered_by = str(rows[i]["member"])
        order.append(answered_by)
        heard = cap.audio()
        assert has_tone(heard, MEMBER_HZ[answered_by], 1.0), (answered_by, describe(heard))
    assert order == ["101", "102", "103", "101"], order
    assert [established(phones[e]) for e in ("101", "102", "103")] == [2, 1, 1]


def test_random_rings_only_free_registered_members(e2e: Harness) -> None:
    company = start_company(
        e2e,
        {
            DID: {
                "name": "rnd",
                "members": ["101", "102", "103"],  # 103 never registers
                "strategy": "random",
                "member_timeout_s": 20,
                "max_wait_s": 60,
            }
        },
    )
    phones = {ext: member(e2e, company, ext) for ext in ("101", "102")}
    answered = []
    for i in range(3):
        call = caller(e2e, company, DID, name=f"caller{i}", talk_ms=1500)
        cap = e2e.capture(f"rnd-caller{i}", [call.media_port])
        call.start()
        call.check(timeout=40)
        cap.stop()
        rows = queue_rows(company.server, "rnd", i + 1)
        ext = str(rows[i]["member"])
        answered.append(ext)
        assert has_tone(cap.audio(), MEMBER_HZ[ext], 1.0), describe(cap.audio())
    assert set(answered) <= {"101", "102"}, answered
    # exactly one phone rang (and, answering automatically, answered) per caller
    rang = {ext: established(phone) for ext, phone in phones.items()}
    assert rang == {ext: answered.count(ext) for ext in ("101", "102")}, (rang, answered)
    history = company.server.history()
    assert [r["answered_by"] for r in history] == answered


def test_members_on_a_call_offline_or_in_wrapup_are_skipped(e2e: Harness) -> None:
    company = start_company(
        e2e,
        {
            DID: {
                "name": "skip",
                "members": ["103", "101", "102"],  # 103 is not registered
                "strategy": "linear",
                "member_timeout_s": 20,
                "wrapup_s": 120,
                "max_wait_s": 5,
            }
        },
    )
    phones = {ext: member(e2e, company, ext) for ext in ("101", "102")}
    first = caller(e2e, company, DID, name="first", talk_ms=9000, trunk=0)
    first.start()
    phones["101"].wait_event("CALL_ESTABLISHED", timeout=15)  # 103 offline: skipped
    second = caller(e2e, company, DID, name="second", talk_ms=2000, trunk=1)
    cap = e2e.capture("skip-second", [second.media_port])
    second.start()
    phones["102"].wait_event("CALL_ESTABLISHED", timeout=15)  # 101 is on a call
    second.check(timeout=40)
    cap.stop()
    assert has_tone(cap.audio(), MEMBER_HZ["102"], 1.0), describe(cap.audio())
    first.check(timeout=40)
    assert established(phones["101"]) == 1 and established(phones["102"]) == 1

    # both are in wrap-up now (120 s): nobody is rung, the caller waits until max_wait_s
    third = caller(e2e, company, DID, name="third", hangup_expected=True, trunk=0)
    cap3 = e2e.capture("skip-third", [third.media_port])
    third.start()
    third.check(timeout=40)
    cap3.stop()
    heard = cap3.audio()
    assert has_tone(heard, HOLD_HZ, 3.0), describe(heard)
    assert has_tone(heard, OUTPUT_HZ["timeout"], 1.0), describe(heard)
    assert established(phones["101"]) == 1 and established(phones["102"]) == 1
    rows = queue_rows(company.server, "skip", 3)
    results = sorted((r["result"], r["member"] or "") for r in rows)
    assert results == [("answered", "101"), ("answered", "102"), ("timeout", "")], rows


def test_a_member_ringing_for_another_queue_is_skipped(e2e: Harness) -> None:
    company = start_company(
        e2e,
        {
            DID: {"name": "front", "members": ["101"], "member_timeout_s": 30, "max_wait_s": 60},
            DID2: {
                "name": "back",
                "members": ["101", "102"],
                "strategy": "linear",
                "member_timeout_s": 30,
                "max_wait_s": 60,
            },
        },
    )
    busy = member(e2e, company, "101", answermode="manual")  # rings, does not pick up
    free = member(e2e, company, "102")
    front = caller(e2e, company, DID, name="front", talk_ms=8000, trunk=0)
    front.start()
    busy.wait_event("CALL_INCOMING", timeout=15)  # 101 is ringing for `front`
    back = caller(e2e, company, DID2, name="back", talk_ms=2000, trunk=1)
    cap = e2e.capture("ringing-back", [back.media_port])
    back.start()
    free.wait_event("CALL_ESTABLISHED", timeout=15)  # linear would take 101 first
    back.check(timeout=40)
    cap.stop()
    assert has_tone(cap.audio(), MEMBER_HZ["102"], 1.0), describe(cap.audio())
    front.check(timeout=40)
    assert incoming(busy) == 1, busy.events()  # rung once, by `front` only
    rows = queue_rows(company.server, "back", 1)
    assert rows[0]["member"] == "102" and rows[0]["result"] == "answered", rows


def test_the_next_caller_rings_a_free_member_while_the_first_one_is_ringing(
    e2e: Harness,
) -> None:
    company = start_company(
        e2e,
        {
            DID: {
                "name": "busy-hour",
                "members": ["101", "102"],
                "strategy": "linear",
                "member_timeout_s": 30,
                "max_wait_s": 60,
            }
        },
    )
    phones = {ext: member(e2e, company, ext, answermode="manual") for ext in ("101", "102")}
    first = caller(e2e, company, DID, name="first", talk_ms=7000, trunk=0)
    cap1 = e2e.capture("autofill-first", [first.media_port])
    first.start()
    phones["101"].wait_event("CALL_INCOMING", timeout=15)  # the head of the line: 101
    second = caller(e2e, company, DID, name="second", talk_ms=5000, trunk=1)
    cap2 = e2e.capture("autofill-second", [second.media_port])
    second.start()
    # 102 is free: it rings for the second caller while 101 still rings for the first
    phones["102"].wait_event("CALL_INCOMING", timeout=15)
    assert not any(e.get("type") == "CALL_CLOSED" for e in phones["101"].events())
    phones["101"].command("accept")
    phones["102"].command("accept")
    first.check(timeout=40)
    second.check(timeout=40)
    cap1.stop()
    cap2.stop()
    assert has_tone(cap1.audio(), MEMBER_HZ["101"], 2.0), describe(cap1.audio())
    assert has_tone(cap2.audio(), MEMBER_HZ["102"], 2.0), describe(cap2.audio())
    rows = queue_rows(company.server, "busy-hour", 2)
    assert {r["member"] for r in rows} == {"101", "102"}, rows

"""Queue position announcements and member statistics across a restart, on live calls
(SPEC §3 `queue`: `announce_position_s`; `fewest_calls` / `least_recent` statistics
persisted). The announcement is found in what the caller received by correlating it with
the system prompts themselves; the restart is a real stop and start of the flowpbx process."""

from __future__ import annotations

import numpy as np
import pytest

from tests.audio_analysis import (
    describe,
    find_audio_all,
    has_tone,
    similarity,
    system_prompt,
)
from tests.e2e.conftest import Harness
from tests.e2e.queue_support import (
    HOLD_HZ,
    MEMBER_HZ,
    OUTPUT_HZ,
    admin_token,
    caller,
    established,
    member,
    seed_queue_calls,
    start_company,
    wait_waiting,
)

pytestmark = pytest.mark.e2e

DID = "+37167000041"
DID2 = "+37167000042"
FRAME = 160  # prompts are played in whole 20 ms frames


def _positions_heard(heard: np.ndarray) -> list[int]:
    """Each "you are caller number N" in the caller's audio, as N (one digit)."""
    intro = system_prompt("queue-position")
    digit_at = -(-len(intro) // FRAME) * FRAME
    digits = {d: system_prompt(f"number-{d}") for d in range(10)}
    out = []
    for at in find_audio_all(heard, intro, threshold=0.8):
        scores = {d: similarity(heard, t, at + digit_at) for d, t in digits.items()}
        best = max(scores, key=lambda d: scores[d])
        assert scores[best] > 0.8, scores
        out.append(best)
    return out


def test_callers_hear_their_position_periodically_between_hold_audio(e2e: Harness) -> None:
    company = start_company(
        e2e,
        {
            DID: {
                "name": "line",
                "members": ["101"],  # never registers: both callers wait
                "join_empty": True,
                "max_wait_s": 10,
                "announce_position_s": 3,
            }
        },
    )
    server = company.server
    token = admin_token(server)
    first = caller(e2e, company, DID, name="first", hangup_expected=True, trunk=0)
    cap1 = e2e.capture("position-first", [first.media_port])
    first.start()
    wait_waiting(server, token, "line", 1)  # the first caller is in line
    second = caller(e2e, company, DID, name="second", hangup_expected=True, trunk=1)
    cap2 = e2e.capture("position-second", [second.media_port])
    second.start()
    ahead, behind = wait_waiting(server, token, "line", 2)  # in the order they came
    assert ahead["wait_s"] >= behind["wait_s"], (ahead, behind)
    first.check(timeout=40)
    second.check(timeout=40)
    cap1.stop()
    cap2.stop()

    heard1, heard2 = cap1.audio(), cap2.audio()
    said1, said2 = _positions_heard(heard1), _positions_heard(heard2)
    # at once and then after each 3 s of hold audio (10 s in line: three times)
    assert len(said1) >= 2 and set(said1) == {1}, (said1, describe(heard1))
    assert len(said2) >= 2 and said2[0] == 2 and set(said2) <= {1, 2}, (said2, describe(heard2))
    for heard in (heard1, heard2):
        assert has_tone(heard, HOLD_HZ, 2.5), describe(heard)  # hold audio in between
        assert has_tone(heard, OUTPUT_HZ["timeout"], 1.0), describe(heard)
    # the announcement is not the hold audio: it was found where the hold tone is absent
    intro = system_prompt("queue-position")
    for at in find_audio_all(heard2, intro, threshold=0.8):
        piece = heard2[at : at + len(intro)]
        spectrum = np.abs(np.fft.rfft(piece.astype(np.float64)))
        hold_bin = int(HOLD_HZ * len(piece) / 8000)
        assert spectrum[hold_bin] < 0.5 * spectrum.max(), "hold tone under the announcement"


def test_fewest_calls_and_least_recent_statistics_survive_a_restart(e2e: Harness) -> None:
    company = start_company(
        e2e,
        {
            DID: {
                "name": "fc",
                "members": ["101", "102"],
                "strategy": "fewest_calls",
                "member_timeout_s": 20,
                "max_wait_s": 60,
            },
            DID2: {
                "name": "lr",
                "members": ["101", "102"],
                "strategy": "least_recent",
                "member_timeout_s": 20,
                "max_wait_s": 60,
            },
        },
    )
    server = company.server
    seed_queue_calls(server, "lr", [("102", 5)])  # 102 talked 5 minutes ago, 101 never
    phones = {ext: member(e2e, company, ext) for ext in ("101", "102")}

    def answered_by(did: str, name: str, count: int) -> str:
        call = caller(e2e, company, did, name=name, talk_ms=1500)
        cap = e2e.capture(name, [call.media_port])
        call.start()
        call.check(timeout=40)
        cap.stop()
        rows = server.wait_rows(
            "SELECT answered_by FROM call_history WHERE outcome != 'in_progress' ORDER BY rowid",
            count=count,
        )
        ext = str(rows[count - 1]["answered_by"])
        assert has_tone(cap.audio(), MEMBER_HZ[ext], 0.8), describe(cap.audio())
        return ext

    # before: fewest_calls ties (0, 0) -> list order; least_recent -> 101 (never called)
    assert answered_by(DID, "fc-before", 1) == "101"
    assert answered_by(DID2, "lr-before", 2) == "101"
    server.stop()
    server.start()
    for phone in phones.values():
        phone.wait_registered(10)
    # after: 101 answered one `fc` call today -> 102; 101's `lr` call is the most recent
    # -> 102. Forgotten statistics would give 101 both times.
    assert answered_by(DID, "fc-after", 3) == "102"
    assert answered_by(DID2, "lr-after", 4) == "102"
    assert established(phones["101"]) == 2 and established(phones["102"]) == 2
    stats = server.db_query(
        "SELECT queue, member FROM queue_calls WHERE call_id NOT LIKE 'seed-%' ORDER BY id"
    )
    assert [(s["queue"], s["member"]) for s in stats] == [
        ("fc", "101"),
        ("lr", "101"),
        ("fc", "102"),
        ("lr", "102"),
    ], stats

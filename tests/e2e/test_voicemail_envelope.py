"""Voicemail listen mode says each message's envelope (issue "Every call-flow element live"):
"received <weekday> <month> <day> at <time>" in the company's time zone
(FLOWPBX_TIMEZONE), before the message itself.

A provider call leaves a message (the provider's 600 Hz tone); its received time is then
set to Monday 2026-03-02 08:05 UTC (10:05 in Riga). The owner's baresip dials *97; in what
it hears, the envelope's word prompts are found by normalised cross-correlation with the
prompt files, in order, all before the message's tone."""

from __future__ import annotations

import sqlite3

import pytest

from tests.audio_analysis import describe, find_audio, system_prompt, tone_runs, tone_segments
from tests.e2e.conftest import Harness
from tests.e2e.peers import PROVIDER_TONE_HZ, company, flow, tone_audio
from tests.e2e.server import FlowpbxServer
from tests.netutil import free_udp_port

pytestmark = pytest.mark.e2e

DID = "+37167000081"
ENVELOPE = [
    "received",
    "day-monday",
    "month-march",
    "ordinal-2",
    "at",
    "number-10",
    "oh",
    "number-5",
    "am",
]


def test_listen_says_received_weekday_date_and_time_before_the_message(e2e: Harness) -> None:
    trunk_port = free_udp_port()
    server = FlowpbxServer(e2e.tmp_path, None, extra_env={"FLOWPBX_TIMEZONE": "Europe/Riga"})
    company(
        server,
        trunk_ports=[trunk_port],
        extensions=[{"number": "101", "name": "Alice", "password": "pw-long-101-env"}],
        audio=[tone_audio(server, "greeting-tone", 700.0, 0.5)],
        flows=[
            flow(
                "Leave",
                [DID],
                {
                    "main": {
                        "type": "voicemail",
                        "params": {
                            "mode": "leave",
                            "mailbox": "101",
                            "greeting": "greeting-tone",
                            "max_length_s": 3,
                            "beep": False,
                        },
                    }
                },
            )
        ],
        mailboxes=[{"number": "101", "name": "Alice"}],
    )
    e2e.adopt(server)
    server.start()
    provider = e2e.provider(server.sip, trunk_port, did=DID, dtmf_at_ms=300, hangup_expected=True)
    provider.start().check(timeout=30)
    (msg,) = server.wait_rows("SELECT * FROM voicemail_messages WHERE mailbox = ?", ["101"])
    stored = str(msg["received_at"])
    when = "2026-03-02 08:05:00" + stored[19:]  # keep the store's fraction/offset format
    con = sqlite3.connect(server.db_path, timeout=10)
    try:
        con.execute("UPDATE voicemail_messages SET received_at = ? WHERE id = ?", [when, msg["id"]])
        con.commit()
    finally:
        con.close()

    owner = e2e.baresip(name="env101", user="101", password="pw-long-101-env", registrar=server.sip)
    owner.wait_registered(10)
    owner.dial(f"sip:*97@{server.sip[0]}:{server.sip[1]}")
    owner.wait_event("CALL_ESTABLISHED", timeout=10)
    owner.wait_event("CALL_CLOSED", timeout=90)  # counts, envelope, message, help, goodbye
    rate, heard = owner.received_wav()
    assert rate == 8000

    message = [
        r
        for r in tone_runs(tone_segments(heard), tolerance_hz=15)
        if abs(r.freq - PROVIDER_TONE_HZ) <= 15 and r.duration >= 1.5
    ]
    assert message, describe(heard)
    message_at = int(message[0].start * 8000)
    position = 0
    found: list[tuple[str, float, float]] = []
    for name in ENVELOPE:
        score, at = find_audio(heard, system_prompt(name), position)
        found.append((name, round(score, 2), round(at / 8000, 2)))
        assert score > 0.8, (found, describe(heard))
        position = at + len(system_prompt(name)) // 2
    for other in ("day-friday", "month-april"):  # words not said do not match
        assert find_audio(heard, system_prompt(other), 0)[0] < 0.7, other
    assert position < message_at, (found, message[0].start)
    (after,) = server.db_query("SELECT * FROM voicemail_messages WHERE id = ?", [msg["id"]])
    assert after["heard"], after

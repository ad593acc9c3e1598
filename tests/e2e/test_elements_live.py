"""Flow elements on live calls with real peers (issue "Every call-flow element live"):
a queue ringing members by strategy, voicemail recorded and emailed through a real SMTP
server, and call_phone calling out through the trunk to a SIPp provider."""

from __future__ import annotations

import io
from typing import Any

import pytest
import soundfile as sf

from tests.audio_analysis import (
    describe,
    dominant_frequency,
    has_tone,
    tone_order,
)
from tests.e2e.conftest import Harness
from tests.e2e.peers import (
    PROVIDER_TONE_HZ,
    company,
    flow,
    tone_audio,
)
from tests.e2e.server import FlowpbxServer
from tests.netutil import free_udp_port
from tests.smtp_sink import SmtpInbox, running_smtp

pytestmark = pytest.mark.e2e

DID = "+37167000011"
HOLD_HZ = 500.0
GREETING_HZ = 700.0


def _company(
    server: FlowpbxServer, trunk_ports: list[int], nodes: dict[str, Any], **extra: Any
) -> None:
    company(
        server,
        trunk_ports=trunk_ports,
        extensions=[
            {"number": "101", "name": "Alice", "password": "pw-long-101-live"},
            {"number": "102", "name": "Bob", "password": "pw-long-102-live"},
        ],
        audio=[
            tone_audio(server, "hold-tone", HOLD_HZ, 2.0),
            tone_audio(server, "greeting-tone", GREETING_HZ, 1.0),
        ],
        flows=[flow("Live", [DID], nodes)],
        **extra,
    )


def test_queue_linear_rings_members_in_order_caller_hears_hold_audio(e2e: Harness) -> None:
    trunk_port = free_udp_port()
    server = FlowpbxServer(e2e.tmp_path, None)
    _company(
        server,
        [trunk_port],
        {
            "main": {
                "type": "queue",
                "params": {
                    "name": "support",
                    "members": ["101", "102"],
                    "strategy": "linear",
                    "member_timeout_s": 2,
                    "retry_s": 0.5,
                    "max_wait_s": 30,
                    "hold_audio": "hold-tone",
                },
            }
        },
    )
    e2e.adopt(server)
    server.start()
    first = e2e.baresip(
        name="q101",
        user="101",
        password="pw-long-101-live",
        registrar=server.sip,
        answermode="manual",
        tone_hz=900,
    )
    second = e2e.baresip(
        name="q102", user="102", password="pw-long-102-live", registrar=server.sip, tone_hz=1100
    )
    first.wait_registered(10)
    second.wait_registered(10)
    provider = e2e.provider(
        server.sip, trunk_port, did=DID, digit="5", dtmf_at_ms=500, talk_ms=6000
    )
    cap = e2e.capture("queue-caller", [provider.media_port])
    provider.start()
    first.wait_event("CALL_INCOMING", timeout=10)  # linear: 101 first
    first.wait_event("CALL_CLOSED", timeout=10)  # not answered within member_timeout_s
    second.wait_event("CALL_ESTABLISHED", timeout=10)  # then 102, who answers
    provider.check(timeout=40)
    second.wait_event("CALL_CLOSED", timeout=10)
    cap.stop()

    heard = cap.audio()
    assert tone_order(heard, [HOLD_HZ, 1100.0], tolerance_hz=15) == [HOLD_HZ, 1100.0], describe(
        heard
    )
    assert has_tone(heard, HOLD_HZ, 1.5), describe(heard)
    assert has_tone(heard, 1100.0, 3.0), describe(heard)
    _, heard_by_agent = second.received_wav()
    assert has_tone(heard_by_agent, PROVIDER_TONE_HZ, 3.0), describe(heard_by_agent)
    types = [e.get("type") for e in first.events()]
    assert "CALL_ESTABLISHED" not in types

    (row,) = server.history()
    assert row["answered_by"] == "102"
    main = [e for e in row["trace"] if e.get("node") == "main"]
    assert main and main[0]["output"] == "answered", row["trace"]
    stats = server.wait_rows("SELECT * FROM queue_calls WHERE queue = ?", ["support"])
    assert stats[0]["member"] == "102" and stats[0]["result"] == "answered", stats


def test_voicemail_records_the_caller_and_emails_the_wav(e2e: Harness) -> None:
    inbox = SmtpInbox()
    with running_smtp(inbox) as smtp_port:
        trunk_port = free_udp_port()
        server = FlowpbxServer(
            e2e.tmp_path,
            None,
            extra_env={
                "FLOWPBX_SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
                "FLOWPBX_SMTP_POLL_S": "0.5",
                "FLOWPBX_SMTP_FROM": "pbx@example.com",
            },
        )
        _company(
            server,
            [trunk_port],
            {
                "main": {
                    "type": "voicemail",
                    "params": {
                        "mode": "leave",
                        "mailbox": "100",
                        "greeting": "greeting-tone",
                        "max_length_s": 4,
                        "silence_stop_s": 3,
                        "email_to": ["boss@example.com"],
                    },
                }
            },
            mailboxes=[{"number": "100", "name": "Main", "email": ["office@example.com"]}],
        )
        e2e.adopt(server)
        server.start()
        provider = e2e.provider(
            server.sip, trunk_port, did=DID, digit="5", dtmf_at_ms=300, hangup_expected=True
        )
        cap = e2e.capture("vm-caller", [provider.media_port])
        provider.start()
        provider.check(timeout=40)  # flowpbx hangs up after max_length_s (4 s)
        cap.stop()
        heard = cap.audio()
        assert tone_order(heard, [GREETING_HZ, 1000.0], tolerance_hz=15)[:1] == [GREETING_HZ], (
            describe(heard)
        )
        # the greeting in full, then the beep (1 kHz, 0.25 s) right after it
        assert has_tone(heard, GREETING_HZ, 0.8), describe(heard)
        greeting_end = next(i for i in range(len(heard) - 1, 0, -1) if abs(int(heard[i])) > 200)
        beep = heard[max(0, greeting_end - 1600) : greeting_end]
        assert abs(dominant_frequency(beep, 8000) - 1000.0) < 20, describe(heard)

        (msg_row,) = server.wait_rows("SELECT * FROM voicemail_messages WHERE mailbox = ?", ["100"])
        wav = server.data_dir / msg_row["file"]
        samples, rate = sf.read(wav, dtype="int16")
        assert rate == 8000
        assert 3.0 <= len(samples) / rate <= 4.5, len(samples) / rate
        assert has_tone(samples, PROVIDER_TONE_HZ, 2.5), describe(samples)
        assert not list(wav.parent.glob("*.tmp*")), "no half-written files left"

        messages = inbox.wait(1, timeout=20)
        assert messages, server.logs()
        mail = messages[0]
        assert "boss@example.com" in mail["To"] and "office@example.com" in mail["To"]
        attachments = [p for p in mail.iter_attachments()]
        assert attachments, mail
        data = attachments[0].get_payload(decode=True)
        assert isinstance(data, bytes)
        got, got_rate = sf.read(io.BytesIO(data), dtype="int16")
        assert got_rate == 8000 and has_tone(got, PROVIDER_TONE_HZ, 2.5)

        (row,) = server.history()
        main = [e for e in row["trace"] if e.get("node") == "main"]
        assert main and main[0]["output"] == "recorded", row["trace"]


def test_call_phone_calls_out_through_the_trunk_and_bridges(e2e: Harness) -> None:
    in_port = free_udp_port()
    out_port = free_udp_port()
    server = FlowpbxServer(e2e.tmp_path, None)
    # The company's number is served by the outbound trunk (a SIPp UAS acting as provider);
    # the caller arrives from another trunk address.
    _company(
        server,
        [out_port, in_port],
        {
            "main": {
                "type": "call_phone",
                "params": {"number": "+37129999999", "ring_timeout_s": 10, "caller_id": "did"},
            }
        },
    )
    e2e.adopt(server)
    server.start()
    mobile = e2e.uas(ext="+37129999999", tone_hz=1300, local_port=out_port, name="mobile")
    mobile.start()
    mobile.wait_ready()
    provider = e2e.provider(server.sip, in_port, did=DID, digit="5", dtmf_at_ms=300, talk_ms=3000)
    cap = e2e.capture("out-caller", [provider.media_port])
    provider.start()
    provider.check(timeout=30)
    mobile.check(timeout=15)
    cap.stop()
    heard = cap.audio()
    assert has_tone(heard, 1300.0, 1.5), describe(heard)
    invite = mobile.messages().split("INVITE sip:", 1)[1]
    head = invite.split("\r\n\r\n", 1)[0] if "\r\n\r\n" in invite else invite[:2000]
    assert "+37129999999@127.0.0.1" in head.splitlines()[0]
    from_line = next(line for line in head.splitlines() if line.lower().startswith("from:"))
    assert DID in from_line, from_line  # caller_id: did
    (row,) = server.history()
    main = [e for e in row["trace"] if e.get("node") == "main"]
    assert main and main[0]["output"] == "answered", row["trace"]


def test_star97_plays_the_own_mailbox_and_marks_messages_heard(e2e: Harness) -> None:
    trunk_port = free_udp_port()
    server = FlowpbxServer(e2e.tmp_path, None)
    _company(
        server,
        [trunk_port],
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
        mailboxes=[{"number": "101", "name": "Alice"}],
    )
    e2e.adopt(server)
    server.start()
    provider = e2e.provider(
        server.sip, trunk_port, did=DID, digit="5", dtmf_at_ms=300, hangup_expected=True
    )
    provider.start()
    provider.check(timeout=30)
    (msg,) = server.wait_rows("SELECT * FROM voicemail_messages WHERE mailbox = ?", ["101"])
    assert not msg["heard"]

    owner = e2e.baresip(name="vm101", user="101", password="pw-long-101-live", registrar=server.sip)
    owner.wait_registered(10)
    owner.dial(f"sip:*97@{server.sip[0]}:{server.sip[1]}")
    owner.wait_event("CALL_ESTABLISHED", timeout=10)
    owner.wait_event("CALL_CLOSED", timeout=60)  # counts, the message, help, then goodbye
    _, heard = owner.received_wav()
    assert has_tone(heard, PROVIDER_TONE_HZ, 2.0), describe(heard)  # the message itself
    (after,) = server.db_query("SELECT * FROM voicemail_messages WHERE mailbox = ?", ["101"])
    assert after["heard"], after

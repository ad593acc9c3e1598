"""Email through an SMTP outage on live calls (SPEC §7 "nothing lost if SMTP is down",
issue "Every call-flow element live"): while no SMTP server listens, a call runs an
`email` element with `when: now` and one with `when: unanswered`, and another call leaves a
voicemail with `email_to`. The mails wait in the outbox (attempts counted, errors kept);
when an aiosmtpd server starts on the configured port, all three arrive, the voicemail's
with its WAV (the caller's tone) attached."""

from __future__ import annotations

import io

import pytest
import soundfile as sf

from tests.audio_analysis import has_tone
from tests.e2e.conftest import Harness
from tests.e2e.peers import (
    PROVIDER_TONE_HZ,
    company,
    flow,
    tone_audio,
    trace_output,
)
from tests.e2e.server import FlowpbxServer
from tests.netutil import free_tcp_port, free_udp_port
from tests.smtp_sink import SmtpInbox, running_smtp

pytestmark = pytest.mark.e2e

DID_NOTIFY = "+37167000101"
DID_VOICEMAIL = "+37167000102"


def test_mail_written_while_smtp_is_down_arrives_when_it_comes_up(e2e: Harness) -> None:
    trunk_port, smtp_port = free_udp_port(), free_tcp_port()
    server = FlowpbxServer(
        e2e.tmp_path,
        None,
        extra_env={
            "FLOWPBX_SMTP_URL": f"smtp://127.0.0.1:{smtp_port}?timeout=2",
            "FLOWPBX_SMTP_FROM": "pbx@example.com",
            "FLOWPBX_SMTP_POLL_S": "0.5",
            "FLOWPBX_SMTP_RETRY_S": "1",
            "FLOWPBX_SMTP_RETRY_MAX_S": "2",
        },
    )
    notify = {
        "main": {
            "type": "email",
            "params": {
                "to": ["now@example.com"],
                "subject": "Call from {caller}",
                "body": "{caller} called {did}",
                "when": "now",
            },
            "next": {"next": "later"},
        },
        "later": {
            "type": "email",
            "params": {
                "to": ["missed@example.com"],
                "subject": "Missed call from {caller}",
                "body": "Nobody answered {caller}",
                "when": "unanswered",
            },
            "next": {"next": "hello"},
        },
        "hello": {"type": "play", "params": {"audio": "hello-tone"}},
    }
    leave = {
        "main": {
            "type": "voicemail",
            "params": {
                "mode": "leave",
                "mailbox": "100",
                "greeting": "hello-tone",
                "max_length_s": 4,
                "beep": False,
                "email_to": ["boss@example.com"],
            },
        }
    }
    company(
        server,
        trunk_ports=[trunk_port],
        audio=[tone_audio(server, "hello-tone", 700.0, 0.5)],
        flows=[flow("Notify", [DID_NOTIFY], notify), flow("Leave", [DID_VOICEMAIL], leave)],
        mailboxes=[{"number": "100", "name": "Main"}],
    )
    e2e.adopt(server)
    server.start()
    for did in (DID_NOTIFY, DID_VOICEMAIL):
        provider = e2e.provider(
            server.sip,
            trunk_port,
            did=did,
            dtmf_at_ms=300,
            hangup_expected=True,
            name=f"call{did[-1]}",
        )
        provider.start().check(timeout=40)
    rows = server.wait_rows(
        "SELECT * FROM call_history WHERE outcome != 'in_progress'", count=2, timeout=20
    )
    assert len(rows) == 2
    assert trace_output(server.history()[1], "main") == "recorded"

    # All three wait in the outbox and have been tried against the dead server.
    failed = server.wait_rows(
        "SELECT * FROM email_outbox WHERE status = 'pending' AND attempts >= 1",
        count=3,
        timeout=30,
    )
    assert all(r["last_error"] for r in failed), failed

    inbox = SmtpInbox()
    with running_smtp(inbox, smtp_port):
        messages = inbox.wait(3, timeout=60)
        by_subject = {str(m["Subject"]): m for m in messages}
        assert len(messages) == 3, (list(by_subject), server.logs())
    caller = "+37129000001"
    assert "now@example.com" in by_subject[f"Call from {caller}"]["To"]
    assert "missed@example.com" in by_subject[f"Missed call from {caller}"]["To"]
    voicemail = next(m for s, m in by_subject.items() if s.startswith("New voicemail"))
    assert "boss@example.com" in voicemail["To"]
    (attachment,) = list(voicemail.iter_attachments())
    data = attachment.get_payload(decode=True)
    assert isinstance(data, bytes)
    samples, rate = sf.read(io.BytesIO(data), dtype="int16")
    assert rate == 8000 and has_tone(samples, PROVIDER_TONE_HZ, 2.5)
    sent = server.wait_rows("SELECT * FROM email_outbox WHERE status = 'sent'", count=3)
    assert len(sent) == 3

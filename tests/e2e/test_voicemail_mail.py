"""Voicemail-to-email on live calls (issue 18), with a real aiosmtpd server.

- The mail leaves as soon as the message is kept — enqueueing wakes the outbox's sender —
  so it does not wait for the next poll: the outbox polls only every 60 s here
  (FLOWPBX_SMTP_POLL_S), so a mail arriving well within that was sent by the wake-up.
- The sender address is the saved `smtp_from` setting; FLOWPBX_SMTP_FROM is only what the
  setting shows (and the mail uses) until one is saved.
- The saved company time zone reaches live calls: an email element's {date} {time} and the
  voicemail mail's "at ..." are in it, not in FLOWPBX_TIMEZONE.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.e2e.apiclient import admin_token, api
from tests.e2e.conftest import Harness
from tests.e2e.peers import company, flow, tone_audio
from tests.e2e.server import FlowpbxServer
from tests.netutil import free_udp_port
from tests.smtp_sink import SmtpInbox, running_smtp

pytestmark = pytest.mark.e2e

DID = "+37167000111"
POLL_S = 60.0


class _Inbox(SmtpInbox):
    """Also keeps each message's envelope sender (MAIL FROM)."""

    def __init__(self) -> None:
        super().__init__()
        self.mail_from: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.mail_from.append(str(envelope.mail_from))
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def smtp() -> Iterator[tuple[int, _Inbox]]:
    inbox = _Inbox()
    with running_smtp(inbox) as port:
        yield port, inbox


def _server(
    e2e: Harness, smtp_port: int, trunk_port: int, *, stamp: bool = False, **env: str
) -> FlowpbxServer:
    server = FlowpbxServer(
        e2e.tmp_path,
        None,
        extra_env={
            "FLOWPBX_SMTP_URL": f"smtp://127.0.0.1:{smtp_port}?timeout=5",
            "FLOWPBX_SMTP_POLL_S": str(POLL_S),
            **env,
        },
    )
    leave = {
        "main": {
            "type": "voicemail",
            "params": {
                "mode": "leave",
                "mailbox": "100",
                "greeting": "hello-tone",
                "max_length_s": 3,
                "beep": False,
                "email_to": ["boss@example.com"],
            },
        }
    }
    if stamp:  # an email element with the call's date and time first
        leave["stamp"] = leave.pop("main")
        leave["main"] = {
            "type": "email",
            "params": {
                "to": ["stamp@example.com"],
                "subject": "Stamp",
                "body": "{date} {time}",
                "when": "now",
            },
            "next": {"next": "stamp"},
        }
    company(
        server,
        trunk_ports=[trunk_port],
        audio=[tone_audio(server, "hello-tone", 700.0, 0.5)],
        flows=[flow("Leave", [DID], leave)],
        mailboxes=[{"number": "100", "name": "Main"}],
    )
    e2e.adopt(server)
    return server


def _leave_message(e2e: Harness, server: FlowpbxServer, trunk_port: int) -> None:
    provider = e2e.provider(server.sip, trunk_port, did=DID, dtmf_at_ms=300, hangup_expected=True)
    provider.start().check(timeout=40)
    server.wait_rows("SELECT * FROM voicemail_messages WHERE mailbox = ?", ["100"])


def _wait_mail(inbox: SmtpInbox, within_s: float, count: int = 1) -> None:
    deadline = time.monotonic() + within_s
    while len(inbox.messages) < count and time.monotonic() < deadline:
        time.sleep(0.1)


def test_voicemail_mail_leaves_without_waiting_for_the_poll(
    e2e: Harness, smtp: tuple[int, _Inbox]
) -> None:
    smtp_port, inbox = smtp
    trunk_port = free_udp_port()
    server = _server(e2e, smtp_port, trunk_port)
    server.start()
    _leave_message(e2e, server, trunk_port)
    _wait_mail(inbox, POLL_S / 3)  # only the wake-up can deliver it this soon
    assert len(inbox.messages) == 1, server.logs()
    (mail,) = inbox.messages
    assert str(mail["Subject"]).startswith("New voicemail from")
    assert "boss@example.com" in str(mail["To"])


def test_mail_sender_is_the_saved_smtp_from_setting(e2e: Harness, smtp: tuple[int, _Inbox]) -> None:
    smtp_port, inbox = smtp
    trunk_port = free_udp_port()
    server = _server(e2e, smtp_port, trunk_port, FLOWPBX_SMTP_FROM="initial@example.com")
    server.start()
    token = admin_token(server, "admin", "mail-admin-pw-18")
    assert api(server, "GET", "/api/v1/settings", token=token)["smtp_from"] == (
        "initial@example.com"
    )
    saved = api(server, "PUT", "/api/v1/settings", {"smtp_from": "office@example.com"}, token)
    assert saved["smtp_from"] == "office@example.com"
    _leave_message(e2e, server, trunk_port)
    _wait_mail(inbox, POLL_S / 3)
    assert len(inbox.messages) == 1, server.logs()
    assert str(inbox.messages[0]["From"]) == "office@example.com"
    assert inbox.mail_from == ["office@example.com"]


def test_saved_time_zone_reaches_live_calls(e2e: Harness, smtp: tuple[int, _Inbox]) -> None:
    smtp_port, inbox = smtp
    trunk_port = free_udp_port()
    zone = "Pacific/Kiritimati"  # UTC+14 all year: never the same wall clock as UTC
    server = _server(e2e, smtp_port, trunk_port, stamp=True, FLOWPBX_TIMEZONE="UTC")
    server.start()
    token = admin_token(server, "admin", "mail-admin-pw-18")
    assert api(server, "PUT", "/api/v1/settings", {"timezone": zone}, token)["timezone"] == zone
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    _leave_message(e2e, server, trunk_port)
    _wait_mail(inbox, POLL_S / 3, count=2)
    after = dt.datetime.now(dt.UTC)
    by_subject = {str(m["Subject"]): m for m in inbox.messages}
    assert "Stamp" in by_subject, (list(by_subject), server.logs())
    body = by_subject["Stamp"].get_content().strip()
    local = dt.datetime.fromisoformat(body.replace(" ", "T")).replace(tzinfo=ZoneInfo(zone))
    assert before <= local.astimezone(dt.UTC) <= after, (body, before, after)
    assert len(by_subject) == 2, (list(by_subject), server.logs())
    voicemail = next(m for s, m in by_subject.items() if s.startswith("New voicemail"))
    text = voicemail.get_body(("plain",))
    assert text is not None
    assert "+14 (number called" in text.get_content(), text.get_content()

"""The email outbox and SMTP sender against a real aiosmtpd server.

The worker is tested with an in-memory outbox (same rules as the store's: attempts count
every try, retry_at None gives up) and then with the real Store on SQLite.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from flowpbx.flow.context import EmailMessage
from flowpbx.services.errors import MailConfigError, MailSendError
from flowpbx.services.mail import Outbox, SmtpConfig, SmtpSender, build_mime
from flowpbx.settings import Settings
from tests.services.conftest import SmtpServer

T0 = dt.datetime(2026, 5, 4, 10, 0, tzinfo=dt.UTC)


@dataclass
class Row:
    id: int
    to: tuple[str, ...]
    subject: str
    body: str
    attachments: tuple[tuple[str, str], ...]
    attempts: int = 0
    status: str = "pending"
    next_attempt_at: dt.datetime = T0
    last_error: str | None = None


@dataclass
class MemoryOutbox:
    """The four outbox methods of the store, in memory."""

    clock: Callable[[], dt.datetime]
    rows: dict[int, Row] = field(default_factory=dict)

    async def enqueue_email(
        self,
        to: list[str],
        subject: str,
        body: str,
        /,
        attachments: Sequence[tuple[str, str]] = (),
    ) -> int:
        rid = len(self.rows) + 1
        self.rows[rid] = Row(
            rid, tuple(to), subject, body, tuple(attachments), next_attempt_at=self.clock()
        )
        return rid

    async def due_emails(self, now: dt.datetime, /, limit: int = 20) -> list[Row]:
        due = [r for r in self.rows.values() if r.status == "pending" and r.next_attempt_at <= now]
        return sorted(due, key=lambda r: (r.next_attempt_at, r.id))[:limit]

    async def mark_sent(self, rid: int, /) -> None:
        self.rows[rid].status = "sent"
        self.rows[rid].attempts += 1

    async def mark_failed(self, rid: int, error: str, retry_at: dt.datetime | None, /) -> None:
        row = self.rows[rid]
        row.attempts += 1
        row.last_error = error
        if retry_at is None:
            row.status = "failed"
        else:
            row.next_attempt_at = retry_at


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> dt.datetime:
        return self.now


def voicemail_wav(path: Path, freq: float = 440.0) -> bytes:
    t = np.arange(8000) / 8000.0
    sf.write(path, (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32), 8000, "PCM_16")
    return path.read_bytes()


# ------------------------------------------------------------------------------ settings


def test_smtp_url_plain() -> None:
    cfg = SmtpConfig.from_url("smtp://mail.example.com?from=pbx@example.com")
    assert (cfg.host, cfg.port, cfg.use_tls, cfg.start_tls) == ("mail.example.com", 25, False, None)
    assert cfg.username is None and cfg.password is None
    assert cfg.sender == "pbx@example.com"


def test_smtp_url_credentials_and_tls() -> None:
    cfg = SmtpConfig.from_url("smtp://user%40x:p%3Ass@mx:587?starttls=yes&verify=no&timeout=5")
    assert (cfg.host, cfg.port, cfg.start_tls, cfg.verify) == ("mx", 587, True, False)
    assert (cfg.username, cfg.password, cfg.timeout_s) == ("user@x", "p:ss", 5.0)
    tls = SmtpConfig.from_url("smtps://mx")
    assert (tls.port, tls.use_tls, tls.start_tls) == (465, True, False)
    assert SmtpConfig.from_url("smtp://mx?starttls=no").start_tls is False


def test_smtp_sender_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWPBX_SMTP_FROM", "office@example.org")
    configured = Settings.from_env().smtp_from
    assert configured == "office@example.org"
    assert SmtpConfig.from_url("smtp://mx", sender=configured).sender == "office@example.org"
    assert SmtpConfig.from_url("smtp://mx?from=a@example.com", sender=configured).sender == (
        "a@example.com"
    )
    monkeypatch.delenv("FLOWPBX_SMTP_FROM")
    assert Settings.from_env().smtp_from == ""
    assert SmtpConfig.from_url("smtp://mx").sender.startswith("flowpbx@")


@pytest.mark.parametrize(
    "url",
    ["http://mx", "smtp://", "smtp://mx:notaport", "smtp://mx?starttls=maybe", "smtp://mx?x=1"],
)
def test_smtp_url_errors(url: str) -> None:
    with pytest.raises(MailConfigError, match="FLOWPBX_SMTP_URL"):
        SmtpConfig.from_url(url)


# ------------------------------------------------------------------------------ messages


def test_mime_with_attachment_and_a_missing_one(tmp_path: Path) -> None:
    data = voicemail_wav(tmp_path / "msg.wav")
    msg = build_mime(
        sender="pbx@example.com",
        to=["a@example.com", "b@example.com"],
        subject="New voicemail\r\nBcc: evil@example.com",
        body="You have a message.\n",
        attachments=[("msg.wav", str(tmp_path / "msg.wav")), ("gone.wav", "/nonexistent.wav")],
    )
    assert msg["To"] == "a@example.com, b@example.com"
    assert msg["Bcc"] is None  # the subject could not start a header
    (part,) = list(msg.iter_attachments())
    assert part.get_content_type() == "audio/wav"
    assert part.get_filename() == "msg.wav"
    assert part.get_content() == data
    text = msg.get_body(("plain",))
    assert text is not None
    assert "gone.wav is no longer available" in text.get_content()


def test_backoff_doubles_up_to_the_cap() -> None:
    outbox = Outbox(MemoryOutbox(Clock()), None, retry_base_s=30, retry_max_s=300)
    assert [outbox.backoff_s(n) for n in range(1, 7)] == [30, 60, 120, 240, 300, 300]


# ------------------------------------------------------------------------------ the worker


async def test_delivered_with_attachment(smtp_server: SmtpServer, tmp_path: Path) -> None:
    smtp_server.start()
    clock = Clock()
    store = MemoryOutbox(clock)
    outbox = Outbox(store, SmtpSender(SmtpConfig.from_url(smtp_server.url)), clock=clock)
    data = voicemail_wav(tmp_path / "vm.wav")
    message = EmailMessage(to=("boss@example.com",), subject="Voicemail from +371", body="Hi")
    await outbox.send_email(message)
    rid = await outbox.enqueue(
        ["boss@example.com"], "Voicemail", "Listen", [("message.wav", str(tmp_path / "vm.wav"))]
    )
    assert smtp_server.sink.messages == []  # enqueued, not sent
    assert await outbox.process_due() == 2
    assert {r.status for r in store.rows.values()} == {"sent"}
    first, second = smtp_server.sink.messages
    assert first["Subject"] == "Voicemail from +371"
    assert first.get_body(("plain",)).get_content().strip() == "Hi"  # type: ignore[union-attr]
    assert smtp_server.sink.envelopes[0] == ("pbx@example.com", ["boss@example.com"])
    (part,) = list(second.iter_attachments())
    assert part.get_filename() == "message.wav"
    assert part.get_content() == data
    assert store.rows[rid].attempts == 1
    assert await outbox.process_due() == 0  # nothing is sent twice


async def test_smtp_down_then_up(smtp_server: SmtpServer) -> None:
    clock = Clock()
    store = MemoryOutbox(clock)
    sender = SmtpSender(SmtpConfig.from_url(smtp_server.url + "&timeout=5"))
    outbox = Outbox(store, sender, retry_base_s=60, clock=clock)
    for n in range(3):
        await outbox.enqueue(["ops@example.com"], f"alert {n}", "body")
    assert await outbox.process_due() == 0
    # one connection attempt for the whole outage step, the others wait their turn
    attempts = [r.attempts for r in store.rows.values()]
    assert attempts == [1, 0, 0]
    first = store.rows[1]
    assert first.status == "pending"
    assert first.next_attempt_at == T0 + dt.timedelta(seconds=60)
    assert first.last_error is not None and "MailSendError" not in first.last_error
    clock.now += dt.timedelta(seconds=30)
    assert await outbox.process_due() == 0  # paused: no new attempt before the backoff ends
    assert [r.attempts for r in store.rows.values()] == [1, 0, 0]
    clock.now += dt.timedelta(seconds=31)
    assert await outbox.process_due() == 0  # still down: one more attempt (the oldest due) ...
    assert [r.attempts for r in store.rows.values()] == [1, 1, 0]
    clock.now += dt.timedelta(seconds=61)
    assert await outbox.process_due() == 0  # ... and the pause has doubled
    assert [r.attempts for r in store.rows.values()] == [1, 1, 0]
    smtp_server.start()
    clock.now += dt.timedelta(seconds=60)
    assert await outbox.process_due() == 3
    subjects = sorted(str(m["Subject"]) for m in smtp_server.sink.messages)
    assert subjects == ["alert 0", "alert 1", "alert 2"]


async def test_refused_recipient_is_given_up(smtp_server: SmtpServer) -> None:
    smtp_server.start()
    smtp_server.sink.refuse.add("nobody@example.com")
    clock = Clock()
    store = MemoryOutbox(clock)
    outbox = Outbox(store, SmtpSender(SmtpConfig.from_url(smtp_server.url)), clock=clock)
    bad = await outbox.enqueue(["nobody@example.com"], "x", "y")
    good = await outbox.enqueue(["someone@example.com"], "x", "y")
    assert await outbox.process_due() == 1
    assert store.rows[bad].status == "failed"
    assert "550" in (store.rows[bad].last_error or "")
    assert store.rows[good].status == "sent"


async def test_sender_refuses_empty_recipients() -> None:
    sender = SmtpSender(SmtpConfig.from_url("smtp://127.0.0.1:9"))
    with pytest.raises(MailSendError) as info:
        await sender.send([], "s", "b")
    assert info.value.permanent


async def test_worker_task_delivers_after_smtp_returns(smtp_server: SmtpServer) -> None:
    """Real time, real worker: SMTP is down when the email is queued; it arrives later."""
    store = MemoryOutbox(_utcnow)
    sender = SmtpSender(SmtpConfig.from_url(smtp_server.url))
    outbox = Outbox(store, sender, retry_base_s=0.2, retry_max_s=0.5, poll_s=5)
    outbox.start()
    try:
        await outbox.enqueue(["boss@example.com"], "while down", "text")
        while store.rows[1].attempts == 0:  # the worker tried and failed
            await asyncio.sleep(0.02)
        assert store.rows[1].status == "pending"
        smtp_server.start()
        arrived = await asyncio.to_thread(smtp_server.sink.got.wait, 20)
        assert arrived
        while store.rows[1].status != "sent":
            await asyncio.sleep(0.02)
    finally:
        await outbox.close()
    assert [str(m["Subject"]) for m in smtp_server.sink.messages] == ["while down"]
    assert store.rows[1].attempts >= 2


@dataclass(frozen=True)
class MessageWithFile:
    """What a voicemail email looks like: an EmailMessage plus (filename, path) pairs."""

    to: tuple[str, ...]
    subject: str
    body: str
    attachments: tuple[tuple[str, str], ...]


async def test_send_email_keeps_attachments(tmp_path: Path) -> None:
    store = MemoryOutbox(Clock())
    outbox = Outbox(store, None)
    wav = str(tmp_path / "vm.wav")
    message = MessageWithFile(("a@example.com",), "VM", "text", (("vm.wav", wav),))
    await outbox.send_email(message)  # type: ignore[arg-type]
    assert store.rows[1].attachments == (("vm.wav", wav),)
    assert await outbox.process_due() == 0  # no SMTP configured: it waits in the outbox
    assert store.rows[1].status == "pending"

"""Email: the durable outbox and the SMTP sender behind it (SPEC §1, §7).

Nothing sends mail directly. A flow's `send_email` (and the voicemail element) *enqueue*
a message in the store's outbox — one database row, so a crash or an SMTP outage loses
nothing — and the `Outbox` worker delivers it:

    enqueue ──> email_outbox row (pending, due now) ──> Outbox.process_due()
                    ^                                       │ SmtpSender.send()
                    │ mark_failed(retry_at = now + backoff) ├── ok        -> mark_sent
                    └───────────────────────────────────────┴── failure   -> retry later
                                                               (5xx refusal -> give up)

Backoff doubles from `retry_base_s` up to `retry_max_s`, per message (its attempts) and
for the worker as a whole: while the SMTP server is unreachable the worker pauses, with
the same doubling over consecutive failures, so an outage costs one connection attempt
per backoff step, not one per queued message.

`FLOWPBX_SMTP_URL` is ``smtp://[user:password@]host[:port][?starttls=auto|yes|no&from=ADDR]``
(port 25) or ``smtps://…`` (TLS from the first byte, port 465); ``verify=no`` skips the
certificate check (a self-signed office server). The sender address is the saved
``smtp_from`` setting (Settings page, read for each message); until one is saved, the
``from`` parameter, else FLOWPBX_SMTP_FROM, else ``flowpbx@<this host>``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import email.message
import email.utils
import logging
import mimetypes
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib

from flowpbx.flow.context import EmailMessage
from flowpbx.flow.templates import header_safe
from flowpbx.services.errors import MailConfigError, MailSendError

__all__ = [
    "Attachment",
    "Outbox",
    "OutboxItem",
    "OutboxStore",
    "SmtpConfig",
    "SmtpSender",
    "build_mime",
]

log = logging.getLogger("flowpbx.services.mail")

Attachment = tuple[str, str]  # (file name shown to the reader, path on disk)
MAX_ATTACHMENT_BYTES = 25 * 1024 * 1024  # what common mail servers accept in one message


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# ---------------------------------------------------------------------------------- settings


def default_sender(configured: str = "") -> str:
    """The sender when neither the SMTP URL nor the saved setting names one: `configured`
    (Settings.smtp_from, FLOWPBX_SMTP_FROM), else flowpbx@<this host>."""
    return configured.strip() or f"flowpbx@{socket.gethostname() or 'localhost'}"


@dataclass(frozen=True, slots=True, kw_only=True)
class SmtpConfig:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    use_tls: bool = False  # smtps://: TLS from the first byte
    start_tls: bool | None = None  # None: upgrade when the server offers STARTTLS
    verify: bool = True
    sender: str = ""
    timeout_s: float = 30.0

    @classmethod
    def from_url(cls, url: str, *, sender: str | None = None) -> SmtpConfig:
        """Parse FLOWPBX_SMTP_URL; MailConfigError says what is wrong in one line."""
        parts = urlsplit(url.strip())
        if parts.scheme not in ("smtp", "smtps"):
            raise MailConfigError(f"FLOWPBX_SMTP_URL={url!r}: expected smtp://host[:port]")
        try:
            port = parts.port
        except ValueError as exc:
            raise MailConfigError(f"FLOWPBX_SMTP_URL: bad port ({exc})") from exc
        if not parts.hostname:
            raise MailConfigError(f"FLOWPBX_SMTP_URL={url!r}: no host")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        unknown = set(query) - {"starttls", "from", "verify", "timeout"}
        if unknown:
            raise MailConfigError(f"FLOWPBX_SMTP_URL: unknown parameter {sorted(unknown)[0]!r}")
        tls_flag = query.get("starttls", "auto").lower()
        if tls_flag not in ("auto", "yes", "no", "1", "0", "true", "false"):
            raise MailConfigError("FLOWPBX_SMTP_URL: starttls must be auto, yes or no")
        use_tls = parts.scheme == "smtps"
        start_tls: bool | None
        if use_tls:
            start_tls = False
        elif tls_flag == "auto":
            start_tls = None
        else:
            start_tls = tls_flag in ("yes", "1", "true")
        try:
            timeout_s = float(query.get("timeout", "30"))
        except ValueError as exc:
            raise MailConfigError("FLOWPBX_SMTP_URL: timeout must be seconds") from exc
        from_addr = query.get("from") or sender or default_sender()
        return cls(
            host=parts.hostname,
            port=port or (465 if use_tls else 25),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password is not None else None,
            use_tls=use_tls,
            start_tls=start_tls,
            verify=query.get("verify", "yes").lower() not in ("no", "0", "false"),
            sender=header_safe(from_addr).strip(),
            timeout_s=timeout_s,
        )


# ---------------------------------------------------------------------------------- messages


def build_mime(
    *,
    sender: str,
    to: Sequence[str],
    subject: str,
    body: str,
    attachments: Sequence[Attachment] = (),
) -> email.message.EmailMessage:
    """A MIME message; attachments read from disk (a missing file is left out, with a note
    at the end of the text, so the rest of the message still arrives). Blocking: call it in
    a worker thread."""
    msg = email.message.EmailMessage()
    msg["From"] = sender
    msg["To"] = ", ".join(header_safe(a).strip() for a in to)
    msg["Subject"] = header_safe(subject)
    msg["Date"] = email.utils.formatdate(usegmt=True)
    domain = sender.rpartition("@")[2] or "flowpbx.invalid"
    msg["Message-ID"] = email.utils.make_msgid(domain=domain)
    notes: list[str] = []
    files: list[tuple[str, bytes]] = []
    for filename, path in attachments:
        name = header_safe(Path(filename).name) or "attachment"
        try:
            p = Path(path)
            if p.stat().st_size > MAX_ATTACHMENT_BYTES:
                notes.append(f"[{name} is too large to attach]")
                continue
            files.append((name, p.read_bytes()))
        except OSError:
            notes.append(f"[{name} is no longer available]")
    text = body if not notes else body.rstrip("\n") + "\n\n" + "\n".join(notes) + "\n"
    msg.set_content(text)
    for name, data in files:
        ctype = mimetypes.guess_type(name)[0] or "application/octet-stream"
        if name.lower().endswith(".wav"):
            ctype = "audio/wav"
        maintype, _, subtype = ctype.partition("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg


class SmtpSender:
    """Hands one message to the configured SMTP server. `saved_from` (when given) returns the
    saved sender address, which wins over the configured one."""

    def __init__(
        self,
        config: SmtpConfig,
        *,
        saved_from: Callable[[], Awaitable[str | None]] | None = None,
    ) -> None:
        self.config = config
        self.saved_from = saved_from

    async def sender_address(self) -> str:
        if self.saved_from is not None:
            saved = await self.saved_from()
            if isinstance(saved, str) and header_safe(saved).strip():
                return header_safe(saved).strip()
        return self.config.sender

    async def send(
        self,
        to: Sequence[str],
        subject: str,
        body: str,
        attachments: Sequence[Attachment] = (),
    ) -> None:
        if not to:
            raise MailSendError("no recipients", permanent=True)
        cfg = self.config
        try:
            from_addr = await self.sender_address()
        except Exception as exc:  # the settings could not be read: retry later
            raise MailSendError(f"sender address unavailable: {exc}") from exc
        msg = await asyncio.to_thread(
            build_mime,
            sender=from_addr,
            to=to,
            subject=subject,
            body=body,
            attachments=attachments,
        )
        try:
            await aiosmtplib.send(
                msg,
                sender=from_addr,
                recipients=list(to),
                hostname=cfg.host,
                port=cfg.port,
                username=cfg.username,
                password=cfg.password,
                use_tls=cfg.use_tls,
                start_tls=cfg.start_tls,
                validate_certs=cfg.verify,
                timeout=cfg.timeout_s,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            permanent = bool(codes) and all(500 <= c < 600 for c in codes)
            raise MailSendError(f"recipients refused: {exc}", permanent=permanent) from exc
        except (aiosmtplib.SMTPSenderRefused, aiosmtplib.SMTPDataError) as exc:
            raise MailSendError(
                f"{type(exc).__name__}: {exc}", permanent=500 <= exc.code < 600
            ) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise MailSendError(f"{type(exc).__name__}: {exc}") from exc


# ---------------------------------------------------------------------------------- outbox


class OutboxItem(Protocol):
    """One due row of the store's outbox (docs/api.md, "Email outbox")."""

    @property
    def id(self) -> int: ...
    @property
    def to(self) -> Sequence[str]: ...
    @property
    def subject(self) -> str: ...
    @property
    def body(self) -> str: ...
    @property
    def attachments(self) -> Sequence[tuple[str, str]]: ...
    @property
    def attempts(self) -> int: ...


class OutboxStore(Protocol):
    """The four store methods the outbox uses."""

    async def enqueue_email(
        self,
        to: list[str],
        subject: str,
        body: str,
        /,
        attachments: Sequence[tuple[str, str]] = ...,
    ) -> int: ...

    async def due_emails(self, now: dt.datetime, /, limit: int = ...) -> Sequence[OutboxItem]: ...

    async def mark_sent(self, rid: int, /) -> None: ...

    async def mark_failed(self, rid: int, error: str, retry_at: dt.datetime | None, /) -> None: ...


class MailTransport(Protocol):
    async def send(
        self, to: Sequence[str], subject: str, body: str, attachments: Sequence[Attachment] = ()
    ) -> None: ...


class Outbox:
    """The durable email queue and its delivery worker.

    `send_email` is what flows get (FlowServices.send_email): it only enqueues. `start()`
    runs the worker as a task; `process_due()` does one pass (tests, `flowpbx` commands).
    """

    def __init__(
        self,
        store: OutboxStore,
        sender: MailTransport | None,
        *,
        retry_base_s: float = 30.0,
        retry_max_s: float = 3600.0,
        poll_s: float = 30.0,
        batch: int = 20,
        clock: Callable[[], dt.datetime] = _utcnow,
    ) -> None:
        self.store = store
        self.sender = sender
        self.retry_base_s = retry_base_s
        self.retry_max_s = retry_max_s
        self.poll_s = poll_s
        self.batch = batch
        self.clock = clock
        self.sent = 0
        self.failed = 0
        self._wake = asyncio.Event()
        self._closing = False
        self._paused_until: dt.datetime | None = None
        self._outage = 0  # consecutive "server unreachable" failures
        self._task: asyncio.Task[None] | None = None

    # -- producing

    async def enqueue(
        self,
        to: Sequence[str],
        subject: str,
        body: str,
        attachments: Sequence[Attachment] = (),
    ) -> int:
        rid = await self.store.enqueue_email(
            list(to), subject, body, attachments=[(str(n), str(p)) for n, p in attachments]
        )
        self._wake.set()
        return rid

    async def send_email(self, message: EmailMessage) -> None:
        """FlowServices.send_email: durable enqueue. A message object may carry
        `attachments` [(filename, path)] (voicemail WAV)."""
        attachments: Sequence[Attachment] = getattr(message, "attachments", ()) or ()
        await self.enqueue(message.to, message.subject, message.body, attachments)

    # -- delivering

    def backoff_s(self, attempts: int) -> float:
        """Delay before the next try after `attempts` failed tries (1 -> base, doubling)."""
        exponent = min(max(attempts - 1, 0), 30)
        return float(min(self.retry_base_s * (2.0**exponent), self.retry_max_s))

    async def process_due(self) -> int:
        """Try every due message once (in batches); returns how many were sent."""
        if self.sender is None:
            return 0
        sent = 0
        while True:
            now = self.clock()
            if self._paused_until is not None and now < self._paused_until:
                return sent
            self._paused_until = None
            items = await self.store.due_emails(now, limit=self.batch)
            for item in items:
                ok, unreachable = await self._deliver(item)
                sent += ok
                if unreachable:
                    return sent
            if len(items) < self.batch:
                return sent

    async def _deliver(self, item: OutboxItem) -> tuple[bool, bool]:
        """(sent, server unreachable) for one message; its row is updated either way."""
        assert self.sender is not None
        try:
            await self.sender.send(
                list(item.to), item.subject, item.body, list(item.attachments or ())
            )
        except MailSendError as exc:
            self.failed += 1
            error = str(exc)[:500]
            if exc.permanent:
                log.warning("email %s given up: %s", item.id, error)
                await self.store.mark_failed(item.id, error, None)
                return False, False
            retry_at = self.clock() + dt.timedelta(seconds=self.backoff_s(item.attempts + 1))
            log.info("email %s not sent (%s); retry at %s", item.id, error, retry_at)
            await self.store.mark_failed(item.id, error, retry_at)
            self._outage += 1
            pause = dt.timedelta(seconds=self.backoff_s(self._outage))
            self._paused_until = self.clock() + pause
            return False, True
        except Exception as exc:  # a bug or a broken row must not stop the other mail
            log.exception("email %s failed", item.id)
            retry_at = self.clock() + dt.timedelta(seconds=self.backoff_s(item.attempts + 1))
            await self.store.mark_failed(item.id, f"{type(exc).__name__}: {exc}"[:500], retry_at)
            return False, False
        await self.store.mark_sent(item.id)
        self._outage = 0
        self.sent += 1
        return True, False

    # -- the worker task

    def start(self) -> None:
        if self._task is None and self.sender is not None:
            self._task = asyncio.create_task(self._run(), name="flowpbx-outbox")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            # The flag ends the loop even when the cancellation is swallowed: Python 3.11's
            # asyncio.timeout can turn a cancel that races its own expiry into a TimeoutError.
            self._closing = True
            self._wake.set()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            self._closing = False

    def wake(self) -> None:
        self._wake.set()

    async def _run(self) -> None:
        while not self._closing:
            self._wake.clear()
            try:
                await self.process_due()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database hiccuped: try again at the next poll
                log.exception("outbox pass failed")
            delay = self.poll_s
            if self._paused_until is not None:
                delay = min(delay, (self._paused_until - self.clock()).total_seconds())
                delay = max(delay, 0.0)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()

"""The outbox on the real Store (SQLite) and the wiring `build_flow_services` gives flows."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from flowpbx.flow.context import EmailMessage, FlowServices
from flowpbx.flow.interpreter import run_flow
from flowpbx.flow.model import load_flow
from flowpbx.flow.simulator import SimulatedSession
from flowpbx.services import Services, build_flow_services, services_for
from flowpbx.services.http import WebClient
from flowpbx.services.mail import Outbox, SmtpConfig, SmtpSender
from flowpbx.settings import Settings, SettingsError
from flowpbx.store.db import Store, upgrade
from tests.flow.helpers import CALLER, DID, MONDAY_10
from tests.services.conftest import SmtpServer, WebPeer
from tests.services.test_mail import voicemail_wav


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'data' / 'flowpbx.db'}"
    (tmp_path / "data").mkdir()
    await upgrade(url)
    s = Store(url, tmp_path / "data")
    try:
        yield s
    finally:
        await s.close()


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


async def test_store_outbox_survives_smtp_outage(
    store: Store, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    clock = Clock()
    sender = SmtpSender(SmtpConfig.from_url(smtp_server.url))
    outbox = Outbox(store, sender, retry_base_s=30, clock=clock)
    data = voicemail_wav(tmp_path / "vm.wav", freq=1000)
    rid = await outbox.enqueue(
        ["boss@example.com"], "Voicemail 100", "New message", [("vm.wav", str(tmp_path / "vm.wav"))]
    )
    clock.now = dt.datetime.now(dt.UTC)  # the store stamps the row with the real time
    assert await outbox.process_due() == 0  # SMTP is down
    row = await store.get_email(rid)
    assert row is not None
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.last_error and "SMTPConnect" in row.last_error
    assert abs((row.next_attempt_at - clock.now).total_seconds() - 30) < 1

    # a restart in between: a new worker on the same database still has the message
    smtp_server.start()
    clock.now += dt.timedelta(seconds=31)
    fresh = Outbox(store, sender, retry_base_s=30, clock=clock)
    assert await fresh.process_due() == 1
    row = await store.get_email(rid)
    assert row is not None and row.status == "sent" and row.attempts == 2
    (msg,) = smtp_server.sink.messages
    assert msg["Subject"] == "Voicemail 100"
    (part,) = list(msg.iter_attachments())
    assert part.get_content() == data


async def test_flow_email_goes_through_the_outbox(store: Store, smtp_server: SmtpServer) -> None:
    settings = Settings(smtp_url=smtp_server.url)
    services = Services(settings, store, retry_base_s=0.2, retry_max_s=0.5, poll_s=5)
    flow_services = services.flow_services(None)
    assert flow_services.send_email is not None
    doc = {
        "name": "Mail line",
        "entry": "start",
        "nodes": {
            "start": {"type": "numbers", "params": {"numbers": [DID]}, "next": {"next": "mail"}},
            "mail": {
                "type": "email",
                "params": {
                    "to": ["boss@example.com"],
                    "subject": "Call from {caller}",
                    "body": "{caller} called {did} at {time}",
                },
                "next": {"next": "bye"},
            },
            "bye": {"type": "hangup", "params": {}},
        },
    }
    session = SimulatedSession(caller=CALLER, did=DID, at=MONDAY_10)
    try:
        run = await run_flow(load_flow(doc), session, services=flow_services)
        entry = next(e for e in run.trace if e.node == "mail")
        assert entry.facts.get("sent") is True  # queued durably
        (queued,) = await store.due_emails(dt.datetime.now(dt.UTC))
        assert queued.subject == f"Call from {CALLER}"
        services.start()  # SMTP still down: the worker fails, then the server comes up
        async with asyncio.timeout(30):  # the first attempt fails: SMTP is down
            while (await store.get_email(queued.id)).attempts == 0:  # type: ignore[union-attr]
                await asyncio.sleep(0.05)
        smtp_server.start()
        assert await asyncio.to_thread(smtp_server.sink.got.wait, 20)
    finally:
        await services.close()
    (msg,) = smtp_server.sink.messages
    assert msg["Subject"] == f"Call from {CALLER}"
    body = msg.get_body(("plain",))
    assert body is not None and f"{CALLER} called {DID} at 10:00:00" in body.get_content()


async def test_build_flow_services_wiring(store: Store, web: WebPeer) -> None:
    class View:
        extensions = {"101": object(), "102": object()}
        timezone = "Europe/Riga"

        def schedule(self, name: str) -> None:
            return None

    settings = Settings()  # no SMTP configured: mail still waits in the outbox
    view = View()
    built = build_flow_services(settings, store, view)
    try:
        assert isinstance(built, FlowServices)
        assert isinstance(built.http, WebClient)
        assert built.schedule == view.schedule
        assert built.extensions is not None and set(built.extensions()) == {"101", "102"}
        assert built.timezone == "Europe/Riga"
        assert built.live is True
        # one set of long-lived services per store: a reload reuses the same client
        again = build_flow_services(settings, store, view)
        assert again.http is built.http
        assert built.send_email is not None
        await built.send_email(EmailMessage(to=("a@example.com",), subject="s", body="b"))
        (row,) = await store.due_emails(dt.datetime.now(dt.UTC))
        assert row.to == ("a@example.com",)
        # private addresses are refused unless FLOWPBX_HTTP_ALLOW_PRIVATE allows them
        assert services_for(settings, store).http.settings.allow_private is False
    finally:
        await services_for(settings, store).close()
    # after close the next call builds a fresh set (a closed client is never handed out)
    fresh = services_for(settings, store)
    try:
        assert fresh.http is not built.http
    finally:
        await fresh.close()


async def test_retry_timing_from_environment(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWPBX_SMTP_RETRY_S", "0.5")
    monkeypatch.setenv("FLOWPBX_SMTP_RETRY_MAX_S", "4")
    monkeypatch.setenv("FLOWPBX_SMTP_URL", "smtp://127.0.0.1:9")
    services = Services(Settings.from_env(), store)
    try:
        assert services.outbox is not None
        assert [services.outbox.backoff_s(n) for n in (1, 2, 5)] == [0.5, 1.0, 4.0]
    finally:
        await services.close()
    monkeypatch.setenv("FLOWPBX_SMTP_RETRY_S", "soon")
    with pytest.raises(SettingsError, match="FLOWPBX_SMTP_RETRY_S"):
        Settings.from_env()

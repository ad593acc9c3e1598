"""Settings → Email (SMTP): "Send test mail" hands one mail to the configured SMTP server (a
real aiosmtpd server) and shows what happened; without a server it says how to set one;
a bad address reads as a sentence by the field."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.server import FlowpbxServer
from tests.smtp_sink import SmtpInbox, running_smtp
from tests.web.conftest import ADMIN, COMPANY, login, screenshot


@pytest.fixture
def smtp() -> Iterator[tuple[int, SmtpInbox]]:
    inbox = SmtpInbox()
    with running_smtp(inbox) as port:
        yield port, inbox


def test_test_mail_without_smtp_server_says_how_to_set_one(logged_in: Page) -> None:
    page = logged_in
    page.get_by_role("link", name="Settings").click()
    mail = page.get_by_role("form", name="Email (SMTP)")
    mail.get_by_label("Send a test mail to").fill("anna")
    mail.get_by_role("button", name="Send test mail").click()
    expect(mail.locator("#test-mail-to-problem")).to_have_text(
        "Enter an email address like anna@example.com"
    )
    mail.get_by_label("Send a test mail to").fill("anna@example.com")
    mail.get_by_role("button", name="Send test mail").click()
    expect(mail.get_by_role("alert")).to_have_text(
        "No SMTP server is configured: set FLOWPBX_SMTP_URL (smtp://host:port) and restart"
    )
    expect(mail.locator("#test-mail-to-problem")).to_have_count(0)


def test_test_mail_reaches_the_smtp_server(
    browser: Browser, web_dist: Path, tmp_path: Path, smtp: tuple[int, SmtpInbox]
) -> None:
    port, inbox = smtp
    env = {
        "FLOWPBX_WEB_DIR": str(web_dist),
        "FLOWPBX_SMTP_URL": f"smtp://127.0.0.1:{port}?timeout=5",
    }
    with FlowpbxServer(tmp_path, COMPANY, extra_env=env) as server:
        server.cli("user", "create", ADMIN[0], "--password", ADMIN[1], "--role", "admin")
        context = browser.new_context(
            base_url=server.http, viewport={"width": 1920, "height": 1080}
        )
        try:
            page = context.new_page()
            login(page)
            page.get_by_role("link", name="Settings").click()
            page.get_by_label("Sender address of emails").fill("pbx@example.com")
            page.get_by_role("button", name="Save").click()
            expect(page.get_by_role("status").filter(has_text="Saved")).to_be_visible()
            mail = page.get_by_role("form", name="Email (SMTP)")
            mail.get_by_label("Send a test mail to").fill("anna@example.com")
            mail.get_by_role("button", name="Send test mail").click()
            expect(mail.get_by_role("status")).to_have_text(
                f"Test mail to anna@example.com handed to 127.0.0.1:{port} (from pbx@example.com)"
            )
            screenshot(page, "settings-test-mail")
        finally:
            context.close()
    assert len(inbox.messages) == 1
    msg = inbox.messages[0]
    assert (msg["Subject"], msg["To"], msg["From"]) == (
        "flowpbx test mail",
        "anna@example.com",
        "pbx@example.com",
    )

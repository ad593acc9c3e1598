"""POST /api/v1/settings/test-mail: one mail through the configured SMTP server, answered
with what the server said (a real aiosmtpd server on a free port)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.api.conftest import bearer, with_settings
from tests.netutil import free_tcp_port
from tests.smtp_sink import SmtpInbox, running_smtp


class _Refusing(SmtpInbox):
    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        return "550 5.1.1 no such mailbox here"


@pytest.fixture
def inbox(app: FastAPI) -> Iterator[SmtpInbox]:
    box = SmtpInbox()
    with running_smtp(box) as port:
        with_settings(app, smtp_url=f"smtp://127.0.0.1:{port}?timeout=5")
        yield box


async def test_admin_sends_a_test_mail_that_arrives(
    client: httpx.AsyncClient, token: str, inbox: SmtpInbox
) -> None:
    r = await client.put(
        "/api/v1/settings", json={"smtp_from": "pbx@example.com"}, headers=bearer(token)
    )
    assert r.status_code == 200, r.text
    r = await client.post(
        "/api/v1/settings/test-mail", json={"to": "anna@example.com"}, headers=bearer(token)
    )
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["to"] == "anna@example.com"
    assert answer["sender"] == "pbx@example.com"
    assert answer["server"].startswith("127.0.0.1:")
    assert len(inbox.messages) == 1
    msg = inbox.messages[0]
    assert msg["Subject"] == "flowpbx test mail"
    assert msg["To"] == "anna@example.com"
    assert msg["From"] == "pbx@example.com"
    assert "sent by admin" in msg.get_content()


async def test_test_mail_is_for_admins_and_checks_the_address(
    client: httpx.AsyncClient, token: str, viewer_token: str, inbox: SmtpInbox
) -> None:
    r = await client.post(
        "/api/v1/settings/test-mail", json={"to": "anna@example.com"}, headers=bearer(viewer_token)
    )
    assert r.status_code == 403
    for bad in ("anna", "a@b", "x <a@example.com>", "a@example.com\r\nBcc: b@example.com"):
        r = await client.post("/api/v1/settings/test-mail", json={"to": bad}, headers=bearer(token))
        assert r.status_code == 422, (bad, r.text)
        assert "body.to" in r.text
    assert inbox.messages == []


async def test_test_mail_without_smtp_server_says_so(
    app: FastAPI, client: httpx.AsyncClient, token: str
) -> None:
    with_settings(app, smtp_url="")
    r = await client.post(
        "/api/v1/settings/test-mail", json={"to": "anna@example.com"}, headers=bearer(token)
    )
    assert r.status_code == 409
    assert "FLOWPBX_SMTP_URL" in r.json()["error"]["message"]
    with_settings(app, smtp_url="http://user:hunter2-secret@mail.example.com")
    r = await client.post(
        "/api/v1/settings/test-mail", json={"to": "anna@example.com"}, headers=bearer(token)
    )
    assert r.status_code == 409
    assert "hunter2-secret" not in r.text


async def test_refusal_and_unreachable_server_answer_502_with_the_reason(
    app: FastAPI, client: httpx.AsyncClient, token: str
) -> None:
    with running_smtp(_Refusing()) as port:
        with_settings(app, smtp_url=f"smtp://127.0.0.1:{port}?timeout=5")
        r = await client.post(
            "/api/v1/settings/test-mail", json={"to": "anna@example.com"}, headers=bearer(token)
        )
    assert r.status_code == 502, r.text
    message = r.json()["error"]["message"]
    assert message.startswith(f"The SMTP server 127.0.0.1:{port} did not take the mail")
    assert "no such mailbox here" in message

    closed = free_tcp_port()
    with_settings(app, smtp_url=f"smtp://127.0.0.1:{closed}?timeout=5")
    r = await client.post(
        "/api/v1/settings/test-mail", json={"to": "anna@example.com"}, headers=bearer(token)
    )
    assert r.status_code == 502, r.text
    assert f"127.0.0.1:{closed}" in r.json()["error"]["message"]

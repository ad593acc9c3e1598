"""A real SMTP server for the tests that send mail (aiosmtpd on loopback): ``SmtpInbox``
keeps what arrives, parsed; ``running_smtp`` serves a handler on a port for a ``with``
block."""

from __future__ import annotations

import contextlib
import email
import email.message
import email.policy
import time
from collections.abc import Iterator
from typing import Any

from aiosmtpd.controller import Controller

from tests.netutil import free_tcp_port


class SmtpInbox:
    """An aiosmtpd handler keeping every message it receives, parsed."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(msg, email.message.EmailMessage)
        self.messages.append(msg)
        return "250 OK"

    def wait(self, count: int = 1, timeout: float = 20.0) -> list[email.message.EmailMessage]:
        """Poll until *count* messages arrived or *timeout* passed: the messages so far (the
        caller asserts on them)."""
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.2)
        return self.messages


@contextlib.contextmanager
def running_smtp(handler: object, port: int | None = None) -> Iterator[int]:
    """An SMTP server on 127.0.0.1:*port* (a free one by default) handing every session to
    *handler* while the block runs; its port."""
    port = free_tcp_port() if port is None else port
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()

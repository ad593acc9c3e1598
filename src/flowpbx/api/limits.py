"""Request size caps applied before any body is parsed or spooled (SPEC §7: sizes capped).

Every request body is counted as it streams in, whatever its framing: a declared
Content-Length over the cap for its path is answered 413 `too-large` at once, and a body
without one (``Transfer-Encoding: chunked``) is answered 413 as soon as the bytes received
pass the cap — the handler sees the client as gone and nothing past the cap is kept, parsed
or stored. This happens before authentication: the login body is capped at a few KB, so
an anonymous client cannot make the server parse megabytes of JSON.

A client still sending must read the answer rather than a reset connection: after a 413
the rest of the body is read and dropped (nothing is buffered) before the connection is
closed, up to `DRAIN_MAX` bytes past the cap; a client sending more than that is cut off
(closing a socket with unread data resets it, and the client may then miss the 413).
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

AUDIO_UPLOAD_CAP = 20 * 1024 * 1024 + 256 * 1024  # the file plus multipart framing
DEFAULT_CAP = 6 * 1024 * 1024
AUTH_CAP = 16 * 1024  # a user name and a password
DRAIN_MAX = 64 * 1024 * 1024  # bytes read and dropped after a 413 so the client reads it


def cap_for(path: str) -> int:
    path = path.rstrip("/")
    if path == "/api/v1/audio":
        return AUDIO_UPLOAD_CAP
    if path.startswith("/api/v1/auth/"):
        return AUTH_CAP
    return DEFAULT_CAP


def _too_large(cap: int, *, close: bool) -> tuple[Message, Message]:
    body = json.dumps(
        {
            "error": {
                "id": "too-large",
                "message": f"the request body is larger than {cap} bytes",
                "details": {"max_bytes": cap},
            }
        }
    ).encode()
    start: Message = {
        "type": "http.response.start",
        "status": 413,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            *([(b"connection", b"close")] if close else []),
        ],
    }
    return start, {"type": "http.response.body", "body": body}


async def _drain(receive: Receive, limit: int = DRAIN_MAX) -> None:
    """Read and drop the rest of a body, keeping nothing, up to `limit` bytes."""
    dropped = 0
    while dropped <= limit:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body"):
            return
        dropped += len(message.get("body", b""))


class BodySizeLimit:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cap = cap_for(scope.get("path", ""))
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > cap:
                    await _drain(receive)
                    for message in _too_large(cap, close=True):
                        await send(message)
                    return
                break

        received = 0
        body_done = False  # the client sent its last body chunk
        refused = False  # the body passed the cap: the handler sees a disconnect
        answered = False  # ...and the 413 went out (the handler had not answered yet)
        started = False

        async def counted_receive() -> Message:
            nonlocal received, refused, answered, body_done
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                body_done = not message.get("more_body")
                received += len(message.get("body", b""))
                if received > cap:
                    refused = True
                    if not started:
                        answered = True
                        for answer in _too_large(cap, close=False):
                            await send(answer)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if answered:  # the 413 went out already: the handler's answer is dropped
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except Exception:
            if not answered:
                raise  # the handler's own failure; after our 413 it only saw the disconnect
        if refused and not body_done:  # let the client finish sending and read the 413
            await _drain(receive)

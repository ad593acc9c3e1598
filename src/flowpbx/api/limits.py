"""Request size caps applied before any body is read or spooled (SPEC §7: sizes capped).

A request whose Content-Length is over the cap for its path is answered 413 `too-large`
without parsing or storing anything: the body is read and dropped chunk by chunk, so a huge
upload never reaches the multipart parser or the disk. (A chunked body
without Content-Length is still bounded by the handlers' own streaming checks.)
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Receive, Scope, Send

AUDIO_UPLOAD_CAP = 20 * 1024 * 1024 + 256 * 1024  # the file plus multipart framing
DEFAULT_CAP = 6 * 1024 * 1024


def cap_for(path: str) -> int:
    return AUDIO_UPLOAD_CAP if path.rstrip("/") == "/api/v1/audio" else DEFAULT_CAP


class BodySizeLimit:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            length = None
            for name, value in scope.get("headers", ()):
                if name == b"content-length":
                    try:
                        length = int(value)
                    except ValueError:
                        length = None
                    break
            cap = cap_for(scope.get("path", ""))
            if length is not None and length > cap:
                # read and drop the body (nothing kept, nothing spooled) so the client,
                # still sending, then reads the answer instead of a reset connection
                while True:
                    message = await receive()
                    if message["type"] != "http.request" or not message.get("more_body"):
                        break
                body = json.dumps(
                    {
                        "error": {
                            "id": "too-large",
                            "message": f"the request body is larger than {cap} bytes",
                            "details": {"max_bytes": cap},
                        }
                    }
                ).encode()
                await send(
                    {
                        "type": "http.response.start",
                        "status": 413,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close"),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

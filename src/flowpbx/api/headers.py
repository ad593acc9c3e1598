"""Security headers on every HTTP answer (SPEC §7), as one small ASGI middleware.

- ``Content-Security-Policy``: the built UI loads only its own scripts and styles (React
  Flow sets inline ``style`` attributes, hence ``'unsafe-inline'`` for styles only); the
  interactive API docs at /docs load Swagger UI from its CDN with an inline bootstrap
  script, so those two pages get a policy that allows exactly that. Framing is refused
  everywhere (``frame-ancestors 'none'`` and ``X-Frame-Options: DENY``).
- ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer``,
  ``Cross-Origin-Opener-Policy: same-origin``, ``Permissions-Policy`` (no camera,
  geolocation or payment; the microphone stays allowed for a browser phone).
- ``Strict-Transport-Security`` only when the request came over https (behind a TLS proxy
  that uvicorn trusts, the scheme is the proxy's): over plain http it would be ignored at
  best and lock users out of a LAN install at worst.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

UI_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; media-src 'self' blob:; font-src 'self' data:; "
    "connect-src 'self'; worker-src 'self' blob:; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "img-src 'self' data: https://fastapi.tiangolo.com; connect-src 'self'; "
    "object-src 'none'; base-uri 'self'; frame-ancestors 'none'"
)
HSTS = b"max-age=31536000; includeSubDomains"
COMMON: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), geolocation=(), payment=(), usb=()"),
)
DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect"})


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        csp = DOCS_CSP if scope.get("path") in DOCS_PATHS else UI_CSP
        extra = [*COMMON, (b"content-security-policy", csp.encode())]
        if scope.get("scheme") == "https":
            extra.append((b"strict-transport-security", HSTS))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers += [(k, v) for k, v in extra if k not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)

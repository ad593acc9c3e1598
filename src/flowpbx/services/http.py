"""The HTTP client flows use for webhooks (`http_notify`) and caller-name lookups.

One `WebClient` per process holds one `httpx.AsyncClient` (a bounded connection pool
shared by every call). Each request is bounded by the element's `timeout_s` as a *total*
deadline — DNS, connect, sending and reading the reply together — so a slow or dead
server costs a call at most that long.

Targets on private, loopback, link-local and other non-public addresses are refused
unless `HttpSettings.allow_private` is set (FLOWPBX_HTTP_ALLOW_PRIVATE=1) or the
installation setting ``allow_private_webhooks`` is on (`WebClient.set_allow_private`, which
pbx/service.py applies at start and on every reload): a flow author
must not be able to reach the machine's own admin ports or the office network through a
webhook. The check happens where the connection is made: the host is resolved, every
address it resolves to is checked, and the socket connects to one of the checked
addresses — so a name that resolves differently a second time (DNS rebinding) gains
nothing. Redirects are never followed (a 3xx reply is a reply like any other).

Errors are the `HttpError` family of `services/errors.py`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import socket
import typing
from collections.abc import Mapping
from dataclasses import dataclass

import httpcore
import httpx

from flowpbx.flow.context import HttpReply, HttpRequest
from flowpbx.services.errors import (
    HttpConnectError,
    HttpInvalidRequest,
    HttpProtocolError,
    HttpTargetRefused,
    HttpTimeout,
)

__all__ = ["HttpSettings", "WebClient", "is_public_address"]

log = logging.getLogger("flowpbx.services.http")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")  # RFC 9110 §5.1 field-name
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # RFC 9110 §5.5: no CR, LF, NUL


def _headers(headers: Mapping[str, str]) -> list[tuple[bytes, bytes]]:
    out: list[tuple[bytes, bytes]] = []
    for name, value in headers.items():
        if not _TOKEN.match(name):
            raise HttpInvalidRequest(f"invalid header name {name!r}")
        text = str(value).strip()
        if _BAD_VALUE.search(text):
            raise HttpInvalidRequest(f"header {name} has a control character in its value")
        out.append((name.encode("ascii"), text.encode("utf-8")))
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpSettings:
    allow_private: bool = False  # Settings.http_allow_private (FLOWPBX_HTTP_ALLOW_PRIVATE)
    max_connections: int = 50
    max_keepalive: int = 10
    keepalive_s: float = 30.0
    max_reply_bytes: int = 64 * 1024  # longer replies are cut here (a name, a digit, JSON)
    user_agent: str = "flowpbx/0.1"


# IPv6 ranges that carry an IPv4 address or reach a site's own network. Gateways translate
# the first two to the IPv4 address in their last 32 bits; the others are refused whole.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052 well-known NAT64 prefix
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")  # RFC 8215, a site's own NAT64
_V4_COMPATIBLE = ipaddress.IPv6Network("::/96")  # RFC 4291 §2.5.5.1, deprecated ::a.b.c.d
_V4_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")  # RFC 2765 SIIT ::ffff:0:a.b.c.d
_SITE_LOCAL = ipaddress.IPv6Network("fec0::/10")  # RFC 3879, deprecated but still routed
_REFUSED_V6 = (_NAT64_LOCAL, _V4_COMPATIBLE, _V4_TRANSLATED, _SITE_LOCAL)


def is_public_address(address: IPAddress) -> bool:
    """True for a globally routable unicast address; False for loopback, RFC 1918, link-local,
    carrier-grade NAT, multicast, documentation, unspecified and the like.

    An IPv6 address that embeds an IPv4 address is judged by that IPv4 address: IPv4-mapped
    (``::ffff:a.b.c.d``), NAT64 (``64:ff9b::a.b.c.d``) and 6to4 (``2002:AABB:CCDD::``).
    IPv4-compatible (``::a.b.c.d``), SIIT-translated, local-use NAT64 and site-local
    (``fec0::/10``) addresses are refused whatever they carry."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        elif any(address in net for net in _REFUSED_V6):
            return False
        elif address in _NAT64:
            address = ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)
        elif address.sixtofour is not None:
            address = address.sixtofour
        elif address.teredo is not None:  # a tunnel to an address it names: never a target
            return False
    return address.is_global and not address.is_multicast


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves, checks and connects: the socket only ever reaches an address that passed."""

    def __init__(self, allow_private: bool) -> None:
        self._inner = httpcore.AnyIOBackend()
        self._allow_private = allow_private

    async def _addresses(self, host: str, port: int) -> list[str]:
        literal = _literal(host)
        if literal is not None:
            found = [literal]
        else:
            loop = asyncio.get_running_loop()
            try:
                infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except OSError as exc:
                raise HttpConnectError(f"cannot resolve {host}: {exc}") from exc
            found = []
            for info in infos:
                addr = _literal(str(info[4][0]))
                if addr is not None and addr not in found:
                    found.append(addr)
        if not found:
            raise HttpConnectError(f"{host} has no address")
        if not self._allow_private:
            bad = [str(a) for a in found if not is_public_address(a)]
            if bad:
                raise HttpTargetRefused(
                    f"{host} resolves to a private address ({', '.join(bad)}); allow it"
                    " with the setting allow_private_webhooks or FLOWPBX_HTTP_ALLOW_PRIVATE=1"
                )
        return [str(a) for a in found]

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        last: Exception | None = None
        for address in await self._addresses(host, port):
            try:
                return await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except httpcore.ConnectError as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise HttpTargetRefused("unix sockets are not webhook targets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _GuardedTransport(httpx.AsyncHTTPTransport):
    def __init__(self, settings: HttpSettings) -> None:
        limits = httpx.Limits(
            max_connections=settings.max_connections,
            max_keepalive_connections=settings.max_keepalive,
            keepalive_expiry=settings.keepalive_s,
        )
        super().__init__(limits=limits, trust_env=False)
        self.backend = _GuardedBackend(settings.allow_private)
        # The same pool httpx builds, with our network backend (httpx 0.28 has no parameter
        # for it); `_pool` is what AsyncHTTPTransport.handle_async_request uses.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=self.backend,
        )


class WebClient:
    """`flow.context.HttpClient` over one shared httpx client; see the module docstring."""

    def __init__(self, settings: HttpSettings | None = None) -> None:
        self.settings = settings or HttpSettings()
        self._transport = _GuardedTransport(self.settings)
        self._client = httpx.AsyncClient(
            transport=self._transport,
            follow_redirects=False,
            trust_env=False,
            # identity: a reply is read up to max_reply_bytes as sent, never inflated
            headers={"User-Agent": self.settings.user_agent, "Accept-Encoding": "identity"},
        )

    @property
    def allow_private(self) -> bool:
        return self._transport.backend._allow_private

    def set_allow_private(self, allowed: bool) -> None:
        """Follow the installation setting ``allow_private_webhooks`` (taken on every
        reload); FLOWPBX_HTTP_ALLOW_PRIVATE=1 allows private targets whatever it says."""
        self._transport.backend._allow_private = self.settings.allow_private or allowed

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __call__(self, request: HttpRequest, /) -> HttpReply:
        try:
            url = httpx.URL(request.url)
        except (httpx.InvalidURL, TypeError, ValueError) as exc:
            raise HttpTargetRefused(f"invalid URL {request.url!r}: {exc}") from exc
        if url.scheme not in ("http", "https") or not url.host:
            raise HttpTargetRefused(f"not an http(s) URL: {request.url!r}")
        headers = _headers(request.headers)
        timeout = max(0.05, float(request.timeout_s))
        try:
            async with asyncio.timeout(timeout):
                return await self._send(request, url, headers, timeout)
        except TimeoutError as exc:
            raise HttpTimeout(f"no reply from {url.host} within {timeout:g} s") from exc

    async def _send(
        self,
        request: HttpRequest,
        url: httpx.URL,
        headers: list[tuple[bytes, bytes]],
        timeout: float,
    ) -> HttpReply:
        content = request.body.encode("utf-8") if request.body is not None else None
        limit = self.settings.max_reply_bytes
        try:
            async with self._client.stream(
                request.method.upper(),
                url,
                headers=headers,
                content=content,
                timeout=httpx.Timeout(timeout),
            ) as response:
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.aiter_bytes():
                    chunks.append(chunk)
                    size += len(chunk)
                    if size >= limit:
                        break
                raw = b"".join(chunks)[:limit]
                text = raw.decode(response.encoding or "utf-8", errors="replace")
                return HttpReply(status=response.status_code, body=text)
        except httpx.TimeoutException as exc:
            raise HttpTimeout(f"no reply from {url.host} within {timeout:g} s") from exc
        except (httpx.ConnectError, httpx.ReadError, httpx.WriteError) as exc:
            raise HttpConnectError(f"{url.host}: {str(exc) or type(exc).__name__}") from exc
        except (httpx.ProtocolError, httpx.DecodingError) as exc:
            raise HttpProtocolError(f"{url.host}: {str(exc) or type(exc).__name__}") from exc
        except httpx.HTTPError as exc:
            raise HttpConnectError(f"{url.host}: {type(exc).__name__}: {exc}") from exc

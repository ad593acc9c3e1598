"""SIP over TLS (RFC 3261 §26, RFC 5630): the TLS listening point beside UDP and TCP.

A thin addition to the stream transport of pbx/transport.py: `TlsTransport` is a
`StreamTransport` named ``tls`` whose connections are TLS (the standard library's ``ssl`` on
the asyncio transport, never crypto of our own). Framing, keep-alives, connection reuse,
the per-source cap, the first-message and idle timeouts are the TCP ones.

What TLS adds:

* **Accepting.** Our own accept loop takes each TCP connection, counts it against its
  source's cap at once (connections in their handshake and established ones together, so
  a flood of stalled handshakes is bounded like a flood of idle TCP connections), then runs
  the handshake with ``loop.connect_accepted_socket`` against the *current* server
  context. A handshake that does not finish within ``handshake_timeout`` is closed
  (``handshake_timeouts``); one that fails — a client speaking plain SIP, TLS below 1.2, a
  bad record — is closed too (``handshake_failures``). The SIP connection (framing,
  timeouts) exists only once the handshake finished: no byte is read or written in clear.
* **Certificates.** `CertificateSource` loads the PEM certificate chain and key
  (``FLOWPBX_TLS_CERT``, ``FLOWPBX_TLS_KEY``) into a fresh server context; `reload()` (on
  SIGHUP, and when the files' modification times or sizes change, checked every few
  seconds) builds a new context and new connections use it, while open ones keep theirs.
  A pair that does not load leaves the previous context in service (and is logged).
* **Connecting out** (trunks with ``transport: tls``; a phone whose connection is gone).
  ``peer_config(addr)`` says how to verify the peer at ``addr``: for a trunk, SNI and
  hostname check against the trunk's host, the system CA store or the trunk's
  ``tls_ca_file``, or no verification with ``tls_verify: false``; for anything else (a
  phone, whose certificate is usually self-signed) the connection is encrypted without
  verifying the phone's certificate. Why the last connection to an address failed is kept
  (``last_error``) for the trunk registration state.
* TLS 1.2 or newer only, renegotiation off, compression off (``ssl`` defaults).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import socket
import ssl
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509

from flowpbx.pbx.security import source_key
from flowpbx.pbx.stream import MAX_CONNECTIONS, Addr, StreamConnection, StreamTransport
from flowpbx.settings import SettingsError

if TYPE_CHECKING:
    from flowpbx.pbx.transport import SipEndpoint

log = logging.getLogger("flowpbx.sip")

MAX_ERRORS = 1024  # addresses whose last connection failure is remembered
EXPIRY_WARNING_S = 14 * 86400  # a certificate expiring sooner is logged at every load


def _harden(ctx: ssl.SSLContext) -> ssl.SSLContext:
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.options |= ssl.OP_NO_RENEGOTIATION | ssl.OP_NO_COMPRESSION
    return ctx


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    """A server context with the PEM chain ``cert`` and its ``key``; ssl.SSLError/OSError when
    they do not load (or do not match)."""
    ctx = _harden(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER))
    ctx.load_cert_chain(str(cert), str(key))
    return ctx


def client_context(*, verify: bool, ca_file: str | None = None) -> ssl.SSLContext:
    """A client context: verifying the peer against ``ca_file`` (else the system CA store) with
    a hostname check, or (``verify=False``) encrypting without verifying."""
    if verify:
        ctx = ssl.create_default_context(cafile=ca_file or None)
    else:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return _harden(ctx)


@dataclasses.dataclass(frozen=True, slots=True)
class PeerTls:
    """How to connect to one peer: SNI/hostname to check, verification, CA bundle."""

    server_hostname: str | None = None
    verify: bool = False
    ca_file: str | None = None


class CertificateSource:
    """The server certificate and key in service, reloaded when asked or when the files
    change (see the module docstring)."""

    def __init__(self, cert: Path, key: Path) -> None:
        self.cert = cert
        self.key = key
        try:  # the first load must work
            self.context = server_context(cert, key)
        except (OSError, ValueError) as exc:
            raise SettingsError(
                f"FLOWPBX_TLS_CERT={str(cert)!r}, FLOWPBX_TLS_KEY={str(key)!r}: "
                f"cannot load this certificate and key: {exc}"
            ) from None
        self._stamp = self._files_stamp()
        self.reloads = 0
        self.reload_failures = 0
        self.not_after = self._check_dates()

    def _files_stamp(self) -> tuple[float, int, float, int]:
        try:
            c, k = os.stat(self.cert), os.stat(self.key)
        except OSError:
            return (0.0, -1, 0.0, -1)
        return (c.st_mtime, c.st_size, k.st_mtime, k.st_size)

    def _check_dates(self) -> float:
        """When the certificate in service expires (Unix time); a warning when it has or does
        within EXPIRY_WARNING_S (phones and providers refuse an expired one)."""
        try:
            cert = x509.load_pem_x509_certificate(self.cert.read_bytes())
        except (OSError, ValueError):
            return 0.0
        not_after = cert.not_valid_after_utc.timestamp()
        left = not_after - time.time()
        if left <= 0:
            log.error("TLS certificate %s has expired (%s)", self.cert, cert.not_valid_after_utc)
        elif left < EXPIRY_WARNING_S:
            log.warning("TLS certificate %s expires in %.0f days", self.cert, left / 86400)
        return not_after

    def reload(self) -> bool:
        """Load the files again into a new context; keep the old one when they do not load."""
        self._stamp = self._files_stamp()
        try:
            context = server_context(self.cert, self.key)
        except (OSError, ValueError) as exc:
            self.reload_failures += 1
            log.error("TLS certificate %s / key %s not reloaded: %s", self.cert, self.key, exc)
            return False
        self.context = context
        self.not_after = self._check_dates()
        self.reloads += 1
        log.info("TLS certificate reloaded from %s", self.cert)
        return True

    def check(self) -> bool:
        """Reload when the files changed since the last load; True when reloaded."""
        if self._files_stamp() == self._stamp:
            return False
        return self.reload()


class TlsTransport(StreamTransport):
    """The TLS listening point and its connections (see the module docstring)."""

    def __init__(
        self,
        endpoint: SipEndpoint,
        certificates: CertificateSource | None,
        *,
        handshake_timeout: float = 10.0,
        peer_config: Callable[[Addr], PeerTls | None] | None = None,
        **stream_options: Any,
    ) -> None:
        super().__init__(endpoint, name="tls", **stream_options)
        self.certificates = certificates
        self.handshake_timeout = handshake_timeout
        self.peer_config = peer_config
        self.handshakes_started = 0
        self.handshake_timeouts = 0
        self.handshake_failures = 0
        self.connect_failures = 0
        self._errors: OrderedDict[Addr, str] = OrderedDict()
        self._client_contexts: dict[tuple[bool, str | None, float], ssl.SSLContext] = {}
        self.port = 0
        self._listener: socket.socket | None = None
        self._acceptor: asyncio.Task[None] | None = None
        self._handshaking: dict[str, int] = {}  # per source: connections in their handshake
        self._handshaking_total = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, host: str, port: int) -> None:
        """Listen (with a certificate; without one, TLS only connects out)."""
        self.port = port
        if self.certificates is not None:
            listener = socket.create_server(
                (host, port),
                family=socket.AF_INET6 if ":" in host else socket.AF_INET,
                backlog=512,
                reuse_port=False,
            )
            listener.setblocking(False)
            self._listener = listener
            self.port = int(listener.getsockname()[1])
            self._acceptor = self._loop.create_task(self._accept(listener))
        self._arm_sweeper()

    async def _accept(self, listener: socket.socket) -> None:
        """Accept connections; each is counted against its source's cap before its handshake
        (so stalled handshakes are bounded like idle connections), then handshaken."""
        while True:
            try:
                sock, peer = await self._loop.sock_accept(listener)
            except (OSError, asyncio.CancelledError) as exc:
                if isinstance(exc, asyncio.CancelledError) or self._listener is None:
                    return
                log.warning("SIP tls: accept failed: %s", exc)
                await asyncio.sleep(0.1)
                continue
            addr: Addr = (str(peer[0]), int(peer[1]))
            ip = source_key(addr[0])
            held = self._per_source.get(ip, 0) + self._handshaking.get(ip, 0)
            if len(self._conns) + self._handshaking_total >= MAX_CONNECTIONS or (
                self.max_per_source > 0 and held >= self.max_per_source and not self._known(addr)
            ):
                self.refused_per_source += 1
                sock.close()
                continue
            self._handshaking[ip] = self._handshaking.get(ip, 0) + 1
            self._handshaking_total += 1
            self.handshakes_started += 1
            task = self._loop.create_task(self._handshake(sock, addr, ip))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _handshake(self, sock: socket.socket, addr: Addr, ip: str) -> None:
        assert self.certificates is not None
        started = self.now()
        try:
            await self._loop.connect_accepted_socket(
                lambda: StreamConnection(self, inbound=True),
                sock,
                ssl=self.certificates.context,  # the one in service now (reloads)
                ssl_handshake_timeout=self.handshake_timeout,
            )
        except (OSError, ssl.SSLError, ConnectionError, RuntimeError) as exc:
            # the loop aborts a slow handshake with ConnectionAbortedError or TimeoutError
            if self.now() - started >= self.handshake_timeout * 0.95:
                self.handshake_timeouts += 1
                log.info("SIP tls: handshake from %s:%s timed out", *addr)
            else:
                self.handshake_failures += 1
                log.info("SIP tls: handshake from %s:%s failed: %s", *addr, exc)
            with contextlib.suppress(OSError):
                sock.close()
        finally:
            self._handshaking_total -= 1
            n = self._handshaking.get(ip, 0) - 1
            if n > 0:
                self._handshaking[ip] = n
            else:
                self._handshaking.pop(ip, None)

    def close(self) -> None:
        listener, self._listener = self._listener, None
        if self._acceptor is not None:
            self._acceptor.cancel()
            self._acceptor = None
        for task in list(self._tasks):
            task.cancel()
        if listener is not None:
            listener.close()
        super().close()

    # -- connecting out ----------------------------------------------------------------------

    def _client_context(self, peer: PeerTls) -> ssl.SSLContext:
        stamp = 0.0  # a renewed CA bundle is loaded again
        if peer.ca_file:
            with contextlib.suppress(OSError):
                stamp = os.stat(peer.ca_file).st_mtime
        key = (peer.verify, peer.ca_file, stamp)
        ctx = self._client_contexts.get(key)
        if ctx is None:
            if len(self._client_contexts) >= 64:
                self._client_contexts.clear()
            ctx = self._client_contexts[key] = client_context(
                verify=peer.verify, ca_file=peer.ca_file
            )
        return ctx

    async def _open(self, addr: Addr) -> None:
        peer = self.peer_config(addr) if self.peer_config is not None else None
        peer = peer or PeerTls()
        try:
            ctx = self._client_context(peer)
        except (OSError, ssl.SSLError) as exc:  # the CA file does not load
            raise OSError(f"CA file {peer.ca_file!r}: {exc}") from exc
        await self._loop.create_connection(
            lambda: StreamConnection(self),
            addr[0],
            addr[1],
            ssl=ctx,
            server_hostname=peer.server_hostname or (addr[0] if peer.verify else ""),
            ssl_handshake_timeout=self.handshake_timeout,
        )
        self._errors.pop(addr, None)

    def _open_failed(self, addr: Addr, exc: BaseException) -> None:
        self.connect_failures += 1
        if isinstance(exc, ssl.SSLCertVerificationError):
            why = f"certificate not verified: {exc.verify_message}"
        elif isinstance(exc, TimeoutError):
            why = "TLS handshake timed out"
        else:
            why = str(exc) or type(exc).__name__
        self._errors[addr] = why
        self._errors.move_to_end(addr)
        while len(self._errors) > MAX_ERRORS:
            self._errors.popitem(last=False)

    def last_error(self, addr: Addr) -> str | None:
        """Why the last connection to ``addr`` failed (None: it did not, or none yet)."""
        return self._errors.get(addr)

    def stats(self) -> dict[str, int]:
        return {
            "sip_tls_connections": len(self._conns),
            "sip_tls_handshaking": self._handshaking_total,
            "sip_tls_refused_per_source": self.refused_per_source,
            "sip_tls_handshakes": self.handshakes_started,
            "sip_tls_handshake_timeouts": self.handshake_timeouts,
            "sip_tls_handshake_failures": self.handshake_failures,
            "sip_tls_connect_failures": self.connect_failures,
            "sip_tls_cert_reloads": self.certificates.reloads if self.certificates else 0,
            # seconds until the certificate in service expires (negative: expired)
            "sip_tls_cert_expires_in_s": (
                int(self.certificates.not_after - time.time()) if self.certificates else 0
            ),
        }


async def watch_certificates(source: CertificateSource, period: float) -> None:
    """Reload ``source`` whenever its files change (a task; cancel it to stop)."""
    while True:
        await asyncio.sleep(period)
        source.check()


__all__ = [
    "CertificateSource",
    "PeerTls",
    "TlsTransport",
    "client_context",
    "server_context",
    "watch_certificates",
]

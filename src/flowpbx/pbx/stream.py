"""SIP over streams (TCP, and TLS with an ``ssl`` context: pbx/tls.py): one listening point
and its connections, for the endpoint of pbx/transport.py.

Stream transports (`StreamTransport`) frame by Content-Length (``sip.message.frame_stream``),
answer a CRLFCRLF keep-alive ping with a CRLF pong (RFC 5626 §4.4.1), reuse one connection
per remote address in both directions (RFC 3261 §18), open a connection on demand for
requests to a new address, and close connections idle longer than ``idle_timeout``. What
one source can hold is bounded: at most ``max_per_source`` connections accepted from one IP
address (known sources exempt: trusted networks, trunks, and addresses that authenticated,
so an office of phones behind one NAT address is not capped once one has registered); a
connection that has not sent one valid SIP message (framed, parsed, admitted by the access
guard) within ``first_message_timeout`` is closed; and one from a source that never
authenticated is closed ``unknown_idle_timeout`` after its last valid message — one OPTIONS
does not hold a connection for the hour a registered phone's may stay open. TLS is the same
class with an ``ssl.SSLContext`` and another name: the endpoint only knows the
`Transport` interface (``name``, ``send``, ``has_connection``, ``close``).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import Protocol

from flowpbx.pbx.security import AccessGuard, source_key
from flowpbx.sip.errors import SipParseError
from flowpbx.sip.message import frame_stream

log = logging.getLogger("flowpbx.sip")

Addr = tuple[str, int]

MAX_MESSAGE = 65535  # bytes of one framed message on a stream
MAX_CONNECTIONS = 4096
MAX_PER_SOURCE = 16  # connections accepted from one source (IP address; IPv6: its /64)
MAX_PENDING = 64  # messages queued per address while its connection is being opened


class StreamHost(Protocol):
    """What a stream transport needs of its endpoint (pbx/transport.py `SipEndpoint`)."""

    datagrams_out: int  # messages sent, all transports

    @property
    def guard(self) -> AccessGuard | None: ...

    def receive(self, transport: StreamTransport, data: bytes, addr: Addr) -> bool:
        """Take one framed message; False: the source is not admitted (close)."""
        ...


class StreamConnection(asyncio.Protocol):
    """One TCP (or TLS) connection: frames messages out of the byte stream."""

    def __init__(self, owner: StreamTransport, *, inbound: bool = False) -> None:
        self._owner = owner
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self.addr: Addr = ("", 0)
        self.inbound = inbound  # accepted by our listening socket (not opened by us)
        self.counted = False  # counted against its source's connection cap
        self.last_active = 0.0
        self.last_message = 0.0  # when the last valid message came
        self.opened_at = 0.0
        self.messages_in = 0  # valid messages (framed, parsed, admitted)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        self.addr = (str(peer[0]), int(peer[1]))
        self.last_active = self.last_message = self.opened_at = self._owner.now()
        self._owner.adopt(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._owner.forget(self)

    def data_received(self, data: bytes) -> None:
        self.last_active = self._owner.now()
        buf = self._buffer
        buf += data
        while buf:
            if buf[:4] == b"\r\n\r\n":
                del buf[:4]  # RFC 5626 §4.4.1: a ping; answer with a pong
                self.write(b"\r\n")
                continue
            try:
                n = frame_stream(buf, max_size=MAX_MESSAGE)
            except SipParseError as exc:
                # No way to find the next message boundary: give up on the connection.
                log.info("closing SIP %s connection from %s: %s", self._owner.name, self.addr, exc)
                buf.clear()
                self.close()
                return
            if n is None:
                return  # wait for more bytes
            message = bytes(buf[:n])
            del buf[:n]
            if not message.strip(b"\r\n"):
                continue  # only CRLFs
            if self._owner.endpoint.receive(self._owner, message, self.addr):
                self.messages_in += 1
                self.last_message = self.last_active

    def write(self, data: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)
            self.last_active = self._owner.now()

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


class StreamTransport:
    """A stream listening point (TCP; TLS with an ``ssl`` context) and its connections."""

    reliable = True

    def __init__(
        self,
        endpoint: StreamHost,
        *,
        name: str = "tcp",
        ssl_context: ssl.SSLContext | None = None,
        idle_timeout: float = 3700.0,
        first_message_timeout: float = 5.0,
        unknown_idle_timeout: float = 60.0,
        max_per_source: int = MAX_PER_SOURCE,
    ) -> None:
        self.endpoint = endpoint
        # A connection that has not sent one valid message by then is closed (no slow drip
        # of bytes, no garbage, holds a connection slot).
        self.first_message_timeout = first_message_timeout
        self.unknown_idle_timeout = unknown_idle_timeout
        self.max_per_source = max_per_source  # 0 = no cap
        self._per_source: dict[str, int] = {}
        self.refused_per_source = 0
        self.name = name
        self._ssl = ssl_context
        self.idle_timeout = idle_timeout
        self._loop = asyncio.get_running_loop()
        self._server: asyncio.Server | None = None
        self._closing: asyncio.Server | None = None
        self._conns: dict[Addr, StreamConnection] = {}
        self._pending: dict[Addr, list[bytes]] = {}
        self._sweeper: asyncio.TimerHandle | None = None

    def now(self) -> float:
        return self._loop.time()

    async def start(self, host: str, port: int) -> None:
        self._server = await self._loop.create_server(
            lambda: StreamConnection(self, inbound=True),
            host,
            port,
            ssl=self._ssl,
            reuse_address=True,
        )
        self._arm_sweeper()

    @property
    def connections(self) -> dict[Addr, StreamConnection]:
        return self._conns

    def adopt(self, conn: StreamConnection) -> None:
        if len(self._conns) >= MAX_CONNECTIONS and conn.addr not in self._conns:
            log.warning("too many SIP %s connections: refusing %s", self.name, conn.addr)
            conn.close()
            return
        ip = source_key(conn.addr[0])
        if conn.inbound and self.max_per_source > 0 and not self._known(conn.addr):
            n = self._per_source.get(ip, 0)
            if n >= self.max_per_source:
                self.refused_per_source += 1
                log.debug("SIP %s: %s has %d connections: refusing another", self.name, ip, n)
                conn.close()
                return
            self._per_source[ip] = n + 1
            conn.counted = True
        old = self._conns.get(conn.addr)
        if old is not None and old is not conn:
            self._uncount(old)
            old.close()
        self._conns[conn.addr] = conn

    def forget(self, conn: StreamConnection) -> None:
        if self._conns.get(conn.addr) is conn:
            del self._conns[conn.addr]
            self._uncount(conn)

    def _uncount(self, conn: StreamConnection) -> None:
        if conn.counted:
            conn.counted = False
            ip = source_key(conn.addr[0])
            n = self._per_source.get(ip, 0) - 1
            if n > 0:
                self._per_source[ip] = n
            else:
                self._per_source.pop(ip, None)

    def _known(self, addr: Addr) -> bool:
        """An authenticated, trunk or trusted source (all are, without an access guard)."""
        guard = self.endpoint.guard
        return guard is None or bool(guard.is_known(addr))

    def last_error(self, addr: Addr) -> str | None:
        return None  # TCP keeps no reasons (TLS does: pbx/tls.py)

    def has_connection(self, addr: Addr) -> bool:
        return addr in self._conns

    def send(self, data: bytes, addr: Addr) -> None:
        conn = self._conns.get(addr)
        if conn is not None:
            conn.write(data)
            self.endpoint.datagrams_out += 1
            return
        queue = self._pending.get(addr)
        if queue is not None:
            if len(queue) < MAX_PENDING:
                queue.append(data)
            return
        self._pending[addr] = [data]
        self._loop.create_task(self._connect(addr))

    async def _connect(self, addr: Addr) -> None:
        """Open a connection for requests to a new address (RFC 3261 §18.1.1). If it fails,
        the messages are dropped and their transactions time out (Timer B/F)."""
        try:
            await self._open(addr)
        except OSError as exc:  # ssl errors and timeouts are OSErrors too
            log.info("SIP %s connection to %s:%s failed: %s", self.name, *addr, exc)
            self._open_failed(addr, exc)
            self._pending.pop(addr, None)
            return
        queue = self._pending.pop(addr, [])
        conn = self._conns.get(addr)
        if conn is None:
            return
        for data in queue:
            conn.write(data)
            self.endpoint.datagrams_out += 1

    async def _open(self, addr: Addr) -> None:
        await self._loop.create_connection(
            lambda: StreamConnection(self),
            addr[0],
            addr[1],
            ssl=self._ssl,
            server_hostname=addr[0] if self._ssl is not None else None,
        )

    def _open_failed(self, addr: Addr, exc: BaseException) -> None:
        """A connection to ``addr`` could not be opened (TLS keeps why: pbx/tls.py)."""

    def _arm_sweeper(self) -> None:
        shortest = min(self.idle_timeout, self.first_message_timeout, self.unknown_idle_timeout)
        period = max(0.05, min(shortest / 2, 30.0))
        self._sweeper = self._loop.call_later(period, self._sweep)

    def _stale(self, c: StreamConnection, now: float) -> bool:
        if c.last_active < now - self.idle_timeout:
            return True  # RFC 3261 §18: no traffic at all
        if not c.inbound:
            return False
        if c.messages_in == 0:
            return c.opened_at < now - self.first_message_timeout
        return c.last_message < now - self.unknown_idle_timeout and not self._known(c.addr)

    def _sweep(self) -> None:
        """Close connections idle too long (see the module docstring)."""
        now = self.now()
        for conn in [c for c in self._conns.values() if self._stale(c, now)]:
            log.debug("closing idle SIP %s connection %s", self.name, conn.addr)
            conn.close()
        self._arm_sweeper()

    def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for conn in list(self._conns.values()):
            conn.close()
        self._conns.clear()
        if self._server is not None:
            self._server.close()
            self._closing = self._server
            self._server = None

    async def wait_closed(self) -> None:
        if self._closing is not None:
            await self._closing.wait_closed()
            self._closing = None
        await asyncio.sleep(0)

"""Glue between the asyncio loop and the sans-I/O SIP transaction layers: UDP and TCP.

`SipEndpoint` is one SIP listening point (host:port) on UDP and TCP (RFC 3261 §18). Each
transport has its own `TransactionLayer` — unreliable for UDP (retransmission timers),
reliable for TCP (no retransmissions, timers D/I/J/K zero) — and every layer's events go to
the runtime's one dispatcher. Messages in go with the loop's monotonic time, whatever the
layers want sent goes out, and the earliest deadline of all layers is armed as one loop timer
(aioquic's protocol shape: receive, pump, arm the timer).

Which transport a message leaves on:

* a response goes out on the transport (and TCP connection) its request came on
  (RFC 3261 §18.2.2); each transaction records its transport in ``txn.transport``;
* a request goes where the caller says (``transport="tcp"``, a TCP trunk), else over TCP when
  a TCP connection to that address is open (a phone that registered over TCP is reached on
  its own connection, RFC 5626 style), else over UDP;
* on TCP our Via says ``SIP/2.0/TCP`` and our Contact carries ``;transport=tcp``.

Stream transports (TCP, TLS) are `pbx/stream.py`'s `StreamTransport`; the endpoint only knows
the `Transport` interface (``name``, ``send``, ``has_connection``, ``close``).

A request the runtime sends carries a handler; responses and timeouts of its transaction are
given back to that handler, so legs never look transactions up themselves.
"""

from __future__ import annotations

import asyncio
import errno
import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol

from flowpbx.pbx.ports import TransactionUser
from flowpbx.pbx.stream import MAX_PER_SOURCE, StreamTransport
from flowpbx.sip.errors import SipParseError
from flowpbx.sip.message import (
    Request,
    Response,
    make_response,
    new_branch,
    new_tag,
)
from flowpbx.sip.sdp import SdpError
from flowpbx.sip.transaction import (
    CancelReceived,
    ClientTransaction,
    RequestReceived,
    ServerTransaction,
    State,
    TransactionLayer,
)

log = logging.getLogger("flowpbx.sip")

Addr = tuple[str, int]
EventHandler = Callable[[Any], None]

MAX_TCP_TARGETS = 4096  # addresses remembered as asked for over TCP (least recently used go)


class Transport(Protocol):
    """What the endpoint needs of a transport (UDP, TCP, later TLS)."""

    name: str
    reliable: bool

    def send(self, data: bytes, addr: Addr) -> None: ...

    def has_connection(self, addr: Addr) -> bool: ...

    def last_error(self, addr: Addr) -> str | None:
        """Why the last connection to `addr` failed (TLS keeps it; others: None)."""
        ...

    def close(self) -> None: ...


class FailureLog:
    """Logs the exceptions raised while handling SIP events without a flood: the first one
    from each place in the code with its traceback, later ones from the same place as one
    line at most every ``period`` seconds, with how many there were. (One hostile packet
    repeated ten thousand times must not write ten thousand tracebacks.)"""

    MAX_PLACES = 256

    def __init__(self, period: float = 60.0) -> None:
        self.period = period
        self._places: dict[tuple[str, str, int], list[float]] = {}  # -> [last logged, unlogged]
        self.count = 0

    def report(self, what: str, exc: BaseException, now: float) -> None:
        self.count += 1
        tb = exc.__traceback__
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        place = (
            type(exc).__name__,
            tb.tb_frame.f_code.co_filename if tb is not None else "",
            tb.tb_lineno if tb is not None else 0,
        )
        seen = self._places.get(place)
        if seen is None:
            if len(self._places) >= self.MAX_PLACES:
                self._places.pop(next(iter(self._places)))
            self._places[place] = [now, 0]
            log.error("error handling %s", what, exc_info=exc)
            return
        seen[1] += 1
        if now - seen[0] >= self.period:
            log.error(
                "error handling %s: %s: %s (%d like it in %.0f s, traceback logged before)",
                what,
                place[0],
                str(exc)[:200],
                int(seen[1]),
                now - seen[0],
            )
            seen[0], seen[1] = now, 0


# -- UDP ---------------------------------------------------------------------------------------


class DatagramTransport(asyncio.DatagramProtocol):
    """The UDP socket of the endpoint."""

    name = "udp"
    reliable = False

    def __init__(self, endpoint: SipEndpoint) -> None:
        self._endpoint = endpoint
        self._transport: asyncio.DatagramTransport | None = None

    def last_error(self, addr: Addr) -> str | None:
        return None  # no connections

    async def start(self, host: str, port: int) -> int:
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: self, local_addr=(host, port), reuse_port=False)
        assert self._transport is not None
        return int(self._transport.get_extra_info("sockname")[1])

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # uvloop's UDP transport

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self._endpoint.datagrams_in += 1
        if len(data) < 4 or data in (b"\r\n\r\n", b"\r\n"):
            return  # keep-alive (RFC 5626 §4.4.1)
        self._endpoint.receive(self, data, (addr[0], addr[1]))

    def error_received(self, exc: Exception) -> None:  # ICMP unreachable and the like
        log.debug("sip socket error: %s", exc)

    def send(self, data: bytes, addr: Addr) -> None:
        if self._transport is not None:
            self._transport.sendto(data, addr)
            self._endpoint.datagrams_out += 1

    def has_connection(self, addr: Addr) -> bool:
        return False

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None


# -- the endpoint ------------------------------------------------------------------------------


def _is_sips(uri: str) -> bool:
    return uri[:5].lower() == "sips:"


class SipEndpoint:
    """One SIP listening point on UDP and TCP, driven by the event loop."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        on_event: EventHandler,
        tcp: bool = True,
        tcp_idle_timeout: float = 3700.0,
        tcp_first_message_timeout: float = 5.0,
        tcp_unknown_idle_timeout: float = 60.0,
        tcp_max_per_source: int = MAX_PER_SOURCE,
        max_tcp_targets: int = MAX_TCP_TARGETS,
    ) -> None:
        self.host = host
        self.port = port
        self._on_event = on_event
        self._loop = asyncio.get_running_loop()
        self.layer = TransactionLayer()  # UDP
        self.layers: dict[str, TransactionLayer] = {"udp": self.layer}
        self.udp = DatagramTransport(self)
        self.transports: dict[str, Transport] = {"udp": self.udp}
        self.tcp: StreamTransport | None = None
        if tcp:
            self.tcp = StreamTransport(
                self,
                idle_timeout=tcp_idle_timeout,
                first_message_timeout=tcp_first_message_timeout,
                unknown_idle_timeout=tcp_unknown_idle_timeout,
                max_per_source=tcp_max_per_source,
            )
            self.transports["tcp"] = self.tcp
            self.layers["tcp"] = TransactionLayer(reliable=True, transport="tcp")
        # Addresses asked for over TCP (or TLS) explicitly (later requests to them without a
        # transport go the same way): an LRU, so that every address ever dialled is not kept.
        self._tcp_targets: OrderedDict[Addr, str] = OrderedDict()
        self.ports: dict[str, int] = {}  # transports listening on another port (TLS)
        self._extra: list[tuple[StreamTransport, str | None]] = []
        self._max_tcp_targets = max(1, max_tcp_targets)
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._pumping = False
        self.datagrams_in = 0
        self.datagrams_out = 0
        self.guard: Any = None  # pbx/security.py AccessGuard: admit(addr, data, now) -> bool
        self.failures = FailureLog()

    # -- lifecycle -------------------------------------------------------------------------

    def port_of(self, transport: str) -> int:
        """The port `transport` listens on (TLS has its own; the others share `port`)."""
        return self.ports.get(transport, self.port)

    def connect_error(self, transport: str, addr: Addr) -> str | None:
        """Why the last connection to `addr` over `transport` failed (None: it did not)."""
        t = self.transports.get(transport)
        return t.last_error(addr) if t is not None else None

    def add_stream(self, transport: StreamTransport, port: int, host: str | None = None) -> None:
        """Another stream transport (TLS, pbx/tls.py) on its own address, started with the
        rest (``host`` defaults to the endpoint's)."""
        self.transports[transport.name] = transport
        self.layers[transport.name] = TransactionLayer(reliable=True, transport=transport.name)
        self.ports[transport.name] = port
        self._extra.append((transport, host))

    async def start(self) -> None:
        """Listen on UDP and TCP at one port. With port 0 the system picks the UDP port, and
        the same number may already be taken for TCP by another process: then both are
        tried again on a new port (a few times) instead of failing with the UDP socket open."""
        wanted = self.port
        for attempt in range(8):
            self.port = await self.udp.start(self.host, wanted)
            if self.tcp is None:
                return
            try:
                await self.tcp.start(self.host, self.port)
                break
            except OSError as exc:
                self.udp.close()
                if wanted != 0 or exc.errno != errno.EADDRINUSE or attempt == 7:
                    raise
        for extra, host in self._extra:
            await extra.start(host or self.host, self.ports[extra.name])
            self.ports[extra.name] = int(getattr(extra, "port", 0) or self.ports[extra.name])

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for transport in self.transports.values():
            transport.close()

    async def wait_closed(self) -> None:
        """After `close`: let the loop finish closing sockets and connections."""
        if self.tcp is not None:
            await self.tcp.wait_closed()
        for extra, _host in self._extra:
            await extra.wait_closed()
        await asyncio.sleep(0)

    # -- inbound -----------------------------------------------------------------------------

    def receive(self, transport: Transport, data: bytes, addr: Addr) -> bool:
        """One framed message from a transport; False when it was dropped or did not parse
        (a stream connection that sends only such is closed early)."""
        now = self._loop.time()
        accepted = False
        try:
            guard = self.guard  # banned / rate-limited sources are dropped before parsing
            if guard is not None and not guard.admit(addr, data, now):
                return False
            layer = self.layers[transport.name]
            failures = layer.stats.parse_failures
            layer.receive(data, addr, now)
            accepted = layer.stats.parse_failures == failures
        except Exception as exc:  # a bug in parsing: this message is lost, SIP goes on
            self.failures.report(f"a message from {addr[0]}:{addr[1]}", exc, now)
        self.pump()
        return accepted

    # -- outbound ----------------------------------------------------------------------------

    @property
    def contact_uri(self) -> str:
        """The bare URI the runtime puts in Contact (rewritten per transport on the way out)."""
        return f"<sip:flowpbx@{self.host}:{self.port}>"

    def add_via(self, request: Request) -> str:
        """Put our own top Via (new branch, rport) on a request and return the branch. It names
        UDP; `send_request` rewrites it when the request leaves over another transport."""
        branch = new_branch()
        request.headers.prepend("Via", f"SIP/2.0/UDP {self.host}:{self.port};rport;branch={branch}")
        return branch

    def transport_for(self, addr: Addr, transport: str | None = None) -> str:
        """Which transport a request to ``addr`` leaves on (see the module docstring)."""
        if transport is not None:
            if transport not in self.layers:
                raise ValueError(f"transport {transport!r} is not enabled")
            return transport
        wanted = self._tcp_targets.get(addr)
        if wanted is not None and wanted in self.layers:
            self._tcp_targets.move_to_end(addr)
            return wanted
        for name, t in self.transports.items():
            if t.reliable and t.has_connection(addr):
                return name
        return "udp"

    def _for_transport(
        self, message: Request | Response, name: str, *, via: bool, sips: bool = False
    ) -> None:
        """Our Via and Contact say which transport the message travels on (RFC 3261 §18.1.1,
        §8.1.1.8), with that transport's port (TLS listens on its own). In a dialog a
        ``sips:`` Request-URI asks for, the Contact is a ``sips:`` URI (RFC 5630 §3.1.3)."""
        if name == "udp":
            return
        port = self.ports.get(name, self.port)
        headers = message.headers
        if via:
            top = headers.get("Via")
            ours = f"SIP/2.0/UDP {self.host}:{self.port};"
            if top is not None and top.startswith(ours):
                headers.remove_first("Via")
                headers.prepend(
                    "Via", f"SIP/2.0/{name.upper()} {self.host}:{port};" + top[len(ours) :]
                )
        contact = headers.get("Contact")
        if contact is not None and contact.strip() == self.contact_uri:
            if sips and name == "tls":
                headers.set("Contact", f"<sips:flowpbx@{self.host}:{port}>")
            else:
                headers.set("Contact", f"<sip:flowpbx@{self.host}:{port};transport={name}>")

    def send_request(
        self,
        request: Request,
        addr: Addr,
        handler: TransactionUser | None,
        *,
        transport: str | None = None,
    ) -> ClientTransaction:
        name = self.transport_for(addr, transport)
        if transport is not None and name != "udp":
            targets = self._tcp_targets
            targets[addr] = name
            targets.move_to_end(addr)
            if len(targets) > self._max_tcp_targets:
                targets.popitem(last=False)
        self._for_transport(request, name, via=True, sips=_is_sips(request.uri))
        txn = self.layers[name].send_request(request, addr, self._loop.time())
        txn.user_data = handler
        self.pump()
        return txn

    def send_response(self, txn: ServerTransaction, response: Response) -> None:
        if response.status > 100:
            # RFC 3261 §8.2.6.2: every response but 100 carries a To tag.
            to = response.headers.get("To")
            if to is not None and ";tag=" not in to.replace(" ", "").lower():
                response.headers.set("To", f"{to};tag={new_tag()}")
        sips = txn.transport == "tls" and _is_sips(txn.request.uri)
        self._for_transport(response, txn.transport, via=False, sips=sips)
        self.layers[txn.transport].send_response(txn, response, self._loop.time())
        self.pump()

    def send_stateless(
        self, message: Request | Response, addr: Addr, *, transport: str | None = None
    ) -> None:
        name = self.transport_for(addr, transport)
        if isinstance(message, Request):
            self._for_transport(message, name, via=True, sips=_is_sips(message.uri))
        self.layers[name].send_stateless(message, addr)
        self.pump()

    # -- the pump ----------------------------------------------------------------------------

    def pump(self) -> None:
        """Deliver pending events, flush messages, re-arm the timer. Not re-entrant: a
        handler that sends something is picked up by the loop already running."""
        if self._pumping:
            return
        self._pumping = True
        try:
            while True:
                busy = False
                for name, layer in self.layers.items():
                    events = layer.events()
                    for event in events:
                        try:
                            self._on_event(event)
                        except Exception as exc:  # a bug in one call must not stop SIP for all
                            self._event_failed(event, exc)
                    out = layer.datagrams_to_send()
                    if out:
                        transport = self.transports[name]
                        for data, addr in out:
                            transport.send(data, addr)
                    busy = busy or bool(events) or bool(out)
                if not busy:
                    break
        finally:
            self._pumping = False
        self._arm_timer()

    def _event_failed(self, event: Any, exc: Exception) -> None:
        """Handling ``event`` raised: a request still without a final response is answered
        (400 for what a parser refused, 500 for anything else) so that its transaction
        completes and ends, and the failure is logged without a flood."""
        what = type(event).__name__
        request: Request | None = None
        txn: ServerTransaction | None = None
        if isinstance(event, RequestReceived):
            request, txn = event.request, event.transaction
        elif isinstance(event, CancelReceived):
            request, txn = event.request, event.cancel_transaction
        if request is not None:
            what = f"{what} {request.method} from {event.addr[0]}:{event.addr[1]}"
        self.failures.report(what, exc, self._loop.time())
        if txn is None or request is None or txn.state not in (State.TRYING, State.PROCEEDING):
            return
        status = 500
        if isinstance(exc, (SipParseError, SdpError)):
            hint = exc.status_hint
            status = hint if hint is not None and 400 <= hint < 700 else 400
        try:
            self.send_response(txn, make_response(request, status))
        except Exception as again:  # not even an error response can be built: the guard reaps
            log.debug("could not answer %s after an error: %s", what, again)

    def _arm_timer(self) -> None:
        deadline: float | None = None
        for layer in self.layers.values():
            t = layer.get_timer()
            if t is not None and (deadline is None or t < deadline):
                deadline = t
        if deadline is None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
                self._timer_at = None
            return
        if self._timer is not None and self._timer_at is not None and self._timer_at <= deadline:
            return  # the armed timer fires earlier or at the same time; it re-arms then
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = deadline
        self._timer = self._loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        now = self._loop.time()
        for layer in self.layers.values():
            try:
                layer.handle_timer(now)
            except Exception as exc:  # one transaction's bug must not stop every timer
                self.failures.report(f"a {layer.transport} timer", exc, now)
        self.pump()


__all__ = ["DatagramTransport", "SipEndpoint", "Transport"]

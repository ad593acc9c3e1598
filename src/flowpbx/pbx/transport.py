"""UDP glue between the asyncio loop and the sans-I/O SIP transaction layer.

`SipEndpoint` owns one UDP socket and one `TransactionLayer`. Datagrams go in with the loop's
monotonic time, the layer's events go to the runtime's dispatcher, and whatever the layer
wants to send goes out. The layer's single earliest deadline is armed as one loop timer
(aioquic's protocol shape: receive, pump, arm the timer).

A request the runtime sends carries a handler; responses and timeouts of its transaction are
given back to that handler, so legs never look transactions up themselves.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from flowpbx.sip.message import Request, Response, new_branch, new_tag
from flowpbx.sip.transaction import (
    ClientTransaction,
    ServerTransaction,
    TransactionLayer,
)

log = logging.getLogger("flowpbx.sip")

Addr = tuple[str, int]
EventHandler = Callable[[Any], None]


class SipEndpoint(asyncio.DatagramProtocol):
    """One UDP SIP listening point driven by the event loop."""

    def __init__(self, *, host: str, port: int, on_event: EventHandler) -> None:
        self.host = host
        self.port = port
        self.layer = TransactionLayer()
        self._on_event = on_event
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.DatagramTransport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._pumping = False
        self.datagrams_in = 0
        self.datagrams_out = 0

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        await self._loop.create_datagram_endpoint(
            lambda: self, local_addr=(self.host, self.port), reuse_port=False
        )

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # uvloop's UDP transport
        sockname = transport.get_extra_info("sockname")
        if sockname:
            self.port = sockname[1]

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    # -- inbound -----------------------------------------------------------------------------

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.datagrams_in += 1
        if len(data) < 4 or data in (b"\r\n\r\n", b"\r\n"):
            return  # keep-alive (RFC 5626 §4.4.1)
        self.layer.receive(data, (addr[0], addr[1]), self._loop.time())
        self.pump()

    def error_received(self, exc: Exception) -> None:  # ICMP unreachable and the like
        log.debug("sip socket error: %s", exc)

    # -- outbound ----------------------------------------------------------------------------

    @property
    def via_sent_by(self) -> str:
        return f"{self.host}:{self.port}"

    def add_via(self, request: Request) -> str:
        """Put our own top Via (new branch, rport) on a request and return the branch."""
        branch = new_branch()
        request.headers.prepend("Via", f"SIP/2.0/UDP {self.host}:{self.port};rport;branch={branch}")
        return branch

    def send_request(self, request: Request, addr: Addr, handler: Any) -> ClientTransaction:
        txn = self.layer.send_request(request, addr, self._loop.time())
        txn.user_data = handler
        self.pump()
        return txn

    def send_response(self, txn: ServerTransaction, response: Response) -> None:
        if response.status > 100:
            # RFC 3261 §8.2.6.2: every response but 100 carries a To tag.
            to = response.headers.get("To")
            if to is not None and ";tag=" not in to.replace(" ", "").lower():
                response.headers.set("To", f"{to};tag={new_tag()}")
        self.layer.send_response(txn, response, self._loop.time())
        self.pump()

    def send_stateless(self, message: Request | Response, addr: Addr) -> None:
        self.layer.send_stateless(message, addr)
        self.pump()

    # -- the pump ----------------------------------------------------------------------------

    def pump(self) -> None:
        """Deliver pending events, flush datagrams, re-arm the timer. Not re-entrant: a
        handler that sends something is picked up by the loop already running."""
        if self._pumping:
            return
        self._pumping = True
        try:
            layer = self.layer
            while True:
                events = layer.events()
                for event in events:
                    try:
                        self._on_event(event)
                    except Exception:  # a bug in one call must not stop SIP for all
                        log.exception("error handling %s", type(event).__name__)
                out = layer.datagrams_to_send()
                if out:
                    transport = self._transport
                    if transport is not None:
                        for data, addr in out:
                            transport.sendto(data, addr)
                        self.datagrams_out += len(out)
                if not events and not out:
                    break
        finally:
            self._pumping = False
        self._arm_timer()

    def _arm_timer(self) -> None:
        deadline = self.layer.get_timer()
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
        self.layer.handle_timer(self._loop.time())
        self.pump()

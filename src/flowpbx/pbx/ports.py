"""Narrow ports of the runtime: what a piece of pbx/ needs of the rest, as `Protocol`s.

`Runtime` (pbx/runtime.py) is the one composition root: it builds every piece and hands each
the ports it uses. No module below it imports it; each states what it needs here, or beside
its own types when the port names them: `call/leg.py` LegHost, `registrar.py`
RegistrarHost, `features/mwi.py` MwiHost, `call/host.py` CallHost (calls and features), and
the features' views of a call (QueueCall, TalkCall, VoicemailCall, SpyHost). The same
ports are what a scale-out implementation (live state shared between nodes) implements.

    SipSender          send requests (as a transaction user), responses, stateless messages
    SipHost            a SipSender and the User-Agent we present (trunk registrations)
    TransactionUser    receives what becomes of a request it sent: on_response / on_timeout
    InviteServerUser   owns an INVITE server transaction: on_cancel / on_ack_timeout
"""

from __future__ import annotations

from typing import Protocol, cast

from flowpbx.sip.message import Request, Response
from flowpbx.sip.transaction import ClientTransaction, ServerTransaction

Addr = tuple[str, int]


class TransactionUser(Protocol):
    """The owner of a client transaction (RFC 3261 §17.1): a leg, a trunk registration, an
    MWI subscription. The runtime's dispatcher hands it every response and the timeout."""

    def on_response(self, response: Response, txn: ClientTransaction) -> None: ...

    def on_timeout(self, txn: ClientTransaction) -> None: ...


class InviteServerUser(Protocol):
    """The owner of an INVITE server transaction (the caller's leg): told of a CANCEL
    (RFC 3261 §9.2) and of a 2xx that never got its ACK (§13.3.1.4)."""

    @property
    def local_tag(self) -> str: ...

    def on_cancel(self) -> None: ...

    def on_ack_timeout(self) -> None: ...


class SipSender(Protocol):
    """Sending SIP (pbx/transport.py `SipEndpoint`), and where it listens."""

    @property
    def host(self) -> str: ...

    @property
    def port(self) -> int: ...

    def port_of(self, transport: str) -> int:
        """The port `transport` listens on (TLS has its own; the others share `port`)."""
        ...

    def connect_error(self, transport: str, addr: Addr) -> str | None:
        """Why the last connection to `addr` over `transport` failed (None: it did not)."""
        ...

    def add_via(self, request: Request) -> str: ...

    def send_request(
        self,
        request: Request,
        addr: Addr,
        handler: TransactionUser | None,
        *,
        transport: str | None = None,
    ) -> ClientTransaction: ...

    def send_response(self, txn: ServerTransaction, response: Response) -> None: ...

    def send_stateless(
        self, message: Request | Response, addr: Addr, *, transport: str | None = None
    ) -> None: ...


class SipHost(Protocol):
    """SIP sending and the User-Agent we present."""

    @property
    def sip(self) -> SipSender: ...

    @property
    def user_agent(self) -> str: ...


def transaction_user(txn: ClientTransaction) -> TransactionUser | None:
    """The TU of a client transaction: `SipEndpoint.send_request` stores the handler it is
    given as the transaction's `user_data` (the sans-I/O layer keeps it as an opaque object)
    and nothing else sets it, so it is a `TransactionUser` or None."""
    return cast("TransactionUser | None", txn.user_data)


def invite_server_user(txn: ServerTransaction) -> InviteServerUser | None:
    """The owner of an INVITE server transaction: the caller's leg sets itself as its
    `user_data` (pbx/call/uas_leg.py `UasLeg`) and lets go when it ends."""
    return cast("InviteServerUser | None", txn.user_data)

"""The SIP transaction layer, sans-I/O (RFC 3261 §17, RFC 6026, RFC 3261 §9 and §8.2.2.2).

`TransactionLayer` owns every client and server transaction of one transport. The runtime
feeds it datagrams (``receive(data, addr, now)``), calls ``send_request`` / ``send_response``
for the transaction user (TU), and after each call collects ``events()`` and
``datagrams_to_send()`` and sleeps until ``get_timer()``, then calls ``handle_timer(now)``.
There is no clock, socket or asyncio here: time only comes in as ``now`` (monotonic seconds).

The four state machines are data in :mod:`flowpbx.sip.txn_states`; this module executes them.

Choices worth knowing:

* The INVITE server transaction retransmits its 2xx itself (RFC 3261 §13.3.1.4 moved into the
  RFC 6026 Accepted state) until the ACK arrives, and reports `AckTimeout` after 64*T1 without
  one (the TU then sends BYE). A 2xx ACK carries a new branch, so it is matched by Call-ID,
  CSeq number and To tag against transactions in the Accepted state.
* 100 Trying for INVITE is sent ``trying_delay`` seconds (default 200 ms, RFC 3261 §17.2.1)
  after the INVITE arrived, and only if the TU has sent no response by then; 0 sends it at
  once, None never.
* Timer D is 64*T1 (32 s with the default T1), so it scales with T1 in tests.
* After a CANCEL is sent for an INVITE client transaction, that transaction gives up 64*T1
  later if no final response came (RFC 3261 §9.1) and reports `TransactionTimeout`.
* Timer H reports `TransactionTimeout` for the INVITE server transaction (the ACK for a
  non-2xx final never came).
* A server transaction the TU never answers is not kept forever: 64*T1 after the request
  arrived (Timer GRD, see txn_states) a non-INVITE one is dropped and an INVITE one is
  answered 500, both reported as `TransactionTimeout` with ``timer="GUARD"`` and counted
  in ``stats.reaped``. A provisional response the TU sends to an INVITE stops the guard, and
  a transaction the TU has taken (``user_data`` set, e.g. a call leg) is left to the TU.
* Responses are sent to the address the request came from (symmetric response routing as in
  RFC 3581); stamping ``received``/``rport`` into the Via is left to the runtime.
* Requests are checked only as far as matching needs (top Via, CSeq, Call-ID and the raw
  From/To tags); a request broken there is answered statelessly from the parser's status
  hint. The TU runs ``message.check_request`` on each `RequestReceived` and answers 4xx
  through the transaction. Responses must pass ``message.check_response`` or are dropped.
* Timers live in one heap with lazy deletion: cancelling a timer forgets its sequence number on
  the transaction; stale heap entries are skipped when popped and compacted when they
  dominate the heap.

Exceptions raised here (from :mod:`flowpbx.sip.errors`)::

    SipError
     ├── SipParseError   remote fault: caught inside receive(), turned into MessageDropped
     │                   (plus a stateless error response when the status hint allows)
     └── LocalSipError   the TU asked for something invalid: a response in a state that
                         takes none, an ACK through send_request, a duplicate branch
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

from flowpbx.sip.errors import LocalSipError, SipError, SipParseError
from flowpbx.sip.headers import Headers
from flowpbx.sip.message import (
    Request,
    RequestParseError,
    Response,
    check_response,
    make_response,
    parse_message,
)
from flowpbx.sip.txn_states import (
    RETRANSMIT_TIMERS,
    TABLES,
    VALID_TIMERS,
    Action,
    Input,
    Kind,
    State,
)

__all__ = [
    "AckReceived",
    "AckTimeout",
    "Addr",
    "CancelReceived",
    "ClientTransaction",
    "Event",
    "Kind",
    "MessageDropped",
    "RequestReceived",
    "ResponseReceived",
    "ServerTransaction",
    "State",
    "Transaction",
    "TransactionLayer",
    "TransactionStats",
    "TransactionTimeout",
    "make_ack_for_non_2xx",
    "make_cancel",
]

Addr = tuple[str, int]

MAGIC_COOKIE = "z9hG4bK"  # RFC 3261 §8.1.1.7

# Server keys: (branch, sent-by host, sent-by port, Call-ID, method) per RFC 3261 §17.2.3, or
# a tuple starting with "2543" for the RFC 2543 fallback. Client keys: (branch, method), §17.1.3.
ServerKey = tuple[object, ...]
ClientKey = tuple[str, str]
AckKey = tuple[str, int, str]  # (Call-ID, CSeq number, To tag) of a 2xx sent
MergeKey = tuple[str | None, str, int, str]  # (From tag, Call-ID, CSeq number, method)


class _Transaction:
    __slots__ = (
        "_armed",
        "_data",
        "_interval",
        "_request",
        "_table",
        "_valid",
        "addr",
        "key",
        "kind",
        "last_response",
        "state",
        "transport",
        "user_data",
    )

    def __init__(self, kind: Kind, request: Request, addr: Addr) -> None:
        self.kind = kind
        self.transport = "udp"  # the name of the layer's transport, set by the layer
        self._table = TABLES[kind]
        self._valid = VALID_TIMERS[kind]
        self._request: Request | None = request
        self.addr = addr
        self.state = State.INIT
        # The last provisional response (received or sent). A final one goes to the TU in its
        # event (or, sent, stays as bytes) and is not kept: a finished transaction lives on
        # for up to 64*T1 and should hold no parsed message then.
        self.last_response: Response | None = None
        self.user_data: object = None
        self._armed: dict[Input, int] = {}  # timer -> heap sequence number of its live entry
        self._data: bytes | None = None  # bytes to retransmit (request or last response)
        self._interval = 0.0  # current retransmission interval

    @property
    def request(self) -> Request:
        """The request that started the transaction."""
        request = self._request
        assert request is not None
        return request

    @property
    def terminated(self) -> bool:
        return self.state is State.TERMINATED

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self.kind.name} {self.request.method} "
            f"{self.state.name} {self.addr[0]}:{self.addr[1]}>"
        )


class ClientTransaction(_Transaction):
    """A request we sent and its responses (RFC 3261 §17.1)."""

    __slots__ = ("_ack",)

    def __init__(self, kind: Kind, request: Request, addr: Addr, key: ClientKey) -> None:
        super().__init__(kind, request, addr)
        self.key: ClientKey = key
        self._ack: bytes | None = None  # the ACK for a non-2xx final, built once


class ServerTransaction(_Transaction):
    """A request we received and the responses we send (RFC 3261 §17.2)."""

    __slots__ = ("_ack_key", "_merge_key", "_raw", "acked")

    def __init__(
        self, kind: Kind, request: Request, addr: Addr, key: ServerKey, raw: bytes | None = None
    ) -> None:
        super().__init__(kind, request, addr)
        self.key: ServerKey = key
        self.acked = False  # INVITE: the ACK for our 2xx arrived
        self._ack_key: AckKey | None = None
        self._merge_key: MergeKey | None = None
        self._raw = raw  # the datagram the request came in, when the layer parsed it

    @property
    def request(self) -> Request:
        """The request that started the transaction. After the final response the parsed
        request is let go (`_slim`) and, if asked for again, parsed anew from the datagram."""
        request = self._request
        if request is None:
            assert self._raw is not None
            parsed = parse_message(self._raw)
            assert isinstance(parsed, Request)
            self._request = request = parsed
        return request

    def _slim(self) -> None:
        """A final response went out: what stays (Timer J/L, up to 64*T1) is what absorbing
        retransmissions needs — the key, the response bytes, the ACK key — not the parsed
        messages. Thousands of completed transactions at high call rates would otherwise
        hold tens of objects each for the garbage collector to walk."""
        if self._raw is not None:
            self._request = None
        self.last_response = None

    @property
    def local_tag(self) -> str | None:
        """The To tag of the 2xx we sent (INVITE), for a 200 to a late CANCEL (RFC 3261 §9.2)
        once `user_data` is gone."""
        return None if self._ack_key is None else self._ack_key[2]


Transaction = ClientTransaction | ServerTransaction


# --- events (RFC 3261 §17: what the transaction layer tells its TU) -------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestReceived:
    """A new request (RFC 3261 §17.2), or an ACK that matches no transaction (None).

    ``merged`` is True for a request that must be answered 482 (RFC 3261 §8.2.2.2).
    """

    request: Request
    addr: Addr
    transaction: ServerTransaction | None
    merged: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseReceived:
    """A response for a client transaction (RFC 3261 §17.1), or unmatched (None, §18.1.2)."""

    response: Response
    addr: Addr
    transaction: ClientTransaction | None


@dataclass(frozen=True, slots=True, kw_only=True)
class AckReceived:
    """The ACK for a 2xx we sent (RFC 3261 §13.3.1.4, RFC 6026 §7.1); retransmission stops."""

    request: Request
    addr: Addr
    transaction: ServerTransaction


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelReceived:
    """A CANCEL (RFC 3261 §9.2): answer it on cancel_transaction (200, or 481 when
    invite_transaction is None) and answer the INVITE 487."""

    request: Request
    addr: Addr
    cancel_transaction: ServerTransaction
    invite_transaction: ServerTransaction | None


@dataclass(frozen=True, slots=True, kw_only=True)
class TransactionTimeout:
    """Timer B/F (client: treat as 408, RFC 3261 §8.1.3.1), H (server), or the CANCEL guard."""

    transaction: Transaction
    timer: str  # "B", "F", "H", "CXL" or "GUARD" (a server transaction never answered)


@dataclass(frozen=True, slots=True, kw_only=True)
class AckTimeout:
    """No ACK for our 2xx within 64*T1 (RFC 3261 §13.3.1.4): the TU should send BYE."""

    transaction: ServerTransaction


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageDropped:
    """A datagram that could not be used; ``status`` is the stateless response sent, if any."""

    reason: str
    addr: Addr
    status: int | None = None


Event = (
    RequestReceived
    | ResponseReceived
    | AckReceived
    | CancelReceived
    | TransactionTimeout
    | AckTimeout
    | MessageDropped
)


@dataclass(slots=True)
class TransactionStats:
    """Counters for metrics and benchmarks."""

    retransmissions: int = 0  # requests and responses sent again (timers or on request)
    requests_absorbed: int = 0  # retransmitted requests matched to a server transaction
    responses_absorbed: int = 0  # responses a client transaction had no use for
    acks_absorbed: int = 0  # duplicate ACKs
    timeouts: int = 0  # TransactionTimeout and AckTimeout events
    parse_failures: int = 0
    stateless_responses: int = 0
    reaped: int = 0  # server transactions the TU never answered (Timer GRD)


# --- helpers that build requests -------------------------------------------------------------


def make_ack_for_non_2xx(invite: Request, response: Response) -> Request:
    """The ACK a client INVITE transaction sends for a 300-699 (RFC 3261 §17.1.1.3).

    Request-URI, Call-ID, From and the single top Via come from the INVITE, To (with its tag)
    from the response, CSeq keeps the number with method ACK, Route headers are copied.
    """
    h = Headers()
    h.add("Via", invite.headers.get_all("Via")[0])
    for route in invite.headers.get_all("Route"):
        h.add("Route", route)
    h.add("Max-Forwards", "70")
    h.add("From", _required(invite, "From"))
    h.add("To", _required(response, "To"))
    h.add("Call-ID", invite.call_id)
    h.add("CSeq", f"{invite.cseq.seq} ACK")
    return Request(method="ACK", uri=invite.uri, headers=h, body=b"")


def make_cancel(invite: Request) -> Request:
    """A CANCEL for an INVITE we sent (RFC 3261 §9.1).

    Same Request-URI, Call-ID, From, To and CSeq number (method CANCEL), a single Via equal to
    the INVITE's top Via (so it carries the same branch), Route headers copied.
    """
    h = Headers()
    h.add("Via", invite.headers.get_all("Via")[0])
    for route in invite.headers.get_all("Route"):
        h.add("Route", route)
    h.add("Max-Forwards", "70")
    h.add("From", _required(invite, "From"))
    h.add("To", _required(invite, "To"))
    h.add("Call-ID", invite.call_id)
    h.add("CSeq", f"{invite.cseq.seq} CANCEL")
    return Request(method="CANCEL", uri=invite.uri, headers=h, body=b"")


def _required(message: Request | Response, name: str) -> str:
    value = message.headers.get(name)
    if value is None:
        raise LocalSipError(f"message has no {name} header")
    return value


def server_key(request: Request) -> ServerKey:
    """The server transaction a request belongs to (RFC 3261 §17.2.3).

    ACK maps to the INVITE's transaction. The Call-ID is part of the key as well: a request
    that reuses another request's branch but belongs to another call is not a retransmission
    of it (RFC 4475's torture messages reuse branches across unrelated requests), and it
    stops a stranger from hijacking a transaction by guessing its branch. Without the magic
    cookie the RFC 2543 fallback is used in a simplified form (Request-URI, From tag,
    Call-ID, CSeq number, top Via).
    """
    via = request.top_via
    method = request.method
    if method == "ACK":
        method = "INVITE"
    branch = via.branch
    if branch is not None and branch.startswith(MAGIC_COOKIE):
        return (branch, via.host.lower(), via.port, request.call_id, method)
    return (
        "2543",
        request.uri,
        _tag_of(_header(request, "From")),
        request.call_id,
        request.cseq.seq,
        str(via),
        method,
    )


def _merge_key(request: Request) -> MergeKey | None:
    # RFC 3261 §8.2.2.2 applies to requests outside a dialog (no To tag).
    if _tag_of(_header(request, "To")) is not None:
        return None
    cseq = request.cseq
    return (_tag_of(_header(request, "From")), request.call_id, cseq.seq, cseq.method)


def _header(message: Request | Response, name: str) -> str:
    value = message.headers.get(name)
    if value is None:
        raise SipParseError(f"missing {name} header", 400)
    return value


def _tag_of(value: str) -> str | None:
    """The tag of a raw From/To value (RFC 3261 §19.3) without a full name-addr parse.

    Header parameters follow the closing '>' of a name-addr, or the first ';' of an
    addr-spec. This runs for every request, so it avoids the structured parse.
    """
    gt = value.rfind(">")
    tail = value[gt + 1 :] if gt >= 0 else value
    if ";" not in tail:
        return None
    for part in tail.split(";")[1:]:
        name, _, val = part.partition("=")
        if name.strip().lower() == "tag":
            return val.strip() or None
    return None


# --- the layer ------------------------------------------------------------------------------

_HeapEntry = tuple[float, int, Transaction, Input]

_TIMER_NAMES = {
    Input.TIMER_B: "B",
    Input.TIMER_F: "F",
    Input.TIMER_H: "H",
    Input.TIMER_CXL: "CXL",
    Input.TIMER_GUARD: "GUARD",
}


class TransactionLayer:
    """All transactions of one transport; see the module docstring for the driving loop."""

    def __init__(
        self,
        *,
        t1: float = 0.5,
        t2: float = 4.0,
        t4: float = 5.0,
        reliable: bool = False,
        trying_delay: float | None = 0.2,
        transport: str | None = None,
    ) -> None:
        self.t1 = t1
        # The name stamped on every transaction (``txn.transport``), so the TU can tell which
        # transport (and so which layer) a transaction belongs to.
        self.transport = transport or ("tcp" if reliable else "udp")
        self.t2 = t2
        self.t4 = t4
        self.reliable = reliable
        self.trying_delay = trying_delay
        wait = 0.0 if reliable else 1.0
        # RFC 3261 §17, Table 4 (and RFC 6026 §8.4 for L and M).
        self._durations: dict[Input, float] = {
            Input.TIMER_B: 64 * t1,
            Input.TIMER_D: wait * 64 * t1,
            Input.TIMER_F: 64 * t1,
            Input.TIMER_K: wait * t4,
            Input.TIMER_H: 64 * t1,
            Input.TIMER_I: wait * t4,
            Input.TIMER_J: wait * 64 * t1,
            Input.TIMER_L: 64 * t1,
            Input.TIMER_M: 64 * t1,
            Input.TIMER_CXL: 64 * t1,
            Input.TIMER_GUARD: 64 * t1,
        }
        if trying_delay is not None:
            self._durations[Input.TIMER_100] = trying_delay
        self.stats = TransactionStats()
        self._clients: dict[ClientKey, ClientTransaction] = {}
        self._servers: dict[ServerKey, ServerTransaction] = {}
        self._accepted: dict[AckKey, ServerTransaction] = {}
        self._merge: dict[MergeKey, ServerTransaction] = {}
        self._heap: list[_HeapEntry] = []
        self._heap_limit = 4096
        self._seq = 0
        self._events: list[Event] = []
        self._out: list[tuple[bytes, Addr]] = []

    # -- output --------------------------------------------------------------------------

    def events(self) -> list[Event]:
        """Pop every pending event, oldest first."""
        events, self._events = self._events, []
        return events

    def datagrams_to_send(self) -> list[tuple[bytes, Addr]]:
        """Pop every pending datagram, in sending order."""
        out, self._out = self._out, []
        return out

    def table_sizes(self) -> dict[str, int]:
        """Sizes of the internal tables (leak checks, metrics)."""
        return {
            "client": len(self._clients),
            "server": len(self._servers),
            "accepted": len(self._accepted),
            "merge": len(self._merge),
            "timer_heap": len(self._heap),
        }

    # -- input from the network ------------------------------------------------------------

    def receive(self, data: bytes | Request | Response, addr: Addr, now: float) -> None:
        """Handle one datagram (or an already parsed message) from ``addr``."""
        raw: bytes | None = None
        if isinstance(data, bytes):
            try:
                # A reliable layer serves a stream transport: one framed message per call,
                # Content-Length mandatory (RFC 3261 §18.3).
                message: Request | Response = parse_message(data, stream=self.reliable)
            except SipParseError as exc:
                request = exc.request if isinstance(exc, RequestParseError) else None
                self._parse_failed(exc, request, addr)
                return
            raw = data
        else:
            message = data
        try:
            if isinstance(message, Request):
                self._receive_request(message, addr, now, raw)
            elif check_response(message):
                self._receive_response(message, addr, now)
            else:  # RFC 3261 §18.1.2: a malformed response is dropped
                self.stats.parse_failures += 1
                self._events.append(MessageDropped(reason="malformed response", addr=addr))
        except SipParseError as exc:  # a header parsed lazily turned out broken
            self._parse_failed(exc, message if isinstance(message, Request) else None, addr)

    def _parse_failed(self, exc: SipParseError, request: Request | None, addr: Addr) -> None:
        self.stats.parse_failures += 1
        status = exc.status_hint
        sent: int | None = None
        # No answer to an ACK (RFC 3261 §17.2.1) or without a Via to answer along (§18.2.2).
        if (
            status is not None
            and request is not None
            and request.method != "ACK"
            and "Via" in request.headers
        ):
            try:
                response = make_response(request, status)
                self._out.append((response.to_bytes(), addr))
                sent = status
                self.stats.stateless_responses += 1
            except SipError:
                pass  # not even enough to answer
        self._events.append(
            MessageDropped(reason=str(exc) or "parse error", addr=addr, status=sent)
        )

    def _receive_request(
        self, request: Request, addr: Addr, now: float, raw: bytes | None = None
    ) -> None:
        key = server_key(request)
        txn = self._servers.get(key)
        method = request.method
        if method == "ACK":
            if txn is None:
                to_tag = _tag_of(_header(request, "To"))
                if to_tag is not None:
                    txn = self._accepted.get((request.call_id, request.cseq.seq, to_tag))
            if txn is None:
                self._events.append(RequestReceived(request=request, addr=addr, transaction=None))
            elif not self._input(txn, Input.RECV_ACK, now, request, addr):
                self.stats.acks_absorbed += 1
            return
        if txn is not None:
            # RFC 3261 §17.2.1 / §17.2.2: a retransmission, the transaction answers it.
            self.stats.requests_absorbed += 1
            self._input(txn, Input.RECV_REQUEST, now, None, addr)
            return
        # Everything that may raise (lazily parsed headers) before any table is touched.
        mkey = _merge_key(request) if method != "CANCEL" else None
        kind = Kind.INVITE_SERVER if method == "INVITE" else Kind.NON_INVITE_SERVER
        txn = ServerTransaction(kind, request, addr, key, raw)
        txn.transport = self.transport
        self._servers[key] = txn
        merged = False
        if mkey is not None:
            if mkey in self._merge:
                merged = True  # RFC 3261 §8.2.2.2: same request via another path
            else:
                self._merge[mkey] = txn
                txn._merge_key = mkey
        if method == "CANCEL":
            # RFC 3261 §9.2: the CANCEL matches the INVITE transaction by its branch.
            invite_key = (*key[:-1], "INVITE")
            self._events.append(
                CancelReceived(
                    request=request,
                    addr=addr,
                    cancel_transaction=txn,
                    invite_transaction=self._servers.get(invite_key),
                )
            )
        else:
            self._events.append(
                RequestReceived(request=request, addr=addr, transaction=txn, merged=merged)
            )
        self._input(txn, Input.START, now, None, addr)

    def is_merged(self, request: Request) -> bool:
        """True when ``request`` is a merged request to answer 482 (RFC 3261 §8.2.2.2)."""
        mkey = _merge_key(request)
        if mkey is None:
            return False
        existing = self._merge.get(mkey)
        return existing is not None and existing.key != server_key(request)

    def _receive_response(self, response: Response, addr: Addr, now: float) -> None:
        # RFC 3261 §17.1.3: top Via branch + CSeq method.
        branch = response.top_via.branch
        txn = None
        if branch is not None:
            txn = self._clients.get((branch, response.cseq.method))
        if txn is None:
            self._events.append(ResponseReceived(response=response, addr=addr, transaction=None))
            return
        status = response.status
        if status < 200:
            inp = Input.RECV_1XX
        elif status < 300:
            inp = Input.RECV_2XX
        else:
            inp = Input.RECV_FINAL
        if not self._input(txn, inp, now, response, addr):
            self.stats.responses_absorbed += 1

    # -- input from the TU -----------------------------------------------------------------

    def send_request(self, request: Request, addr: Addr, now: float) -> ClientTransaction:
        """Start a client transaction; ``request`` already carries our top Via and branch."""
        method = request.method
        if method == "ACK":
            raise LocalSipError("ACK is not sent in a transaction; use send_stateless")
        branch = request.top_via.branch
        if branch is None:
            raise LocalSipError("the top Via of a request we send needs a branch")
        key: ClientKey = (branch, method)
        if key in self._clients:
            raise LocalSipError(f"a {method} transaction with branch {branch} exists")
        kind = Kind.INVITE_CLIENT if method == "INVITE" else Kind.NON_INVITE_CLIENT
        txn = ClientTransaction(kind, request, addr, key)
        txn.transport = self.transport
        self._clients[key] = txn
        self._input(txn, Input.START, now, None, addr)
        if method == "CANCEL":
            invite = self._clients.get((branch, "INVITE"))
            if (
                invite is not None
                and invite.state in (State.CALLING, State.PROCEEDING)
                and Input.TIMER_CXL not in invite._armed
            ):
                self._arm(invite, Input.TIMER_CXL, now)
        return txn

    def send_response(self, transaction: ServerTransaction, response: Response, now: float) -> None:
        """Send a response within a server transaction, to the request's source address.

        Raises `LocalSipError` when the transaction's state takes no such response (for
        example a final response after the transaction already completed or terminated), or
        for a 2xx to INVITE without a To tag.
        """
        status = response.status
        if status < 200:
            inp = Input.SEND_1XX
        elif status < 300:
            inp = Input.SEND_2XX
            if transaction.kind is Kind.INVITE_SERVER and _tag_of(_header(response, "To")) is None:
                # RFC 3261 §12.1.1: the 2xx creates a dialog; its ACK is matched by To tag.
                raise LocalSipError("a 2xx to INVITE needs a To tag")
        else:
            inp = Input.SEND_FINAL
        if not self._input(transaction, inp, now, response, transaction.addr):
            raise LocalSipError(
                f"cannot send {status} in {transaction.kind.name} state {transaction.state.name}"
            )

    def send_stateless(self, message: Request | Response, addr: Addr) -> None:
        """Send outside any transaction: the ACK for a 2xx, stateless error responses."""
        self._out.append((message.to_bytes(), addr))

    def terminate(self, transaction: Transaction) -> None:
        """Drop a transaction now (the TU gave up on it); no events are emitted."""
        if transaction.state is not State.TERMINATED:
            transaction.state = State.TERMINATED
            self._forget(transaction)

    # -- timers ----------------------------------------------------------------------------

    def get_timer(self) -> float | None:
        """The earliest pending deadline, or None."""
        heap = self._heap
        while heap:
            _, seq, txn, timer = heap[0]
            if txn._armed.get(timer) == seq:
                return heap[0][0]
            heapq.heappop(heap)
        return None

    def handle_timer(self, now: float) -> None:
        """Fire every timer whose deadline is at or before ``now``."""
        heap = self._heap
        while heap and heap[0][0] <= now:
            _, seq, txn, timer = heapq.heappop(heap)
            armed = txn._armed
            if armed.get(timer) != seq:
                continue  # cancelled or re-armed: lazy deletion
            del armed[timer]
            if timer is Input.TIMER_GUARD and txn.user_data is not None:
                continue  # the TU has taken the transaction (a call in set-up): it answers
            self._input(txn, timer, now, None, txn.addr)

    def _arm(self, txn: Transaction, timer: Input, now: float) -> None:
        if timer in RETRANSMIT_TIMERS:
            if self.reliable:
                return  # RFC 3261 §17.1.1.2, §17.1.2.2, §17.2.1: no retransmission over TCP
            delay = txn._interval
        else:
            maybe = self._durations.get(timer)
            if maybe is None:
                return  # e.g. automatic 100 Trying switched off
            delay = maybe
        if delay <= 0.0:
            # Zero-length timers (D, I, J, K on reliable transports) fire at once.
            txn._armed.pop(timer, None)
            self._input(txn, timer, now, None, txn.addr)
            return
        self._seq += 1
        seq = self._seq
        txn._armed[timer] = seq
        heap = self._heap
        heapq.heappush(heap, (now + delay, seq, txn, timer))
        if len(heap) > self._heap_limit:
            self._compact()

    def _compact(self) -> None:
        heap = [e for e in self._heap if e[2]._armed.get(e[3]) == e[1]]
        heapq.heapify(heap)
        self._heap = heap
        self._heap_limit = max(4096, 2 * len(heap))

    # -- the machine -------------------------------------------------------------------------

    def _input(
        self,
        txn: ClientTransaction | ServerTransaction,
        inp: Input,
        now: float,
        message: Request | Response | None,
        addr: Addr,
    ) -> bool:
        """Apply one input; False when the current state has no row for it (ignored)."""
        tr = txn._table.get((txn.state, inp))
        if tr is None:
            return False
        old = txn.state
        new = tr.to
        txn.state = new
        if new is not old:
            if new is State.TERMINATED:
                self._forget(txn)
            elif txn._armed:
                valid = txn._valid[new]
                armed = txn._armed
                for timer in [t for t in armed if t not in valid]:
                    del armed[timer]
        for action in tr.do:
            self._run(action, txn, inp, message, addr)
        if new is not State.TERMINATED:
            for timer in tr.arm:
                self._arm(txn, timer, now)
        return True

    def _run(
        self,
        action: Action,
        txn: ClientTransaction | ServerTransaction,
        inp: Input,
        message: Request | Response | None,
        addr: Addr,
    ) -> None:
        out = self._out
        if action is Action.SEND_REQUEST:
            data = txn.request.to_bytes()
            txn._data = data
            out.append((data, txn.addr))
        elif action is Action.RESEND_REQUEST or action is Action.RESEND_RESPONSE:
            # A server transaction's _data is only ever its last response.
            if txn._data is not None:
                out.append((txn._data, txn.addr))
                self.stats.retransmissions += 1
        elif action is Action.SEND_RESPONSE:
            assert isinstance(message, Response) and isinstance(txn, ServerTransaction)
            self._send_response(txn, message)
        elif action is Action.RESPONSE_TO_TU:
            assert isinstance(message, Response) and isinstance(txn, ClientTransaction)
            txn.last_response = message if message.status < 200 else None
            self._events.append(ResponseReceived(response=message, addr=addr, transaction=txn))
        elif action is Action.SEND_ACK:
            assert isinstance(txn, ClientTransaction)
            if txn._ack is None:
                assert isinstance(message, Response)
                txn._ack = make_ack_for_non_2xx(txn.request, message).to_bytes()
            else:
                self.stats.retransmissions += 1
            out.append((txn._ack, txn.addr))
        elif action is Action.ACK_TO_TU:
            assert isinstance(txn, ServerTransaction) and isinstance(message, Request)
            if txn.acked:
                self.stats.acks_absorbed += 1
            else:
                txn.acked = True
                txn._armed.pop(Input.TIMER_2XX, None)  # stop retransmitting the 2xx
                # Nothing reports to the TU after this (no AckTimeout once acked), yet the
                # transaction stays for Timer L (64*T1) to absorb retransmissions: let go of
                # the TU's object now, so a finished call is not kept alive for 32 s.
                txn.user_data = None
                self._events.append(AckReceived(request=message, addr=addr, transaction=txn))
        elif action is Action.REPORT_TIMEOUT:
            self.stats.timeouts += 1
            if inp is Input.TIMER_GUARD:
                self.stats.reaped += 1
            self._events.append(
                TransactionTimeout(transaction=txn, timer=_TIMER_NAMES.get(inp, inp.name))
            )
        elif action is Action.REPORT_ACK_TIMEOUT:
            assert isinstance(txn, ServerTransaction)
            if not txn.acked:
                self.stats.timeouts += 1
                self._events.append(AckTimeout(transaction=txn))
        elif action is Action.SEND_TRYING:
            assert isinstance(txn, ServerTransaction)
            if txn.last_response is None:
                self._send_response(txn, make_response(txn.request, 100))
        elif action is Action.INTERVAL_T1:
            txn._interval = self.t1
        elif action is Action.INTERVAL_DOUBLE:
            txn._interval *= 2.0
        elif action is Action.INTERVAL_DOUBLE_CAP:
            txn._interval = min(txn._interval * 2.0, self.t2)
        elif action is Action.INTERVAL_T2:
            txn._interval = self.t2
        elif action is Action.STOP_GUARD:
            txn._armed.pop(Input.TIMER_GUARD, None)
        elif action is Action.SEND_SERVER_ERROR:
            assert isinstance(txn, ServerTransaction)
            self._send_response(txn, make_response(txn.request, 500))

    def _send_response(self, txn: ServerTransaction, response: Response) -> None:
        data = response.to_bytes()
        txn.last_response = response
        txn._data = data
        self._out.append((data, txn.addr))
        status = response.status
        if txn.kind is Kind.INVITE_SERVER and 200 <= status < 300:
            # Remember how the 2xx ACK (a new transaction) will identify us (RFC 6026 §7.1).
            to_tag = _tag_of(_header(response, "To"))
            if to_tag is not None:
                request = txn.request  # same Call-ID and CSeq, already parsed
                ack_key = (request.call_id, request.cseq.seq, to_tag)
                if txn._ack_key is not None and txn._ack_key != ack_key:
                    self._accepted.pop(txn._ack_key, None)
                txn._ack_key = ack_key
                self._accepted[ack_key] = txn
        if status >= 200:
            txn._slim()

    def _forget(self, txn: Transaction) -> None:
        txn._armed.clear()
        if isinstance(txn, ClientTransaction):
            if self._clients.get(txn.key) is txn:
                del self._clients[txn.key]
        elif isinstance(txn, ServerTransaction):
            if self._servers.get(txn.key) is txn:
                del self._servers[txn.key]
            if txn._ack_key is not None and self._accepted.get(txn._ack_key) is txn:
                del self._accepted[txn._ack_key]
            if txn._merge_key is not None and self._merge.get(txn._merge_key) is txn:
                del self._merge[txn._merge_key]

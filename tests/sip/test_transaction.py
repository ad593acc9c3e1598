"""Transaction layer tests: driven with bytes and an explicit clock, no sockets."""

from __future__ import annotations

import pytest

from flowpbx.sip.errors import LocalSipError
from flowpbx.sip.message import Request, Response, make_response, parse_message
from flowpbx.sip.transaction import (
    AckReceived,
    AckTimeout,
    CancelReceived,
    ClientTransaction,
    Event,
    MessageDropped,
    RequestReceived,
    ResponseReceived,
    ServerTransaction,
    State,
    TransactionLayer,
    TransactionTimeout,
    make_ack_for_non_2xx,
    make_cancel,
)
from flowpbx.sip.txn_states import TABLES, Kind, to_dot

PEER = ("192.0.2.10", 5070)
ME_HOST = "192.0.2.1"


def request_bytes(
    method: str = "INVITE",
    *,
    branch: str = "z9hG4bKpeer1",
    call_id: str = "call-1@peer",
    cseq: int = 1,
    cseq_method: str | None = None,
    from_tag: str = "ft1",
    to_tag: str | None = None,
    via_host: str = "192.0.2.10:5070",
    uri: str = "sip:101@192.0.2.1",
    extra: str = "",
) -> bytes:
    to = "<sip:101@192.0.2.1>" + (f";tag={to_tag}" if to_tag else "")
    return (
        f"{method} {uri} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {via_host};branch={branch};rport\r\n"
        "Max-Forwards: 70\r\n"
        f'From: "Alice" <sip:alice@192.0.2.10>;tag={from_tag}\r\n'
        f"To: {to}\r\n"
        f"Call-ID: {call_id}\r\n"
        f"CSeq: {cseq} {cseq_method or method}\r\n"
        "Contact: <sip:alice@192.0.2.10:5070>\r\n"
        f"{extra}"
        "Content-Length: 0\r\n\r\n"
    ).encode()


def our_request(
    method: str = "INVITE",
    *,
    branch: str = "z9hG4bKours1",
    cseq: int = 1,
    routes: tuple[str, ...] = (),
) -> Request:
    extra = "".join(f"Route: {r}\r\n" for r in routes)
    req = parse_message(
        request_bytes(
            method,
            branch=branch,
            via_host=f"{ME_HOST}:5060",
            call_id="ours-1@flowpbx",
            cseq=cseq,
            from_tag="ourtag",
            uri="sip:bob@192.0.2.10:5070",
            extra=extra,
        )
    )
    assert isinstance(req, Request)
    return req


def response_to(req: Request, status: int, to_tag: str | None = "rt1") -> bytes:
    return make_response(req, status, to_tag=to_tag if status > 100 else None).to_bytes()


def parsed(data: bytes) -> Request | Response:
    return parse_message(data)


def only(events: list[Event], kind: type) -> list[Event]:
    return [e for e in events if isinstance(e, kind)]


class Clock:
    """Steps the layer's time forward, firing due timers and collecting what was sent."""

    def __init__(self, layer: TransactionLayer) -> None:
        self.layer = layer
        self.now = 0.0
        self.sent: list[tuple[float, bytes]] = []

    def run_until(self, end: float) -> None:
        while True:
            deadline = self.layer.get_timer()
            if deadline is None or deadline > end:
                break
            self.now = deadline
            self.layer.handle_timer(deadline)
            self.sent += [(self.now, d) for d, _ in self.layer.datagrams_to_send()]
        self.now = end


def first_lines(datagrams: list[tuple[bytes, tuple[str, int]]]) -> list[str]:
    return [d.split(b"\r\n", 1)[0].decode() for d, _ in datagrams]


# --- server INVITE ----------------------------------------------------------------------------


def new_server(layer: TransactionLayer, data: bytes, now: float = 0.0) -> ServerTransaction:
    layer.receive(data, PEER, now)
    events = layer.events()
    assert len(events) == 1
    ev = events[0]
    assert isinstance(ev, RequestReceived)
    assert ev.transaction is not None
    assert ev.addr == PEER
    return ev.transaction


def test_new_invite_creates_server_transaction() -> None:
    layer = TransactionLayer()
    txn = new_server(layer, request_bytes())
    assert txn.state is State.PROCEEDING
    assert txn.kind is Kind.INVITE_SERVER
    assert txn.addr == PEER
    assert txn.request.method == "INVITE"
    assert txn.last_response is None
    assert layer.datagrams_to_send() == []
    txn.user_data = "leg-1"
    assert txn.user_data == "leg-1"


def test_automatic_100_trying_after_200_ms() -> None:
    layer = TransactionLayer()
    txn = new_server(layer, request_bytes())
    assert layer.get_timer() == pytest.approx(0.2)
    layer.handle_timer(0.19)
    assert layer.datagrams_to_send() == []
    layer.handle_timer(0.2)
    out = layer.datagrams_to_send()
    assert first_lines(out) == ["SIP/2.0 100 Trying"]
    assert out[0][1] == PEER
    assert txn.last_response is not None and txn.last_response.status == 100
    # A retransmitted INVITE is absorbed and the last response resent.
    layer.receive(request_bytes(), PEER, 0.3)
    assert layer.events() == []
    assert first_lines(layer.datagrams_to_send()) == ["SIP/2.0 100 Trying"]
    assert layer.stats.requests_absorbed == 1


def test_no_100_when_tu_answers_first() -> None:
    layer = TransactionLayer()
    txn = new_server(layer, request_bytes())
    layer.send_response(txn, make_response(txn.request, 180, to_tag="t1"), 0.05)
    assert first_lines(layer.datagrams_to_send()) == ["SIP/2.0 180 Ringing"]
    layer.handle_timer(1.0)
    assert layer.datagrams_to_send() == []


@pytest.mark.parametrize(("delay", "expected"), [(0.0, ["SIP/2.0 100 Trying"]), (None, [])])
def test_trying_delay_options(delay: float | None, expected: list[str]) -> None:
    layer = TransactionLayer(trying_delay=delay)
    new_server(layer, request_bytes())
    assert first_lines(layer.datagrams_to_send()) == expected
    layer.handle_timer(5.0)
    assert layer.datagrams_to_send() == []


def test_retransmitted_invite_before_any_response_is_silent() -> None:
    layer = TransactionLayer(trying_delay=None)
    new_server(layer, request_bytes())
    layer.receive(request_bytes(), PEER, 0.1)
    assert layer.events() == []
    assert layer.datagrams_to_send() == []


def test_invite_server_non_2xx_timer_g_and_h() -> None:
    layer = TransactionLayer(trying_delay=None)
    clock = Clock(layer)
    txn = new_server(layer, request_bytes())
    layer.send_response(txn, make_response(txn.request, 486, to_tag="t1"), 0.0)
    assert first_lines(layer.datagrams_to_send()) == ["SIP/2.0 486 Busy Here"]
    assert txn.state is State.COMPLETED
    clock.run_until(40.0)
    # RFC 3261 §17.2.1: G doubles from T1 up to T2 = 4 s; H ends it at 64*T1 = 32 s.
    times = [t for t, _ in clock.sent]
    assert times == pytest.approx([0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5])
    assert all(d.startswith(b"SIP/2.0 486 ") for _, d in clock.sent)
    events = layer.events()
    assert len(events) == 1
    assert isinstance(events[0], TransactionTimeout)
    assert events[0].timer == "H" and events[0].transaction is txn
    assert txn.state is State.TERMINATED
    assert layer.table_sizes()["server"] == 0
    assert layer.stats.retransmissions == 10


def test_invite_server_ack_for_non_2xx_confirms_then_timer_i() -> None:
    layer = TransactionLayer(trying_delay=None)
    clock = Clock(layer)
    txn = new_server(layer, request_bytes())
    layer.send_response(txn, make_response(txn.request, 404, to_tag="t1"), 0.0)
    layer.datagrams_to_send()
    clock.run_until(0.6)  # one retransmission by G
    assert len(clock.sent) == 1
    ack = request_bytes("ACK", to_tag="t1")  # same branch: §17.1.1.3
    layer.receive(ack, PEER, 0.7)
    assert layer.events() == []  # absorbed by the transaction, not passed to the TU
    assert txn.state is State.CONFIRMED
    layer.receive(ack, PEER, 0.8)  # retransmitted ACK absorbed too
    assert layer.events() == []
    # Retransmitted INVITE in Confirmed is absorbed with no response.
    layer.receive(request_bytes(), PEER, 0.9)
    assert layer.datagrams_to_send() == []
    clock.run_until(5.69)
    assert len(clock.sent) == 1  # G stopped
    assert txn.state is State.CONFIRMED
    clock.run_until(5.71)  # I = T4 = 5 s after the ACK
    assert txn.state is State.TERMINATED
    assert layer.table_sizes() == {
        "client": 0,
        "server": 0,
        "accepted": 0,
        "merge": 0,
        "timer_heap": layer.table_sizes()["timer_heap"],
    }
    assert layer.get_timer() is None


def test_invite_server_2xx_retransmitted_until_ack() -> None:
    layer = TransactionLayer(trying_delay=None)
    clock = Clock(layer)
    txn = new_server(layer, request_bytes())
    layer.send_response(txn, make_response(txn.request, 200, to_tag="t1"), 0.0)
    assert first_lines(layer.datagrams_to_send()) == ["SIP/2.0 200 OK"]
    assert txn.state is State.ACCEPTED
    clock.run_until(4.0)
    assert [t for t, _ in clock.sent] == pytest.approx([0.5, 1.5, 3.5])
    # The ACK for a 2xx is a new transaction (new branch): matched by dialog identifiers.
    ack = request_bytes("ACK", branch="z9hG4bKpeer-ack", to_tag="t1")
    layer.receive(ack, PEER, 4.0)
    events = layer.events()
    assert len(events) == 1 and isinstance(events[0], AckReceived)
    assert events[0].transaction is txn and txn.acked
    layer.receive(ack, PEER, 4.1)  # duplicate ACK absorbed
    assert layer.events() == []
    assert layer.stats.acks_absorbed == 1
    # A retransmitted INVITE in Accepted is absorbed (RFC 6026 §7.1).
    layer.receive(request_bytes(), PEER, 4.2)
    assert layer.events() == [] and layer.datagrams_to_send() == []
    clock.run_until(31.9)
    assert len(clock.sent) == 3  # retransmission stopped at the ACK
    assert txn.state is State.ACCEPTED
    clock.run_until(32.1)  # timer L
    assert txn.state is State.TERMINATED
    assert layer.events() == []  # no AckTimeout: the ACK came
    assert layer.table_sizes()["server"] == 0
    assert layer.table_sizes()["accepted"] == 0


def test_invite_server_2xx_without_ack_reports_ack_timeout() -> None:
    layer = TransactionLayer(trying_delay=None)
    clock = Clock(layer)
    txn = new_server(layer, request_bytes())
    layer.send_response(txn, make_response(txn.request, 200, to_tag="t1"), 0.0)
    layer.datagrams_to_send()
    clock.run_until(33.0)
    times = [t for t, _ in clock.sent]
    assert times == pytest.approx([0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5])
    events = layer.events()
    assert len(events) == 1 and isinstance(events[0], AckTimeout)
    assert events[0].transaction is txn
    assert layer.stats.timeouts == 1
    # A late ACK matches nothing any more: the TU decides.
    layer.receive(request_bytes("ACK", branch="z9hG4bKlate", to_tag="t1"), PEER, 34.0)
    late = layer.events()
    assert len(late) == 1 and isinstance(late[0], RequestReceived)
    assert late[0].transaction is None


def test_ack_with_same_branch_for_2xx_is_accepted() -> None:
    # Some UAs reuse the INVITE branch for the 2xx ACK; it still stops the retransmission.
    layer = TransactionLayer(trying_delay=None)
    txn = new_server(layer, request_bytes())
    layer.send_response(txn, make_response(txn.request, 200, to_tag="t1"), 0.0)
    layer.receive(request_bytes("ACK", to_tag="t1"), PEER, 0.1)
    events = layer.events()
    assert len(events) == 1 and isinstance(events[0], AckReceived)


def test_ack_matching_nothing_goes_to_tu() -> None:
    layer = TransactionLayer()
    layer.receive(request_bytes("ACK", branch="z9hG4bKstray", to_tag="x"), PEER, 0.0)
    events = layer.events()
    assert len(events) == 1 and isinstance(events[0], RequestReceived)
    assert events[0].transaction is None
    assert layer.table_sizes()["server"] == 0


def test_send_response_in_wrong_state_raises() -> None:
    layer = TransactionLayer(trying_delay=None)
    txn = new_server(layer, request_bytes())
    layer.send_response(txn, make_response(txn.request, 486, to_tag="t1"), 0.0)
    with pytest.raises(LocalSipError):
        layer.send_response(txn, make_response(txn.request, 200, to_tag="t1"), 0.1)


def test_several_2xx_from_tu_in_accepted_state_are_sent() -> None:
    layer = TransactionLayer(trying_delay=None)
    txn = new_server(layer, request_bytes())
    layer.send_response(txn, make_response(txn.request, 200, to_tag="t1"), 0.0)
    layer.send_response(txn, make_response(txn.request, 200, to_tag="t1"), 0.1)
    assert first_lines(layer.datagrams_to_send()) == ["SIP/2.0 200 OK", "SIP/2.0 200 OK"]


# --- server non-INVITE --------------------------------------------------------------------


def test_non_invite_server_trying_completed_timer_j() -> None:
    layer = TransactionLayer()
    clock = Clock(layer)
    txn = new_server(layer, request_bytes("OPTIONS"))
    assert txn.kind is Kind.NON_INVITE_SERVER and txn.state is State.TRYING
    layer.receive(request_bytes("OPTIONS"), PEER, 0.1)  # Trying: absorbed silently
    assert layer.events() == [] and layer.datagrams_to_send() == []
    assert layer.get_timer() == 64 * layer.t1  # no automatic 100 for non-INVITE: the guard only
    layer.send_response(txn, make_response(txn.request, 200, to_tag="t1"), 0.2)
    assert first_lines(layer.datagrams_to_send()) == ["SIP/2.0 200 OK"]
    assert txn.state is State.COMPLETED
    layer.receive(request_bytes("OPTIONS"), PEER, 1.0)  # Completed: response resent
    assert first_lines(layer.datagrams_to_send()) == ["SIP/2.0 200 OK"]
    assert layer.events() == []
    clock.run_until(32.1)
    assert txn.state is State.COMPLETED
    clock.run_until(32.3)  # J = 64*T1 after the final response
    assert txn.state is State.TERMINATED
    assert layer.table_sizes()["server"] == 0
    assert clock.sent == []  # the server never retransmits on its own


def test_non_invite_server_provisional_resent_on_retransmission() -> None:
    layer = TransactionLayer()
    txn = new_server(layer, request_bytes("REGISTER"))
    layer.send_response(txn, make_response(txn.request, 100), 0.0)
    assert txn.state is State.PROCEEDING
    layer.datagrams_to_send()
    layer.receive(request_bytes("REGISTER"), PEER, 0.5)
    assert first_lines(layer.datagrams_to_send()) == ["SIP/2.0 100 Trying"]
    layer.send_response(txn, make_response(txn.request, 401, to_tag="t1"), 0.6)
    assert txn.state is State.COMPLETED


# --- CANCEL ---------------------------------------------------------------------------------


def test_cancel_matches_invite_transaction() -> None:
    layer = TransactionLayer(trying_delay=None)
    invite_txn = new_server(layer, request_bytes())
    layer.send_response(invite_txn, make_response(invite_txn.request, 180, to_tag="t1"), 0.0)
    layer.datagrams_to_send()
    layer.receive(request_bytes("CANCEL"), PEER, 1.0)
    events = layer.events()
    assert len(events) == 1
    ev = events[0]
    assert isinstance(ev, CancelReceived)
    assert ev.invite_transaction is invite_txn
    assert ev.cancel_transaction.request.method == "CANCEL"
    assert ev.cancel_transaction is not invite_txn
    # The TU answers 200 to the CANCEL and 487 to the INVITE.
    cancel_txn = ev.cancel_transaction
    layer.send_response(cancel_txn, make_response(cancel_txn.request, 200, to_tag="t1"), 1.0)
    layer.send_response(invite_txn, make_response(invite_txn.request, 487, to_tag="t1"), 1.0)
    assert first_lines(layer.datagrams_to_send()) == [
        "SIP/2.0 200 OK",
        "SIP/2.0 487 Request Terminated",
    ]
    # CANCEL retransmission: 200 resent.
    layer.receive(request_bytes("CANCEL"), PEER, 1.1)
    assert first_lines(layer.datagrams_to_send()) == ["SIP/2.0 200 OK"]
    layer.receive(request_bytes("ACK", to_tag="t1"), PEER, 1.2)
    assert invite_txn.state is State.CONFIRMED
    assert layer.events() == []


def test_cancel_without_invite() -> None:
    layer = TransactionLayer()
    layer.receive(request_bytes("CANCEL", branch="z9hG4bKnothing"), PEER, 0.0)
    events = layer.events()
    assert len(events) == 1 and isinstance(events[0], CancelReceived)
    assert events[0].invite_transaction is None
    txn = events[0].cancel_transaction
    layer.send_response(txn, make_response(txn.request, 481, to_tag="t1"), 0.0)
    assert first_lines(layer.datagrams_to_send()) == ["SIP/2.0 481 Call/Transaction Does Not Exist"]


def test_make_cancel_follows_rfc3261_9_1() -> None:
    invite = our_request(routes=("<sip:proxy1.example;lr>", "<sip:proxy2.example;lr>"))
    cancel = make_cancel(invite)
    assert cancel.method == "CANCEL"
    assert cancel.uri == invite.uri
    assert cancel.call_id == invite.call_id
    assert cancel.headers.get("From") == invite.headers.get("From")
    assert cancel.headers.get("To") == invite.headers.get("To")
    assert cancel.to.tag is None
    assert cancel.cseq.seq == invite.cseq.seq and cancel.cseq.method == "CANCEL"
    assert len(cancel.vias) == 1
    assert cancel.headers.get_all("Via") == invite.headers.get_all("Via")[:1]
    assert cancel.top_via.branch == invite.top_via.branch
    assert cancel.headers.get_all("Route") == [
        "<sip:proxy1.example;lr>",
        "<sip:proxy2.example;lr>",
    ]
    assert cancel.headers.get("Max-Forwards") == "70"
    reparsed = parse_message(cancel.to_bytes())
    assert isinstance(reparsed, Request) and reparsed.method == "CANCEL"


# --- merged requests ------------------------------------------------------------------------


def test_merged_request_detected() -> None:
    layer = TransactionLayer(trying_delay=None)
    first = new_server(layer, request_bytes())
    assert layer.events() == []
    # Same From tag, Call-ID and CSeq, other branch, no To tag: RFC 3261 §8.2.2.2.
    again = request_bytes(branch="z9hG4bKpath2", via_host="198.51.100.7:5060")
    req = parse_message(again)
    assert isinstance(req, Request)
    assert layer.is_merged(req)
    assert not layer.is_merged(first.request)
    layer.receive(again, ("198.51.100.7", 5060), 0.1)
    events = layer.events()
    assert len(events) == 1 and isinstance(events[0], RequestReceived)
    assert events[0].merged is True and events[0].transaction is not None
    merged_txn = events[0].transaction
    layer.send_response(merged_txn, make_response(merged_txn.request, 482, to_tag="m"), 0.1)
    assert first_lines(layer.datagrams_to_send()) == ["SIP/2.0 482 Loop Detected"]
    # In-dialog requests (To tag) are never merged.
    in_dialog = parse_message(request_bytes("BYE", branch="z9hG4bKbye", to_tag="t1"))
    assert isinstance(in_dialog, Request) and not layer.is_merged(in_dialog)


# --- client INVITE ----------------------------------------------------------------------


def start_client(
    layer: TransactionLayer, method: str = "INVITE", **kw: object
) -> tuple[ClientTransaction, Clock]:
    clock = Clock(layer)
    req = our_request(method, **kw)  # type: ignore[arg-type]
    txn = layer.send_request(req, PEER, 0.0)
    out = layer.datagrams_to_send()
    assert len(out) == 1 and out[0][1] == PEER
    assert out[0][0] == req.to_bytes()
    return txn, clock


def test_invite_client_timer_a_and_b() -> None:
    layer = TransactionLayer()
    txn, clock = start_client(layer)
    assert txn.state is State.CALLING and txn.kind is Kind.INVITE_CLIENT
    clock.run_until(40.0)
    # RFC 3261 §17.1.1.2: A at T1, 2T1, 4T1 ...; B at 64*T1: 7 transmissions in all.
    assert [t for t, _ in clock.sent] == pytest.approx([0.5, 1.5, 3.5, 7.5, 15.5, 31.5])
    assert all(d.startswith(b"INVITE ") for _, d in clock.sent)
    events = layer.events()
    assert len(events) == 1 and isinstance(events[0], TransactionTimeout)
    assert events[0].timer == "B" and events[0].transaction is txn
    assert txn.state is State.TERMINATED
    assert layer.table_sizes()["client"] == 0


def test_invite_client_provisional_stops_a_and_b() -> None:
    layer = TransactionLayer()
    txn, clock = start_client(layer)
    clock.run_until(1.0)
    assert len(clock.sent) == 1
    layer.receive(response_to(txn.request, 100), PEER, 1.0)
    layer.receive(response_to(txn.request, 180), PEER, 1.1)
    events = layer.events()
    assert [e.response.status for e in events if isinstance(e, ResponseReceived)] == [100, 180]
    assert all(isinstance(e, ResponseReceived) and e.transaction is txn for e in events)
    assert txn.state is State.PROCEEDING
    clock.run_until(100.0)
    assert len(clock.sent) == 1
    assert layer.events() == []  # no timer B in Proceeding
    assert layer.get_timer() is None
    assert txn.last_response is not None and txn.last_response.status == 180


def test_invite_client_non_2xx_generates_ack() -> None:
    layer = TransactionLayer()
    txn, clock = start_client(layer, routes=("<sip:edge.example;lr>",))
    layer.receive(response_to(txn.request, 486, to_tag="busy1"), PEER, 0.2)
    events = layer.events()
    assert len(events) == 1 and isinstance(events[0], ResponseReceived)
    assert events[0].response.status == 486
    assert txn.state is State.COMPLETED
    out = layer.datagrams_to_send()
    assert len(out) == 1 and out[0][1] == PEER
    ack = parse_message(out[0][0])
    assert isinstance(ack, Request)
    invite = txn.request
    # RFC 3261 §17.1.1.3
    assert ack.method == "ACK" and ack.uri == invite.uri
    assert ack.call_id == invite.call_id
    assert ack.headers.get("From") == invite.headers.get("From")
    assert ack.to.tag == "busy1"
    assert ack.cseq.seq == invite.cseq.seq and ack.cseq.method == "ACK"
    assert len(ack.vias) == 1 and ack.top_via.branch == invite.top_via.branch
    assert ack.headers.get_all("Route") == ["<sip:edge.example;lr>"]
    assert ack.body == b""
    # A retransmitted 486 gets the same ACK again, and is not passed to the TU.
    layer.receive(response_to(txn.request, 486, to_tag="busy1"), PEER, 0.5)
    assert layer.events() == []
    assert [d for d, _ in layer.datagrams_to_send()] == [out[0][0]]
    clock.run_until(0.5)
    assert clock.sent == []  # A stopped
    clock.run_until(32.1)  # D = 64*T1 after the 486
    assert txn.state is State.COMPLETED
    clock.run_until(32.3)
    assert txn.state is State.TERMINATED
    assert layer.table_sizes()["client"] == 0


def test_make_ack_for_non_2xx_helper() -> None:
    invite = our_request()
    resp = parse_message(response_to(invite, 603, to_tag="d1"))
    assert isinstance(resp, Response)
    ack = make_ack_for_non_2xx(invite, resp)
    assert ack.to.tag == "d1" and ack.cseq.method == "ACK"


def test_invite_client_2xx_accepted_and_retransmissions_to_tu() -> None:
    layer = TransactionLayer()
    txn, clock = start_client(layer)
    layer.receive(response_to(txn.request, 200), PEER, 0.3)
    ev = layer.events()
    assert len(ev) == 1 and isinstance(ev[0], ResponseReceived) and ev[0].transaction is txn
    assert txn.state is State.ACCEPTED
    assert layer.datagrams_to_send() == []  # the ACK for a 2xx is the TU's job
    layer.receive(response_to(txn.request, 200), PEER, 0.8)
    ev = layer.events()
    assert len(ev) == 1 and isinstance(ev[0], ResponseReceived)  # TU re-sends its ACK
    layer.receive(response_to(txn.request, 180), PEER, 0.9)  # late 1xx absorbed
    assert layer.events() == []
    clock.run_until(32.2)
    assert txn.state is State.ACCEPTED
    clock.run_until(32.4)  # M = 64*T1
    assert txn.state is State.TERMINATED
    assert clock.sent == []
    # After M, a 2xx retransmission is unmatched and still reaches the TU.
    layer.receive(response_to(txn.request, 200), PEER, 33.0)
    ev = layer.events()
    assert len(ev) == 1 and isinstance(ev[0], ResponseReceived) and ev[0].transaction is None


def test_cancel_guard_gives_up_on_invite() -> None:
    layer = TransactionLayer()
    txn, clock = start_client(layer)
    layer.receive(response_to(txn.request, 180), PEER, 0.1)
    layer.events()
    cancel_txn = layer.send_request(make_cancel(txn.request), PEER, 1.0)
    assert cancel_txn.kind is Kind.NON_INVITE_CLIENT
    assert first_lines(layer.datagrams_to_send()) == ["CANCEL sip:bob@192.0.2.10:5070 SIP/2.0"]
    layer.receive(response_to(cancel_txn.request, 200), PEER, 1.1)
    ev = layer.events()
    assert len(ev) == 1 and isinstance(ev[0], ResponseReceived)
    assert ev[0].transaction is cancel_txn
    clock.run_until(32.9)
    assert txn.state is State.PROCEEDING
    clock.run_until(33.1)  # 64*T1 after the CANCEL, no 487 came
    timeouts = only(layer.events(), TransactionTimeout)
    assert len(timeouts) == 1
    assert isinstance(timeouts[0], TransactionTimeout) and timeouts[0].timer == "CXL"
    assert txn.state is State.TERMINATED
    assert layer.table_sizes()["client"] == 0


# --- client non-INVITE ----------------------------------------------------------------------


def test_non_invite_client_timer_e_and_f() -> None:
    layer = TransactionLayer()
    txn, clock = start_client(layer, "OPTIONS")
    assert txn.state is State.TRYING
    clock.run_until(40.0)
    # RFC 3261 §17.1.2.2: E doubles from T1 up to T2; F at 64*T1.
    times = [t for t, _ in clock.sent]
    assert times == pytest.approx([0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5])
    events = layer.events()
    assert len(events) == 1 and isinstance(events[0], TransactionTimeout)
    assert events[0].timer == "F"
    assert layer.table_sizes()["client"] == 0


def test_non_invite_client_proceeding_retransmits_at_t2() -> None:
    layer = TransactionLayer()
    txn, clock = start_client(layer, "BYE")
    clock.run_until(0.6)  # one retransmission at 0.5
    layer.receive(response_to(txn.request, 100), PEER, 0.6)
    assert txn.state is State.PROCEEDING
    assert len(layer.events()) == 1
    clock.run_until(10.0)
    times = [t for t, _ in clock.sent]
    # Next E was armed for 0.5 + 1.0; from then on T2.
    assert times == pytest.approx([0.5, 1.5, 5.5, 9.5])


def test_non_invite_client_final_then_timer_k() -> None:
    layer = TransactionLayer()
    txn, clock = start_client(layer, "REGISTER")
    layer.receive(response_to(txn.request, 401), PEER, 0.1)
    ev = layer.events()
    assert len(ev) == 1 and isinstance(ev[0], ResponseReceived)
    assert txn.state is State.COMPLETED
    layer.receive(response_to(txn.request, 401), PEER, 0.2)  # absorbed
    assert layer.events() == []
    assert layer.stats.responses_absorbed == 1
    clock.run_until(5.0)
    assert txn.state is State.COMPLETED
    clock.run_until(5.2)  # K = T4
    assert txn.state is State.TERMINATED
    assert clock.sent == []


def test_unmatched_response() -> None:
    layer = TransactionLayer()
    req = our_request(branch="z9hG4bKneverSent")
    layer.receive(response_to(req, 200), PEER, 0.0)
    ev = layer.events()
    assert len(ev) == 1 and isinstance(ev[0], ResponseReceived) and ev[0].transaction is None


def test_response_with_other_method_does_not_match() -> None:
    layer = TransactionLayer()
    txn, _ = start_client(layer)
    other = parse_message(response_to(txn.request, 200))
    assert isinstance(other, Response)
    other.headers.set("CSeq", "1 CANCEL")
    layer.receive(other, PEER, 0.1)
    ev = layer.events()
    assert len(ev) == 1 and isinstance(ev[0], ResponseReceived) and ev[0].transaction is None
    assert txn.state is State.CALLING


def test_send_request_rejects_ack_and_duplicates() -> None:
    layer = TransactionLayer()
    start_client(layer)
    with pytest.raises(LocalSipError):
        layer.send_request(our_request(), PEER, 0.1)
    with pytest.raises(LocalSipError):
        layer.send_request(our_request("ACK", branch="z9hG4bKack"), PEER, 0.1)


def test_send_stateless() -> None:
    layer = TransactionLayer()
    ack = our_request("ACK", branch="z9hG4bKack2")
    layer.send_stateless(ack, PEER)
    assert layer.datagrams_to_send() == [(ack.to_bytes(), PEER)]
    assert layer.table_sizes()["client"] == 0


def test_terminate_removes_transaction() -> None:
    layer = TransactionLayer()
    txn, _ = start_client(layer)
    srv = new_server(layer, request_bytes())
    layer.terminate(txn)
    layer.terminate(srv)
    layer.terminate(srv)  # idempotent
    assert txn.state is State.TERMINATED
    sizes = layer.table_sizes()
    assert sizes["client"] == sizes["server"] == sizes["merge"] == 0
    assert layer.get_timer() is None


# --- reliable transports ----------------------------------------------------------------------


def test_reliable_invite_client_no_retransmissions() -> None:
    layer = TransactionLayer(reliable=True)
    _txn, clock = start_client(layer)
    clock.run_until(31.9)
    assert clock.sent == []
    clock.run_until(32.1)
    ev = layer.events()
    assert len(ev) == 1 and isinstance(ev[0], TransactionTimeout) and ev[0].timer == "B"


def test_reliable_invite_client_timer_d_is_zero() -> None:
    layer = TransactionLayer(reliable=True)
    txn, _ = start_client(layer)
    layer.receive(response_to(txn.request, 486), PEER, 0.1)
    assert first_lines(layer.datagrams_to_send()) == ["ACK sip:bob@192.0.2.10:5070 SIP/2.0"]
    assert txn.state is State.TERMINATED
    assert layer.table_sizes()["client"] == 0


def test_reliable_servers_terminate_at_once() -> None:
    layer = TransactionLayer(reliable=True, trying_delay=None)
    clock = Clock(layer)
    inv = new_server(layer, request_bytes())
    layer.send_response(inv, make_response(inv.request, 486, to_tag="t"), 0.0)
    layer.datagrams_to_send()
    clock.run_until(10.0)
    assert clock.sent == []  # no timer G
    layer.receive(request_bytes("ACK", to_tag="t"), PEER, 10.0)
    assert inv.state is State.TERMINATED  # I = 0
    opt = new_server(layer, request_bytes("OPTIONS", branch="z9hG4bKo"), 10.0)
    layer.send_response(opt, make_response(opt.request, 200, to_tag="t"), 10.0)
    assert opt.state is State.TERMINATED  # J = 0
    ok = new_server(layer, request_bytes(branch="z9hG4bKi2", call_id="c2"), 10.0)
    layer.send_response(ok, make_response(ok.request, 200, to_tag="t"), 10.0)
    layer.datagrams_to_send()
    clock.run_until(20.0)
    assert clock.sent == []  # no 2xx retransmission over TCP
    layer.receive(request_bytes("ACK", branch="z9hG4bKa", call_id="c2", to_tag="t"), PEER, 20.0)
    assert only(layer.events(), AckReceived)


def test_reliable_non_invite_client_timer_k_is_zero() -> None:
    layer = TransactionLayer(reliable=True)
    txn, _ = start_client(layer, "OPTIONS")
    layer.receive(response_to(txn.request, 200), PEER, 0.1)
    assert txn.state is State.TERMINATED
    assert len(layer.events()) == 1


# --- parse failures -----------------------------------------------------------------------


def test_garbage_is_dropped_with_event() -> None:
    layer = TransactionLayer()
    layer.receive(b"\x00\x01 not sip at all", PEER, 0.0)
    ev = layer.events()
    assert len(ev) == 1 and isinstance(ev[0], MessageDropped)
    assert ev[0].status is None and ev[0].addr == PEER
    assert layer.datagrams_to_send() == []
    assert layer.stats.parse_failures == 1


def test_bad_version_answered_statelessly() -> None:
    layer = TransactionLayer()
    data = request_bytes("OPTIONS").replace(b"SIP/2.0\r\n", b"SIP/7.0\r\n", 1)
    layer.receive(data, PEER, 0.0)
    ev = layer.events()
    assert len(ev) == 1 and isinstance(ev[0], MessageDropped) and ev[0].status == 505
    out = layer.datagrams_to_send()
    assert first_lines(out) == ["SIP/2.0 505 Version Not Supported"] and out[0][1] == PEER
    assert layer.table_sizes()["server"] == 0


def test_broken_cseq_answered_400_without_leaking() -> None:
    layer = TransactionLayer()
    data = request_bytes("OPTIONS").replace(b"CSeq: 1 OPTIONS", b"CSeq: one OPTIONS")
    layer.receive(data, PEER, 0.0)
    ev = layer.events()
    assert len(ev) == 1 and isinstance(ev[0], MessageDropped) and ev[0].status == 400
    assert first_lines(layer.datagrams_to_send()) == ["SIP/2.0 400 Bad Request"]
    assert layer.table_sizes() == {
        "client": 0,
        "server": 0,
        "accepted": 0,
        "merge": 0,
        "timer_heap": 0,
    }


def test_missing_via_dropped_without_answer() -> None:
    layer = TransactionLayer()
    data = b"\r\n".join(
        line for line in request_bytes("OPTIONS").split(b"\r\n") if not line.startswith(b"Via")
    )
    layer.receive(data, PEER, 0.0)
    ev = layer.events()
    assert len(ev) == 1 and isinstance(ev[0], MessageDropped)
    # Without a Via there is nowhere to route a response (RFC 3261 §18.2.2).
    assert ev[0].status is None and layer.datagrams_to_send() == []


def test_broken_response_dropped() -> None:
    layer = TransactionLayer()
    layer.receive(b"SIP/2.0 200 OK\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n", PEER, 0.0)
    ev = layer.events()
    assert len(ev) == 1 and isinstance(ev[0], MessageDropped) and ev[0].status is None
    assert layer.datagrams_to_send() == []


def test_ack_with_parse_error_is_never_answered() -> None:
    layer = TransactionLayer()
    data = request_bytes("ACK", to_tag="x").replace(b"SIP/2.0\r\n", b"SIP/7.0\r\n", 1)
    layer.receive(data, PEER, 0.0)
    assert only(layer.events(), MessageDropped)
    assert layer.datagrams_to_send() == []


# --- scale, timers, tables --------------------------------------------------------------------


def test_no_leaks_over_10000_transactions() -> None:
    layer = TransactionLayer(trying_delay=None)
    now = 0.0
    acks = responses = 0
    for i in range(10_000):
        now += 0.0001  # one second in all: nothing expires inside the loop
        layer.receive(request_bytes(branch=f"z9hG4bKs{i}", call_id=f"c{i}"), PEER, now)
        (ev,) = layer.events()
        assert isinstance(ev, RequestReceived) and ev.transaction is not None
        txn = ev.transaction
        if i % 2:
            layer.send_response(txn, make_response(txn.request, 200, to_tag="t"), now)
            ack = request_bytes("ACK", branch=f"z9hG4bKa{i}", call_id=f"c{i}", to_tag="t")
        else:
            layer.send_response(txn, make_response(txn.request, 486, to_tag="t"), now)
            ack = request_bytes("ACK", branch=f"z9hG4bKs{i}", call_id=f"c{i}", to_tag="t")
        layer.receive(ack, PEER, now)
        client = layer.send_request(our_request("OPTIONS", branch=f"z9hG4bKc{i}"), PEER, now)
        layer.receive(response_to(client.request, 200), PEER, now)
        layer.handle_timer(now)
        events = layer.events()
        acks += len(only(events, AckReceived))
        responses += len(only(events, ResponseReceived))
    layer.datagrams_to_send()
    assert acks == 5_000 and responses == 10_000
    sizes = layer.table_sizes()
    assert sizes["server"] == 10_000 and sizes["client"] == 10_000
    assert sizes["accepted"] == 5_000  # ACKed 2xx keys are kept until timer L
    assert sizes["timer_heap"] < 4 * 20_000  # stale entries are compacted
    layer.handle_timer(now + 100.0)
    assert layer.events() == []  # every transaction ended quietly
    sizes = layer.table_sizes()
    assert sizes == {"client": 0, "server": 0, "accepted": 0, "merge": 0, "timer_heap": 0}
    assert layer.get_timer() is None


def test_get_timer_skips_cancelled_entries() -> None:
    layer = TransactionLayer()
    txn = new_server(layer, request_bytes())
    assert layer.get_timer() == pytest.approx(0.2)  # the 100 Trying timer
    layer.send_response(txn, make_response(txn.request, 200, to_tag="t1"), 0.1)
    assert layer.get_timer() == pytest.approx(0.6)  # first 2xx retransmission
    layer.receive(request_bytes("ACK", branch="z9hG4bKx", to_tag="t1"), PEER, 0.2)
    assert layer.get_timer() == pytest.approx(0.1 + 32.0)  # only timer L is left


def test_scaled_t1_changes_every_timer() -> None:
    layer = TransactionLayer(t1=0.05, t2=0.4, t4=0.5)
    txn, clock = start_client(layer)
    clock.run_until(10.0)
    assert [t for t, _ in clock.sent] == pytest.approx([0.05, 0.15, 0.35, 0.75, 1.55, 3.15])
    ev = layer.events()
    assert isinstance(ev[0], TransactionTimeout) and txn.state is State.TERMINATED


def test_state_tables_are_complete_and_drawable() -> None:
    for kind, table in TABLES.items():
        dot = to_dot(kind)
        assert dot.startswith(f'digraph "{kind.name}"')
        # Every machine starts from INIT and every reachable state has a way out.
        targets = {tr.to for tr in table.values()}
        sources = {state for state, _ in table}
        assert State.TERMINATED in targets
        assert targets - {State.TERMINATED} <= sources
        assert "TERMINATED" in dot


def test_2xx_to_invite_without_to_tag_is_refused() -> None:
    layer = TransactionLayer(trying_delay=None)
    txn = new_server(layer, request_bytes())
    with pytest.raises(LocalSipError):
        layer.send_response(txn, make_response(txn.request, 200), 0.0)
    assert txn.state is State.PROCEEDING
    assert layer.datagrams_to_send() == []


def test_rfc2543_fallback_matching() -> None:
    # No magic cookie: matched on Request-URI, From tag, Call-ID, CSeq and top Via.
    layer = TransactionLayer(trying_delay=None)
    old = request_bytes(branch="oldstyle1")
    txn = new_server(layer, old)
    layer.send_response(txn, make_response(txn.request, 486, to_tag="t"), 0.0)
    layer.datagrams_to_send()
    layer.receive(old, PEER, 0.1)  # retransmission
    assert layer.events() == []
    assert first_lines(layer.datagrams_to_send()) == ["SIP/2.0 486 Busy Here"]
    layer.receive(request_bytes("ACK", branch="oldstyle1", to_tag="t"), PEER, 0.2)
    assert txn.state is State.CONFIRMED
    other = request_bytes(branch="oldstyle1", cseq=2)  # a new request
    layer.receive(other, PEER, 0.3)
    (ev,) = layer.events()
    assert isinstance(ev, RequestReceived) and ev.transaction is not txn


def test_forked_2xx_responses_all_reach_the_tu() -> None:
    layer = TransactionLayer()
    txn, _ = start_client(layer)
    layer.receive(response_to(txn.request, 200, to_tag="fork-a"), PEER, 0.1)
    layer.receive(response_to(txn.request, 200, to_tag="fork-b"), PEER, 0.2)
    events = only(layer.events(), ResponseReceived)
    tags = [e.response.to.tag for e in events if isinstance(e, ResponseReceived)]
    assert tags == ["fork-a", "fork-b"]  # RFC 6026 §8.4: each gets its own ACK from the TU


def test_provisional_resent_on_invite_retransmission() -> None:
    layer = TransactionLayer(trying_delay=None)
    txn = new_server(layer, request_bytes())
    layer.send_response(txn, make_response(txn.request, 183, to_tag="t"), 0.0)
    layer.datagrams_to_send()
    layer.receive(request_bytes(), PEER, 0.5)
    assert first_lines(layer.datagrams_to_send()) == ["SIP/2.0 183 Session Progress"]
    assert layer.stats.retransmissions == 1


def test_heap_compaction_bounds_memory() -> None:
    layer = TransactionLayer()
    # Every INVITE arms the 100 Trying timer, answered at once: all those entries go stale.
    for i in range(20_000):
        layer.receive(request_bytes(branch=f"z9hG4bKh{i}", call_id=f"h{i}"), PEER, 0.0)
        (ev,) = layer.events()
        assert isinstance(ev, RequestReceived) and ev.transaction is not None
        layer.send_response(
            ev.transaction, make_response(ev.transaction.request, 486, to_tag="t"), 0.0
        )
        layer.terminate(ev.transaction)
    assert layer.table_sizes()["timer_heap"] <= 4096
    assert layer.get_timer() is None


def test_late_timer_handling_does_not_burst() -> None:
    # If the runtime wakes up very late, each timer fires once and re-arms from ``now``.
    layer = TransactionLayer()
    txn, _ = start_client(layer)
    layer.handle_timer(10.0)
    assert len(layer.datagrams_to_send()) == 1  # one retransmission, not four
    assert layer.get_timer() == pytest.approx(10.0 + 1.0)  # A doubled once
    layer.handle_timer(100.0)
    assert only(layer.events(), TransactionTimeout)
    assert txn.state is State.TERMINATED


# --- branch reuse and stream transports ------------------------------------------------------


def test_same_branch_other_call_is_a_new_transaction() -> None:
    """RFC 4475 reuses branches across unrelated requests: the Call-ID keeps them apart."""
    layer = TransactionLayer()
    layer.receive(request_bytes("OPTIONS", call_id="a@peer"), PEER, 0.0)
    layer.receive(request_bytes("OPTIONS", call_id="b@peer"), PEER, 0.1)
    events = layer.events()
    assert [type(e).__name__ for e in events] == ["RequestReceived", "RequestReceived"]
    assert [e.request.call_id for e in events] == ["a@peer", "b@peer"]  # type: ignore[union-attr]
    # ... while the same request again is still a retransmission.
    layer.receive(request_bytes("OPTIONS", call_id="a@peer"), PEER, 0.2)
    assert layer.events() == [] and layer.stats.requests_absorbed == 1


def test_reliable_layer_names_its_transport_and_never_retransmits() -> None:
    layer = TransactionLayer(reliable=True)
    assert layer.transport == "tcp"
    txn = layer.send_request(our_request("OPTIONS"), PEER, 0.0)
    assert txn.transport == "tcp"
    assert len(layer.datagrams_to_send()) == 1
    layer.handle_timer(10.0)  # Timer E would have fired many times over UDP
    assert layer.datagrams_to_send() == []
    layer.handle_timer(32.0)  # Timer F still gives up (RFC 3261 §17.1.2.2)
    assert [type(e).__name__ for e in layer.events()] == ["TransactionTimeout"]


def test_reliable_layer_needs_content_length() -> None:
    layer = TransactionLayer(reliable=True)
    data = request_bytes("OPTIONS").replace(b"Content-Length: 0\r\n", b"")
    layer.receive(data, PEER, 0.0)
    (event,) = layer.events()
    assert type(event).__name__ == "MessageDropped"


# --- the guard: a server transaction the TU never answers (issue 16) -------------------------


def test_unanswered_non_invite_server_transaction_is_reaped_after_64_t1() -> None:
    layer = TransactionLayer()
    clock = Clock(layer)
    txn = new_server(layer, request_bytes("SUBSCRIBE"))
    clock.run_until(64 * layer.t1 - 0.01)
    assert txn.state is State.TRYING and layer.table_sizes()["server"] == 1
    clock.run_until(64 * layer.t1)
    assert txn.state is State.TERMINATED
    assert layer.table_sizes() == {
        "client": 0,
        "server": 0,
        "accepted": 0,
        "merge": 0,
        "timer_heap": 0,
    }
    timeouts = only(layer.events(), TransactionTimeout)
    assert [(e.transaction, e.timer) for e in timeouts] == [(txn, "GUARD")]
    assert layer.stats.reaped == 1
    assert clock.sent == []  # its client gave up at Timer F: nothing to say


def test_unanswered_invite_server_transaction_is_answered_500_then_ends() -> None:
    layer = TransactionLayer()
    clock = Clock(layer)
    txn = new_server(layer, request_bytes("INVITE"))
    clock.run_until(64 * layer.t1)
    assert [line.split(b"\r\n", 1)[0] for _, line in clock.sent] == [
        b"SIP/2.0 100 Trying",
        b"SIP/2.0 500 Server Internal Error",
    ]
    assert txn.state is State.COMPLETED
    assert [e.timer for e in only(layer.events(), TransactionTimeout)] == ["GUARD"]
    layer.receive(request_bytes("ACK"), PEER, clock.now + 0.1)  # the caller's ACK for the 500
    clock.run_until(clock.now + 10)  # Timer I
    assert txn.state is State.TERMINATED and layer.table_sizes()["server"] == 0


def test_invite_server_with_a_provisional_from_the_tu_is_not_reaped() -> None:
    layer = TransactionLayer()
    clock = Clock(layer)
    txn = new_server(layer, request_bytes("INVITE"))
    layer.send_response(txn, make_response(txn.request, 180, to_tag="t1"), 1.0)
    clock.run_until(600.0)  # ringing for ten minutes is the TU's business
    assert txn.state is State.PROCEEDING and layer.events() == []
    layer.send_response(txn, make_response(txn.request, 486, to_tag="t1"), 600.0)
    assert txn.state is State.COMPLETED


def test_a_transaction_the_tu_has_taken_is_left_to_it() -> None:
    layer = TransactionLayer()
    clock = Clock(layer)
    txn = new_server(layer, request_bytes("INVITE"))
    txn.user_data = object()  # e.g. the call leg answering it
    clock.run_until(600.0)
    assert txn.state is State.PROCEEDING and layer.stats.reaped == 0

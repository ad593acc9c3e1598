"""What a finished server transaction keeps while its Timer J/L runs (up to 64*T1 = 32 s):
the response bytes and the keys that absorb retransmissions, not the parsed messages nor the
TU's object — at hundreds of calls per second those would be tens of thousands of objects
for the garbage collector to walk. Behaviour is unchanged: retransmissions are answered,
ACKs matched, and the request is still there when asked for."""

from __future__ import annotations

import gc

from flowpbx.sip.message import Request, make_response, parse_message
from flowpbx.sip.transaction import (
    AckReceived,
    CancelReceived,
    RequestReceived,
    ResponseReceived,
    ServerTransaction,
    State,
    TransactionLayer,
)
from tests.sip.test_transaction import PEER, request_bytes


def _new_server(layer: TransactionLayer, data: bytes) -> ServerTransaction:
    layer.receive(data, PEER, 0.0)
    (event,) = layer.events()
    assert isinstance(event, RequestReceived) and event.transaction is not None
    return event.transaction


def _holds(txn: object, obj: object) -> bool:
    return any(ref is obj for ref in gc.get_referents(txn))


class Tu:
    """Stands for a call leg: what `user_data` points at."""


def test_invite_server_lets_go_of_messages_and_tu_once_answered_and_acked() -> None:
    layer = TransactionLayer(trying_delay=None)
    txn = _new_server(layer, request_bytes())
    request = txn.request
    txn.user_data = Tu()
    ringing = make_response(request, 180, to_tag="t1")
    layer.send_response(txn, ringing, 0.0)
    assert txn.last_response is ringing and _holds(txn, request)  # still needed before final
    ok = make_response(request, 200, to_tag="t1")
    layer.send_response(txn, ok, 0.0)
    (sent,) = [d for d, _ in layer.datagrams_to_send() if d.startswith(b"SIP/2.0 200")]
    assert txn.state is State.ACCEPTED
    assert txn.last_response is None and not _holds(txn, request) and not _holds(txn, ok)
    assert txn.local_tag == "t1"
    assert isinstance(txn.user_data, Tu)  # an AckTimeout may still need the TU
    # A retransmitted INVITE is absorbed; Timer 2xx resends the same bytes.
    layer.receive(request_bytes(), PEER, 0.1)
    assert layer.events() == []
    layer.handle_timer(0.5)
    assert [d for d, _ in layer.datagrams_to_send()] == [sent]
    # The ACK matches by dialog identifiers, and then the TU's object is released.
    layer.receive(request_bytes("ACK", branch="z9hG4bKack", to_tag="t1"), PEER, 0.6)
    (event,) = layer.events()
    assert isinstance(event, AckReceived) and event.transaction is txn
    assert txn.user_data is None
    # Asked for again, the request is parsed anew from the datagram it came in.
    again = txn.request
    assert isinstance(again, Request) and again is not request
    assert again.method == "INVITE" and again.call_id == request.call_id
    assert again.cseq.seq == request.cseq.seq


def test_late_cancel_gets_the_to_tag_of_the_2xx_once_the_tu_is_gone() -> None:
    layer = TransactionLayer(trying_delay=None)
    txn = _new_server(layer, request_bytes())
    layer.send_response(txn, make_response(txn.request, 200, to_tag="t9"), 0.0)
    layer.receive(request_bytes("ACK", branch="z9hG4bKack", to_tag="t9"), PEER, 0.1)
    layer.events()
    layer.receive(request_bytes("CANCEL"), PEER, 0.2)
    (event,) = layer.events()
    assert isinstance(event, CancelReceived) and event.invite_transaction is txn
    assert txn.user_data is None and txn.local_tag == "t9"


def test_non_invite_server_keeps_only_the_response_bytes_while_timer_j_runs() -> None:
    layer = TransactionLayer(trying_delay=None)
    txn = _new_server(layer, request_bytes("BYE", to_tag="t1", cseq=2))
    request = txn.request
    layer.send_response(txn, make_response(request, 200), 0.0)
    (sent,) = [d for d, _ in layer.datagrams_to_send()]
    assert txn.state is State.COMPLETED
    assert txn.last_response is None and not _holds(txn, request)
    layer.receive(request_bytes("BYE", to_tag="t1", cseq=2), PEER, 1.0)  # retransmission
    assert layer.events() == []
    assert [d for d, _ in layer.datagrams_to_send()] == [sent]
    assert layer.stats.requests_absorbed == 1
    layer.handle_timer(32.1)  # Timer J
    assert txn.terminated and layer.table_sizes()["server"] == 0


def test_a_request_handed_over_parsed_is_kept() -> None:
    """Without the datagram (the TCP framing hands over parsed messages) nothing can be
    parsed anew, so the request stays."""
    layer = TransactionLayer(trying_delay=None)
    parsed = parse_message(request_bytes("OPTIONS"))
    layer.receive(parsed, PEER, 0.0)
    (event,) = layer.events()
    assert isinstance(event, RequestReceived) and event.transaction is not None
    txn = event.transaction
    assert isinstance(parsed, Request)
    layer.send_response(txn, make_response(parsed, 200), 0.0)
    assert txn.request is parsed


def test_client_transaction_keeps_no_final_response() -> None:
    layer = TransactionLayer(trying_delay=None)
    invite = parse_message(request_bytes(branch="z9hG4bKours"))
    assert isinstance(invite, Request)
    txn = layer.send_request(invite, PEER, 0.0)
    layer.datagrams_to_send()
    ringing = make_response(invite, 180, to_tag="t1")
    layer.receive(ringing.to_bytes(), PEER, 0.1)
    assert txn.last_response is not None and txn.last_response.status == 180
    layer.receive(make_response(invite, 200, to_tag="t1").to_bytes(), PEER, 0.2)
    events = layer.events()
    assert [e.response.status for e in events if isinstance(e, ResponseReceived)] == [180, 200]
    assert txn.state is State.ACCEPTED and txn.last_response is None
    # A retransmitted 2xx still reaches the TU (to be ACKed again, RFC 6026 §7.2).
    layer.receive(make_response(invite, 200, to_tag="t1").to_bytes(), PEER, 0.3)
    (again,) = layer.events()
    assert isinstance(again, ResponseReceived) and again.response.status == 200

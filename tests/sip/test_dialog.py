"""Dialog tests (RFC 3261 §12), with the ACK for 2xx helper."""

from __future__ import annotations

import pytest

from flowpbx.sip.dialog import (
    DIALOG_TRANSITIONS,
    Dialog,
    DialogState,
    make_ack_for_2xx,
    request_dialog_id,
    response_dialog_id,
)
from flowpbx.sip.errors import LocalSipError
from flowpbx.sip.message import Request, Response, make_response, parse_message
from flowpbx.sip.transaction import RequestReceived, TransactionLayer

INVITE = (
    b"INVITE sip:101@pbx.example SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.50:5060;branch=z9hG4bKp2\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.10:5070;branch=z9hG4bKuac\r\n"
    b"Record-Route: <sip:p2.example;lr>\r\n"
    b"Record-Route: <sip:p1.example;lr>\r\n"
    b"Max-Forwards: 69\r\n"
    b'From: "Alice" <sip:alice@example.com>;tag=alice-tag\r\n'
    b"To: <sip:101@pbx.example>\r\n"
    b"Call-ID: dlg-1@alice\r\n"
    b"CSeq: 314 INVITE\r\n"
    b"Contact: <sip:alice@192.0.2.10:5070;transport=udp>\r\n"
    b'Authorization: Digest username="alice", realm="pbx", nonce="n", uri="sip:101@pbx", '
    b'response="abc"\r\n'
    b"Content-Length: 0\r\n\r\n"
)


def invite() -> Request:
    req = parse_message(INVITE)
    assert isinstance(req, Request)
    return req


def in_dialog(method: str, cseq: int, contact: bytes | None = None) -> Request:
    """A request from Alice in the dialog the INVITE made (method, CSeq and Contact changed)."""
    data = INVITE.replace(b"INVITE sip:", method.encode() + b" sip:", 1)
    data = data.replace(b"CSeq: 314 INVITE", f"CSeq: {cseq} {method}".encode())
    if contact is not None:
        data = data.replace(b"<sip:alice@192.0.2.10:5070;transport=udp>", contact)
    req = parse_message(data)
    assert isinstance(req, Request) and req.method == method
    return req


def ok_for(req: Request, *, status: int = 200, to_tag: str = "bob-tag") -> Response:
    resp = make_response(
        req,
        status,
        to_tag=to_tag,
        # make_response copies the INVITE's Record-Route (p2, p1) as a UAS must (§12.1.1).
        headers=[("Contact", "<sip:bob@198.51.100.2:5062>")],
    )
    reparsed = parse_message(resp.to_bytes())
    assert isinstance(reparsed, Response)
    return reparsed


def test_as_uas_takes_route_set_in_order() -> None:
    d = Dialog.as_uas(invite(), local_tag="pbx-tag")
    assert d.call_id == "dlg-1@alice"
    assert d.local_tag == "pbx-tag" and d.remote_tag == "alice-tag"
    assert d.route_set == ["<sip:p2.example;lr>", "<sip:p1.example;lr>"]
    assert str(d.remote_target) == "sip:alice@192.0.2.10:5070;transport=udp"
    assert d.remote_seq == 314 and d.local_seq == 0
    assert d.local_uri.tag is None and d.remote_uri.tag is None
    assert str(d.remote_uri.uri) == "sip:alice@example.com"
    assert d.state is DialogState.CONFIRMED
    assert not d.secure
    assert d.id == ("dlg-1@alice", "pbx-tag", "alice-tag")


def test_as_uac_reverses_record_route_and_uses_contact() -> None:
    req = invite()
    d = Dialog.as_uac(req, ok_for(req))
    assert d.route_set == ["<sip:p1.example;lr>", "<sip:p2.example;lr>"]
    assert str(d.remote_target) == "sip:bob@198.51.100.2:5062"
    assert d.local_tag == "alice-tag" and d.remote_tag == "bob-tag"
    assert d.local_seq == 314 and d.remote_seq is None
    assert d.state is DialogState.CONFIRMED


def test_both_sides_agree_on_the_dialog_id() -> None:
    req = invite()
    resp = ok_for(req)
    uas = Dialog.as_uas(req, local_tag="bob-tag")
    uac = Dialog.as_uac(req, resp)
    assert uac.id == (uas.call_id, uas.remote_tag, uas.local_tag)
    assert response_dialog_id(resp) == uac.id
    bye = uac.create_request("BYE")
    assert request_dialog_id(bye) == uas.id
    assert request_dialog_id(req) is None  # no To tag yet


def test_create_request_loose_routing() -> None:
    req = invite()
    d = Dialog.as_uac(req, ok_for(req))
    bye = d.create_request("BYE", headers=[("Reason", "Q.850;cause=16")])
    assert bye.method == "BYE"
    assert bye.uri == "sip:bob@198.51.100.2:5062"
    assert bye.headers.get_all("Route") == ["<sip:p1.example;lr>", "<sip:p2.example;lr>"]
    assert bye.headers.get_all("Via") == []  # the runtime adds its own
    assert bye.from_.tag == "alice-tag" and bye.to.tag == "bob-tag"
    assert str(bye.from_.uri) == "sip:alice@example.com"
    assert bye.call_id == "dlg-1@alice"
    assert bye.cseq.seq == 315 and bye.cseq.method == "BYE"
    assert bye.headers.get("Max-Forwards") == "70"
    assert bye.headers.get("Reason") == "Q.850;cause=16"
    assert d.local_seq == 315
    info = d.create_request(
        "INFO", body=b"Signal=5\r\n", content_type="application/dtmf-relay", contact="<sip:x@y>"
    )
    assert info.cseq.seq == 316
    assert info.headers.get("Content-Type") == "application/dtmf-relay"
    assert info.headers.get("Contact") == "<sip:x@y>"
    # With a Via prepended it serialises and parses back.
    info.headers.prepend("Via", "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKnew")
    back = parse_message(info.to_bytes())
    assert isinstance(back, Request) and back.body == b"Signal=5\r\n"


def test_create_request_strict_routing() -> None:
    req = invite()
    d = Dialog.as_uac(req, ok_for(req))
    d.route_set = ["<sip:strict.example>", "<sip:p2.example;lr>"]
    bye = d.create_request("BYE")
    # RFC 3261 §12.2.1.1: first route becomes the Request-URI, remote target goes last.
    assert bye.uri == "sip:strict.example"
    assert bye.headers.get_all("Route") == [
        "<sip:p2.example;lr>",
        "<sip:bob@198.51.100.2:5062>",
    ]


def test_create_request_without_route_set() -> None:
    req = invite()
    d = Dialog.as_uac(req, ok_for(req))
    d.route_set = []
    bye = d.create_request("BYE")
    assert bye.uri == "sip:bob@198.51.100.2:5062"
    assert "Route" not in bye.headers


def test_create_ack_reuses_invite_cseq() -> None:
    req = invite()
    d = Dialog.as_uac(req, ok_for(req))
    d.create_request("INFO")
    ack = d.create_ack(314)
    assert ack.cseq.seq == 314 and ack.cseq.method == "ACK"
    assert d.local_seq == 315  # ACK did not consume a number


def test_make_ack_for_2xx_copies_credentials() -> None:
    req = invite()
    resp = ok_for(req)
    ack = make_ack_for_2xx(req, resp)
    assert ack.method == "ACK"
    assert ack.uri == "sip:bob@198.51.100.2:5062"
    assert ack.cseq.seq == 314 and ack.cseq.method == "ACK"
    assert ack.to.tag == "bob-tag" and ack.from_.tag == "alice-tag"
    assert ack.headers.get("Authorization") == req.headers.get("Authorization")
    assert ack.headers.get_all("Route") == ["<sip:p1.example;lr>", "<sip:p2.example;lr>"]
    d = Dialog.as_uac(req, resp)
    sdp_ack = make_ack_for_2xx(req, resp, d, body=b"v=0\r\n", content_type="application/sdp")
    assert sdp_ack.body == b"v=0\r\n" and sdp_ack.content_type == "application/sdp"


def test_ack_for_2xx_reaches_the_invite_server_transaction() -> None:
    # End to end through the transaction layer: UAS answers 200, UAC's ACK stops it.
    layer = TransactionLayer(trying_delay=None)
    peer = ("192.0.2.50", 5060)
    layer.receive(INVITE, peer, 0.0)
    (ev,) = layer.events()
    assert isinstance(ev, RequestReceived) and ev.transaction is not None
    txn = ev.transaction
    resp = make_response(
        txn.request, 200, to_tag="bob-tag", headers=[("Contact", "<sip:bob@198.51.100.2>")]
    )
    layer.send_response(txn, resp, 0.0)
    ack = make_ack_for_2xx(txn.request, ok_for(txn.request))
    ack.headers.prepend("Via", "SIP/2.0/UDP 192.0.2.50:5060;branch=z9hG4bKack")
    layer.receive(ack.to_bytes(), peer, 0.1)
    (got,) = layer.events()
    assert type(got).__name__ == "AckReceived"


def test_receive_request_cseq_checks() -> None:
    d = Dialog.as_uas(invite(), local_tag="pbx")
    assert d.receive_request(in_dialog("INFO", 313)) == 500  # RFC 3261 §12.2.2
    assert d.remote_seq == 314
    assert d.receive_request(in_dialog("INFO", 400)) is None
    assert d.remote_seq == 400
    # ACK and CANCEL carry the INVITE's (older) number and are not checked.
    assert d.receive_request(in_dialog("ACK", 314)) is None
    assert d.receive_request(in_dialog("CANCEL", 314)) is None
    assert d.remote_seq == 400


def test_target_refresh_by_reinvite() -> None:
    d = Dialog.as_uas(invite(), local_tag="pbx")
    reinvite = in_dialog("INVITE", 315, b"<sip:alice@203.0.113.9:6000>")
    assert d.receive_request(reinvite) is None
    assert str(d.remote_target) == "sip:alice@203.0.113.9:6000"
    # A non-refreshing method with a Contact leaves the target alone.
    d.receive_request(in_dialog("INFO", 316, b"<sip:alice@10.9.9.9:1>"))
    assert str(d.remote_target) == "sip:alice@203.0.113.9:6000"
    # UPDATE refreshes too (RFC 3311 §5.2).
    d.receive_request(in_dialog("UPDATE", 317, b"<sip:alice@10.1.1.1>"))
    assert str(d.remote_target) == "sip:alice@10.1.1.1"


def test_bye_terminates() -> None:
    d = Dialog.as_uas(invite(), local_tag="pbx")
    assert d.receive_request(in_dialog("BYE", 315)) is None
    assert d.state is DialogState.TERMINATED


def test_early_dialog_confirmed_by_2xx() -> None:
    req = invite()
    ringing = ok_for(req, status=180)
    d = Dialog.as_uac(req, ringing)
    assert d.state is DialogState.EARLY
    d.receive_response(req, ringing)
    assert d.state is DialogState.EARLY
    ok = make_response(req, 200, to_tag="bob-tag", headers=[("Contact", "<sip:bob@10.0.0.5>")])
    ok.headers.remove("Record-Route")  # the 2xx's own route set replaces the 18x's
    ok.headers.add("Record-Route", "<sip:only.example;lr>")
    d.receive_response(req, ok)
    assert d.state is DialogState.CONFIRMED
    assert d.route_set == ["<sip:only.example;lr>"]
    assert str(d.remote_target) == "sip:bob@10.0.0.5"


def test_early_dialog_ended_by_failure() -> None:
    req = invite()
    d = Dialog.as_uac(req, ok_for(req, status=183))
    d.receive_response(req, make_response(req, 486, to_tag="bob-tag"))
    assert d.state is DialogState.TERMINATED


def test_bye_response_terminates_and_table_is_data() -> None:
    req = invite()
    d = Dialog.as_uac(req, ok_for(req))
    bye = d.create_request("BYE")
    bye.headers.prepend("Via", "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKb")
    d.receive_response(bye, make_response(bye, 200))
    assert d.state is DialogState.TERMINATED
    assert all(isinstance(v, DialogState) for v in DIALOG_TRANSITIONS.values())


def test_missing_tags_or_contact_are_local_errors() -> None:
    req = invite()
    with pytest.raises(LocalSipError):
        Dialog.as_uac(req, make_response(req, 200))  # no To tag
    no_contact = parse_message(INVITE.replace(b"Contact: ", b"X-Contact: "))
    assert isinstance(no_contact, Request)
    with pytest.raises(LocalSipError):
        Dialog.as_uas(no_contact, local_tag="t")


def test_sips_request_uri_marks_dialog_secure() -> None:
    req = parse_message(INVITE.replace(b"INVITE sip:101", b"INVITE sips:101"))
    assert isinstance(req, Request)
    assert Dialog.as_uas(req, local_tag="t").secure

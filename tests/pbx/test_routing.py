"""Routing of a new INVITE (pbx/call/routing.py): a pure decision from the request, its
source and the configuration — no sockets, no runtime."""

from __future__ import annotations

from flowpbx.pbx.call.routing import (
    Inbound,
    Internal,
    Outbound,
    OwnVoicemail,
    Reject,
    Spy,
    UnknownNumber,
    route_from_extension,
    route_from_trunk,
)
from flowpbx.pbx.config_view import ConfigView
from flowpbx.sip.message import Request, parse_message
from flowpbx.store.records import (
    ExtensionRec,
    NumberRec,
    PublishedFlow,
    RuntimeConfig,
    TrunkRec,
)

TRUNK = TrunkRec(
    name="carrier", host="127.0.0.1", port=5070, country_code="371", national_prefix="0"
)
FLOW = PublishedFlow(flow_name="main", revision=3, document={})


def _config(*, outbound: bool = True) -> ConfigView:
    ext = {
        n: ExtensionRec(number=n, name=f"Ext {n}", ha1_md5="", ha1_sha256="", outbound=outbound)
        for n in ("101", "102")
    }
    return ConfigView(
        RuntimeConfig(
            extensions=ext,
            trunks=[TRUNK],
            numbers={
                "+37167000001": NumberRec(number="+37167000001", trunk="carrier", position=1),
                "+37167000002": NumberRec(number="+37167000002", trunk="carrier", position=2),
            },
            flows_by_did={"+37167000001": FLOW},
            audio={},
        )
    )


def _invite(user: str, *, from_user: str = "101", display: str = "") -> Request:
    name = f'"{display}" ' if display else ""
    data = (
        f"INVITE sip:{user}@pbx.example SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK-1\r\n"
        "Max-Forwards: 70\r\n"
        f"From: {name}<sip:{from_user}@pbx.example>;tag=a\r\n"
        f"To: <sip:{user}@pbx.example>\r\n"
        "Call-ID: route-1\r\n"
        "CSeq: 1 INVITE\r\n"
        "Contact: <sip:101@127.0.0.1:5062>\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()
    msg = parse_message(data)
    assert isinstance(msg, Request)
    return msg


def test_trunk_call_to_a_number_with_a_flow_runs_it() -> None:
    route = route_from_trunk(
        _invite("067000001", from_user="029999999", display="Ann"), TRUNK, _config()
    )
    assert route == Inbound(
        did="+37167000001", caller="+37129999999", caller_name="Ann", published=FLOW
    )


def test_trunk_call_to_another_number_is_unknown() -> None:
    route = route_from_trunk(_invite("067000009", from_user="029999999"), TRUNK, _config())
    assert route == UnknownNumber(caller="+37129999999", number="+37167000009")


def test_extension_dials_an_extension() -> None:
    assert route_from_extension(_invite("102"), "101", _config()) == Internal(target="102")


def test_extension_dials_a_spy_code() -> None:
    route = route_from_extension(_invite("5%23102"), "101", _config())
    assert isinstance(route, Spy)
    assert route.target == "102"


def test_extension_dials_its_own_mailbox() -> None:
    assert route_from_extension(_invite("*97"), "101", _config()) == OwnVoicemail()


def test_extension_dials_one_of_my_numbers() -> None:
    route = route_from_extension(_invite("+37167000001"), "101", _config())
    assert route == Inbound(
        did="+37167000001", caller="101", caller_name="Ext 101", published=FLOW, caller_ext="101"
    )


def test_extension_calls_out_with_the_second_caller_id() -> None:
    route = route_from_extension(_invite("+37129999999c2"), "101", _config())
    assert route == Outbound(number="+37129999999", presented="+37167000002", anonymous=False)


def test_extension_without_outbound_right_is_refused() -> None:
    route = route_from_extension(_invite("+37129999999"), "101", _config(outbound=False))
    assert route == Reject(status=403, reason="Outbound Calls Not Allowed")


def test_caller_id_out_of_the_list_is_refused() -> None:
    route = route_from_extension(_invite("+37129999999c9"), "101", _config())
    assert route == Reject(status=404, reason="Caller ID Not In List")

"""Pure pieces of the runtime: number normalisation, INFO digits, trunk recognition."""

from __future__ import annotations

import pytest

from flowpbx.pbx.call.dtmf_relay import parse_dtmf_relay
from flowpbx.pbx.config_view import ConfigView
from flowpbx.pbx.features.trunks import normalize_number
from flowpbx.store.records import RuntimeConfig, TrunkRec


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        ("+37167000001", "+37167000001"),
        ("0037167000001", "+37167000001"),
        ("37167000001", "+37167000001"),
        ("+371 670-00001", "+37167000001"),
        ("+37167000001;npdi", "+37167000001"),
        ("101", "101"),
    ],
)
def test_normalize_number(user: str, expected: str) -> None:
    assert normalize_number(user) == expected


@pytest.mark.parametrize(
    ("body", "digit"),
    [
        (b"Signal=5\r\nDuration=160\r\n", "5"),
        (b"Signal= *\r\nDuration=100", "*"),
        (b"signal=11\r\n", "#"),
        (b"Signal=Z\r\n", None),
        (b"", None),
    ],
)
def test_dtmf_relay_body(body: bytes, digit: str | None) -> None:
    assert parse_dtmf_relay(body) == digit


def test_trunk_recognised_by_source_address_only() -> None:
    config = RuntimeConfig(
        extensions={},
        trunks=[
            TrunkRec(name="a", host="127.0.0.1", port=5070),
            TrunkRec(name="b", host="127.0.0.2", port=5060),
        ],
        numbers={},
        flows_by_did={},
        audio={},
    )
    view = ConfigView(config)
    assert view.trunk_for(("127.0.0.1", 5070)).name == "a"  # type: ignore[union-attr]
    assert view.trunk_for(("127.0.0.2", 5060)).name == "b"  # type: ignore[union-attr]
    assert view.trunk_for(("127.0.0.2", 5999)) is None  # same host, another port: not the trunk
    assert view.trunk_for(("127.0.0.3", 5070)) is None


def test_received_and_rport_are_stamped_into_the_top_via() -> None:
    from flowpbx.pbx.runtime import stamp_received
    from flowpbx.sip.message import parse_message

    raw = (
        b"OPTIONS sip:pbx@10.0.0.1 SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bKa1;rport\r\n"
        b"Via: SIP/2.0/UDP 10.9.9.9;branch=z9hG4bKzz\r\n"
        b"From: <sip:101@pbx>;tag=1\r\nTo: <sip:pbx>\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\n"
        b"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
    request = parse_message(raw)
    stamp_received(request, ("203.0.113.7", 40123))  # type: ignore[arg-type]
    vias = request.headers.get_all("Via")
    assert len(vias) == 2
    assert "received=203.0.113.7" in vias[0] and "rport=40123" in vias[0]
    assert "branch=z9hG4bKa1" in vias[0]
    assert vias[1] == "SIP/2.0/UDP 10.9.9.9;branch=z9hG4bKzz"

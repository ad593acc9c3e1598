"""DID and caller normalisation per trunk (SPEC §2 My numbers): what a provider writes ->
E.164, from the Request-URI, the To, tel: URIs, +, 00 and the trunk's national format."""

from __future__ import annotations

import pytest

from flowpbx.pbx.features.trunks import inbound_numbers, to_e164
from flowpbx.sip.uri import SipUri
from flowpbx.store.records import TrunkRec

LV = {"country_code": "371", "national_prefix": "0"}


@pytest.mark.parametrize(
    ("text", "fmt", "expected"),
    [
        ("+37167000001", {}, "+37167000001"),
        ("0037167000001", {}, "+37167000001"),
        ("37167000001", {}, "+37167000001"),
        ("+371 670-00001", {}, "+37167000001"),
        ("+371.(670).00001", {}, "+37167000001"),
        ("%2B37167000001", {}, "+37167000001"),
        ("+37167000001;npdi", {}, "+37167000001"),
        ("067000001", LV, "+37167000001"),
        ("0 670-00001", LV, "+37167000001"),
        ("37167000001", LV, "+37167000001"),
        ("0037167000001", LV, "+37167000001"),
        ("+4930123456", LV, "+4930123456"),
        ("67000001", {"country_code": "371"}, "+37167000001"),
        ("0301234567", {"country_code": "49", "national_prefix": "0"}, "+49301234567"),
        ("101", LV, "101"),
        ("112", {}, "112"),
        ("s", LV, None),
        ("acme", {}, None),
        ("", {}, None),
        ("+", {}, None),
        ("12a45678", {}, None),
    ],
)
def test_to_e164(text: str, fmt: dict[str, str], expected: str | None) -> None:
    assert to_e164(text, **fmt) == expected


def _trunk(**kw: str) -> TrunkRec:
    return TrunkRec(name="provider", host="127.0.0.1", port=5070, **kw)  # type: ignore[arg-type]


def _numbers(trunk: TrunkRec, ruri: str, to: str, from_: str) -> tuple[str, str]:
    return inbound_numbers(trunk, SipUri.parse(ruri), SipUri.parse(to), SipUri.parse(from_))


def test_request_uri_number_wins() -> None:
    trunk = _trunk(**LV)
    got = _numbers(trunk, "sip:067000001@pbx", "sip:067000002@pbx", "sip:029000001@prov")
    assert got == ("+37167000001", "+37129000001")


def test_to_is_used_when_the_request_uri_is_not_a_number() -> None:
    trunk = _trunk(**LV)
    assert _numbers(trunk, "sip:s@pbx", "sip:067000002@pbx", "sip:+37129000001@prov")[0] == (
        "+37167000002"
    )
    assert _numbers(trunk, "sip:pbx.example", "tel:+371-6700-0002", "sip:x@prov") == (
        "+37167000002",
        "anonymous",
    )


def test_the_trunks_account_name_in_the_request_uri_means_look_at_to() -> None:
    trunk = _trunk(username="20151234", password="pw", **LV)
    got = _numbers(trunk, "sip:20151234@10.0.0.1:5060", "sip:067000003@prov", "sip:anonymous@x")
    assert got == ("+37167000003", "anonymous")


def test_tel_request_uri() -> None:
    trunk = _trunk()
    got = _numbers(trunk, "tel:+37167000001;phone-context=+371", "sip:x@y", "tel:0037129000001")
    assert got == ("+37167000001", "+37129000001")


def test_nothing_usable_gives_an_empty_did() -> None:
    assert _numbers(_trunk(), "sip:s@pbx", "sip:s@pbx", "sip:s@pbx") == ("", "anonymous")

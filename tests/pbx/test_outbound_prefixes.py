"""Outbound dial restrictions on every reading of the string sent to the trunk (issue 16):
national, international-access and 00 forms of a blocked number are blocked like its E.164
form; the trunk's number format decides what a national number means."""

from __future__ import annotations

import pytest

from flowpbx.pbx.features.trunks import outbound_allowed, outbound_readings
from flowpbx.pbx.security import DEFAULT_BLOCKED_PREFIXES
from flowpbx.store.records import TrunkRec

NANP = TrunkRec(name="us", host="192.0.2.1", country_code="1", national_prefix="1")
LV = TrunkRec(name="lv", host="192.0.2.2", country_code="371")
UK = TrunkRec(name="uk", host="192.0.2.3", country_code="44", national_prefix="0")
AU = TrunkRec(name="au", host="192.0.2.4", country_code="61", national_prefix="0")
BARE = TrunkRec(name="bare", host="192.0.2.5")  # no number format


@pytest.mark.parametrize("trunk", [NANP, BARE])
@pytest.mark.parametrize(
    "sent",
    [
        "+19005551234",
        "19005551234",  # national form with the NANP national prefix
        "01119005551234",  # NANP international access code
        "0019005551234",  # 00
        "%2B19005551234",  # percent-encoded +
        "+1 900 555 1234",
    ],
)
def test_every_form_of_a_premium_number_is_blocked(trunk: TrunkRec, sent: str) -> None:
    assert "+19005551234" in (outbound_readings(trunk, sent) or ())
    assert not outbound_allowed(trunk, sent, (), DEFAULT_BLOCKED_PREFIXES)


def test_national_ten_digit_form_on_a_nanp_trunk() -> None:
    assert outbound_readings(NANP, "9005551234") == {"+19005551234"}
    assert not outbound_allowed(NANP, "9005551234", (), DEFAULT_BLOCKED_PREFIXES)
    assert outbound_allowed(NANP, "2025550100", (), DEFAULT_BLOCKED_PREFIXES)
    assert outbound_allowed(NANP, "12025550100", (), DEFAULT_BLOCKED_PREFIXES)


@pytest.mark.parametrize(
    ("trunk", "sent", "blocked"),
    [
        (AU, "00118821300000", True),  # Australia's access code 0011
        (AU, "0298765432", False),  # a Sydney number
        (UK, "00881234567890", True),
        (UK, "01179001234", False),  # Bristol (0117), not 011 + 79...
        (LV, "0088213000000", True),
        (LV, "67000001", False),
        (BARE, "01188213000000", True),  # no format: 00 and 011 both count as access codes
    ],
)
def test_access_codes_follow_the_trunks_country(trunk: TrunkRec, sent: str, blocked: bool) -> None:
    assert outbound_allowed(trunk, sent, (), DEFAULT_BLOCKED_PREFIXES) is not blocked


def test_allowed_prefixes_must_hold_for_every_reading() -> None:
    allowed = ("+1",)
    assert outbound_allowed(NANP, "2025550100", allowed, ())
    # 011 44...: the provider calls the UK; "+1011..." as a national reading does not save it
    assert not outbound_allowed(NANP, "011442071234567", allowed, ())
    assert outbound_allowed(LV, "67000001", ("+371",), ())
    assert not outbound_allowed(LV, "004930123456", ("+371",), ())


@pytest.mark.parametrize("sent", ["", "s", "1900abc5551234", " 19005551234", "+"])
def test_what_is_not_a_number_is_refused(sent: str) -> None:
    assert outbound_readings(NANP, sent) is None or not outbound_readings(NANP, sent)
    assert not outbound_allowed(NANP, sent, (), ())

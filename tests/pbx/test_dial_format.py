"""`dial_format` per trunk (pbx/features/trunks.py `dial_string`): the number in the
Request-URI of a call out, whichever way it was dialled (+371…, 00371…, national)."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flowpbx.pbx.features.trunks import dial_string, outbound_readings, trunk_e164
from flowpbx.store.records import TrunkRec

LV = TrunkRec(name="lv", host="sip.example.net", country_code="371", national_prefix="0")
FR = TrunkRec(name="fr", host="sip.example.fr", country_code="33", national_prefix="0")
NO_PREFIX = TrunkRec(name="lv2", host="sip.example.net", country_code="371")


def _with(trunk: TrunkRec, form: str | None) -> TrunkRec:
    return dataclasses.replace(trunk, dial_format=form)


DIALLED = ["+37167000001", "0037167000001", "067000001", "+371 67 000 001"]


@pytest.mark.parametrize("dialled", DIALLED)
@pytest.mark.parametrize(
    ("form", "sent"),
    [("e164", "+37167000001"), ("national", "067000001"), ("international", "0037167000001")],
)
def test_every_dialled_form_goes_out_in_the_trunks_form(dialled: str, form: str, sent: str) -> None:
    assert dial_string(_with(LV, form), dialled) == sent


@pytest.mark.parametrize("dialled", [*DIALLED, "12345", "s", "112"])
def test_no_dial_format_sends_as_dialled(dialled: str) -> None:
    assert dial_string(LV, dialled) == dialled


@pytest.mark.parametrize("form", ["e164", "national", "international"])
@pytest.mark.parametrize("dialled", ["112", "1345", "alice", ""])
def test_short_codes_and_names_go_as_dialled(form: str, dialled: str) -> None:
    assert dial_string(_with(LV, form), dialled) == dialled


def test_national_writes_other_countries_internationally() -> None:
    assert dial_string(_with(LV, "national"), "+33142000000") == "0033142000000"
    assert dial_string(_with(FR, "national"), "+33142000000") == "0142000000"
    assert dial_string(_with(FR, "national"), "0142000000") == "0142000000"


def test_national_without_a_prefix_is_the_national_number() -> None:
    assert dial_string(_with(NO_PREFIX, "national"), "+37167000001") == "67000001"
    assert dial_string(_with(NO_PREFIX, "international"), "67000001") == "0037167000001"


_national = st.text(alphabet="0123456789", min_size=7, max_size=9).filter(
    lambda d: not d.startswith("0") and not d.startswith("371")
)


@given(national=_national, form=st.sampled_from(["e164", "national", "international"]))
def test_the_number_sent_means_the_number_dialled(national: str, form: str) -> None:
    """Whatever the form, the provider reads back the same E.164 number, and all three
    dialled forms of it are sent identically."""
    trunk = _with(LV, form)
    e164 = "+371" + national
    sent = {dial_string(trunk, d) for d in (e164, "00371" + national, "0" + national)}
    assert len(sent) == 1
    [one] = sent
    assert trunk_e164(trunk, one) == e164
    readings = outbound_readings(trunk, one)
    assert readings is not None and e164 in readings

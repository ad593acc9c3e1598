"""Refer-To values as phones send them for attended transfer (RFC 3515 §2.1, RFC 3891 §6.1),
and the sipfrag lines of the failures flowpbx reports (tests/sip/test_midcall.py has the
basics)."""

from __future__ import annotations

import pytest

from flowpbx.sip.errors import SipParseError
from flowpbx.sip.refer import Replaces, parse_refer_to, parse_sipfrag, sipfrag


def test_pjsip_style_refer_to_with_require_and_escaped_replaces() -> None:
    """PJSIP's xferReplaces: the remote URI with `?Require=replaces&Replaces=...`, the tags
    of the dialog to replace as seen by the transferer (to-tag: ours)."""
    value = (
        "<sip:103@127.0.0.1:5060?Require=replaces&Replaces="
        "a8f2c1%40127.0.0.1%3Bto-tag%3Dpbx-tag%3Bfrom-tag%3Dphone-tag>"
    )
    refer_to = parse_refer_to(value)
    assert refer_to.uri == "sip:103@127.0.0.1:5060"
    assert refer_to.replaces == Replaces(
        call_id="a8f2c1@127.0.0.1", to_tag="pbx-tag", from_tag="phone-tag"
    )


def test_refer_to_in_name_addr_with_params_and_lower_case_header() -> None:
    refer_to = parse_refer_to(
        '"Carol" <sip:103@pbx?replaces=x%3Bfrom-tag%3D2%3Bto-tag%3D1%3Bearly-only>;method=INVITE'
    )
    assert refer_to.uri == "sip:103@pbx"
    assert refer_to.replaces == Replaces(call_id="x", to_tag="1", from_tag="2", early_only=True)


@pytest.mark.parametrize(
    "value",
    [
        "<sip:103@pbx?Replaces=x%3Bto-tag%3D1>",  # no from-tag
        "<sip:103@pbx?Replaces=%3Bto-tag%3D1%3Bfrom-tag%3D2>",  # no Call-ID
        "<103>",  # not a URI
    ],
)
def test_unusable_refer_to_is_a_400(value: str) -> None:
    with pytest.raises(SipParseError) as info:
        parse_refer_to(value)
    assert info.value.status_hint == 400


@pytest.mark.parametrize("status", [403, 404, 480, 481, 603])
def test_failure_sipfrags(status: int) -> None:
    line = sipfrag(status)
    assert line.startswith(f"SIP/2.0 {status} ".encode()) and line.endswith(b"\r\n")
    assert len(line) > len(f"SIP/2.0 {status} \r\n")  # with its reason phrase
    assert parse_sipfrag(line) == status

"""Pure pieces of pbx/features/trunks.py: refresh and back-off timing, the granted expiry, and the
identity (From / P-Asserted-Identity / Privacy) of calls out through a trunk."""

from __future__ import annotations

import pytest

from flowpbx.pbx.features.mwi import build_mwi_notify
from flowpbx.pbx.features.trunks import _bound_expiry, backoff_delay, caller_identity, refresh_delay
from flowpbx.sip.message import Response, parse_message
from flowpbx.sip.mwi import MessageSummary, parse_summary
from flowpbx.store.records import TrunkRec


@pytest.mark.parametrize(
    ("expires", "delay"), [(4, 2.0), (1, 1.0), (120, 60.0), (600, 540.0), (3600, 3540.0)]
)
def test_refresh_before_expiry(expires: int, delay: float) -> None:
    assert refresh_delay(expires) == delay
    assert refresh_delay(expires) < expires or expires <= 1


def test_backoff_doubles_up_to_the_cap() -> None:
    delays = [backoff_delay(n, minimum=30, maximum=600) for n in range(1, 8)]
    assert delays == [30, 60, 120, 240, 480, 600, 600]


def _ok(*headers: str) -> Response:
    lines = [
        "SIP/2.0 200 OK",
        "Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKr1",
        "From: <sip:acme@prov>;tag=a",
        "To: <sip:acme@prov>;tag=b",
        "Call-ID: r1",
        "CSeq: 2 REGISTER",
        *headers,
        "Content-Length: 0",
        "",
        "",
    ]
    msg = parse_message("\r\n".join(lines).encode())
    assert isinstance(msg, Response)
    return msg


def test_granted_expiry_prefers_our_contact_param() -> None:
    both = _ok(
        "Contact: <sip:other@10.0.0.9>;expires=999, <sip:acme@10.0.0.1:5060>;expires=120",
        "Expires: 300",
    )
    assert _bound_expiry(both, "acme", 3600) == 120
    assert _bound_expiry(_ok("Expires: 300"), "acme", 3600) == 300
    assert _bound_expiry(_ok(), "acme", 3600) == 3600


def _trunk(**kw: object) -> TrunkRec:
    return TrunkRec(name="p", host="sip.prov.example", port=5060, **kw)  # type: ignore[arg-type]


def test_identity_plain_call() -> None:
    ident = caller_identity(_trunk(from_domain="acme.example"), number="+37167000001", name="Sales")
    assert ident.from_uri == "sip:+37167000001@acme.example"
    assert ident.from_name == "Sales"
    assert ident.headers == ()


def test_identity_trusted_trunk_gets_pai() -> None:
    ident = caller_identity(_trunk(trusted=True), number="+37167000001")
    assert ident.headers == (("P-Asserted-Identity", "<sip:+37167000001@sip.prov.example>"),)


def test_identity_anonymous_hides_the_number_from_untrusted_trunks() -> None:
    ident = caller_identity(_trunk(), number="+37167000001", anonymous=True)
    assert ident.from_uri == "sip:anonymous@anonymous.invalid"
    assert ident.from_name == "Anonymous"
    assert ident.headers == (("Privacy", "id"),)
    trusted = caller_identity(_trunk(trusted=True), number="+37167000001", anonymous=True)
    assert ("Privacy", "id") in trusted.headers
    assert ("P-Asserted-Identity", "<sip:+37167000001@sip.prov.example>") in trusted.headers


def test_mwi_notify_request() -> None:
    summary = MessageSummary(new=1, old=2, account="sip:101@pbx")
    req = build_mwi_notify(
        target_uri="sip:101@10.0.0.5:5062",
        from_uri="sip:101@pbx",
        contact="<sip:flowpbx@pbx>",
        summary=summary,
    )
    assert req.method == "NOTIFY" and req.uri == "sip:101@10.0.0.5:5062"
    assert req.headers.get("Event") == "message-summary"
    assert req.headers.get("Content-Type") == "application/simple-message-summary"
    assert parse_summary(req.body) == summary

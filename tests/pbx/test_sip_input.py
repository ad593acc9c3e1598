"""Hostile SIP input at the PBX's edge (issue 16): leading CRLFs before a request, numbers
the registrar, MWI and trunk code read, and requests whose handling raises."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import secrets
import socket
from typing import Any

import pytest

from flowpbx.pbx.features.mwi import MAX_SUBSCRIPTION_S, MwiService
from flowpbx.pbx.features.trunks import _bound_expiry, to_e164
from flowpbx.pbx.history import _storable
from flowpbx.pbx.security import AccessGuard, GuardConfig, Rate, request_method
from flowpbx.pbx.transport import SipEndpoint
from flowpbx.sip.errors import SipParseError
from flowpbx.sip.message import Request, Response, parse_message
from flowpbx.sip.transaction import RequestReceived
from flowpbx.store.records import CallRecord

HOSTILE = ["²", "\u0663\u0666\u0660\u0660", "inf", "nan", "1e999", "-1", "", "9" * 5000, "1_0"]


def _request(method: str, port: int = 5062, extra: str = "") -> bytes:
    return (
        f"{method} sip:101@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{secrets.token_hex(6)};rport\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:x@127.0.0.1>;tag={secrets.token_hex(4)}\r\n"
        "To: <sip:101@127.0.0.1>\r\n"
        f"Call-ID: {secrets.token_hex(8)}\r\n"
        f"CSeq: 1 {method}\r\n"
        f"{extra}"
        "Content-Length: 0\r\n\r\n"
    ).encode()


# -- leading CRLFs -------------------------------------------------------------------------------


def test_leading_crlfs_do_not_turn_a_request_into_a_response() -> None:
    for n in (1, 8, 16, 17, 100):
        assert request_method(b"\r\n" * n + _request("INVITE")) == b"INVITE"
        assert request_method(b"\n" * n + _request("OPTIONS")) == b"OPTIONS"
    assert request_method(b"\r\n" * 20 + b"SIP/2.0 200 OK\r\n") is None


def test_leading_crlfs_do_not_hide_options_from_the_known_policy_or_the_rate() -> None:
    guard = AccessGuard(GuardConfig(options_policy="known", rate_invite=Rate(per_s=1.0, burst=2.0)))
    addr = ("203.0.113.7", 5060)
    padded = b"\r\n" * 16
    assert not guard.admit(addr, padded + _request("OPTIONS"), 0.0)
    admitted = [guard.admit(addr, padded + _request("INVITE"), 0.0) for _ in range(10)]
    assert admitted.count(True) == 2  # the burst, then the rate limit holds


# -- numbers read by pbx/ --------------------------------------------------------------------------


def _response(extra: str) -> Response:
    resp = parse_message(
        (
            "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKr\r\n"
            "From: <sip:acme@h>;tag=1\r\nTo: <sip:acme@h>;tag=2\r\nCall-ID: r1\r\n"
            f"CSeq: 1 REGISTER\r\n{extra}Content-Length: 0\r\n\r\n"
        ).encode()
    )
    assert isinstance(resp, Response)
    return resp


@pytest.mark.parametrize("value", [v for v in HOSTILE if v != "9" * 5000])
def test_trunk_registration_expiry_ignores_hostile_numbers(value: str) -> None:
    contact = _response(f"Contact: <sip:acme@192.0.2.1>;expires={value}\r\n")
    header = _response(f"Expires: {value}\r\n")
    assert _bound_expiry(contact, "acme", 300) == 300
    assert _bound_expiry(header, "acme", 300) == 300


def test_trunk_registration_expiry_reads_ascii_and_clamps() -> None:
    assert _bound_expiry(_response("Contact: <sip:acme@h>;expires=120\r\n"), "acme", 300) == 120
    assert _bound_expiry(_response("Expires: 3600\r\n"), "acme", 300) == 3600
    huge = _bound_expiry(_response("Expires: " + "9" * 5000 + "\r\n"), "acme", 300)
    assert huge == 2**32 - 1


def test_numbers_from_a_provider_are_ascii_digits() -> None:
    assert to_e164("+\u0661\u0662\u0663\u0664\u0665\u0666\u0667") is None
    assert to_e164("+3716700\u00b2001") is None
    assert to_e164("+371-6700-0001") == "+37167000001"


@pytest.mark.parametrize("value", [*HOSTILE, "1800"])
def test_mwi_subscription_expires(value: str) -> None:
    req = parse_message(_request("SUBSCRIBE", extra=f"Expires: {value}\r\n"))
    assert isinstance(req, Request)
    expires = MwiService._expires(req)
    if value == "9" * 5000:
        assert expires == MAX_SUBSCRIPTION_S  # delta-seconds too large: clamped
    elif value == "1800":
        assert expires == 1800
    else:
        assert expires is None  # answered 400 Bad Expires


def test_call_history_rows_take_sip_text_that_is_not_utf8() -> None:
    # bytes that are not UTF-8 reach us as lone surrogates (surrogateescape)
    raw = b"\xff\xfe-call@x".decode("utf-8", "surrogateescape")
    rec = CallRecord(call_id=raw, started_at=dt.datetime.now(dt.UTC), caller=raw, did="+1")
    fixed = _storable(rec)
    assert fixed.call_id == "??-call@x" and fixed.caller == "??-call@x" and fixed.did == "+1"
    fixed.call_id.encode("utf-8")  # what the database needs
    plain = CallRecord(call_id="a@b", started_at=rec.started_at, caller_name="Zoë")
    assert _storable(plain) is plain


# -- a handler that raises -------------------------------------------------------------------------


class Exploding:
    """A transaction user whose request handling raises what it is told to."""

    def __init__(self) -> None:
        self.raise_: type[Exception] = ValueError
        self.seen = 0

    def __call__(self, event: Any) -> None:
        if isinstance(event, RequestReceived) and event.transaction is not None:
            self.seen += 1
            if self.raise_ is SipParseError:
                raise SipParseError("bad value", 400)
            raise self.raise_("invalid literal for int() with base 10: '²'")


async def _exchange(sock: socket.socket, ep: SipEndpoint, data: bytes) -> str:
    loop = asyncio.get_running_loop()
    sock.sendto(data, ("127.0.0.1", ep.port))
    while True:
        reply = await asyncio.wait_for(loop.sock_recv(sock, 65535), 5)
        line = reply.split(b"\r\n", 1)[0].decode()
        if not line.startswith("SIP/2.0 100"):
            return line


async def test_a_request_whose_handling_raises_is_answered_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tu = Exploding()
    ep = SipEndpoint(host="127.0.0.1", port=0, on_event=tu, tcp=False)
    await ep.start()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    port = sock.getsockname()[1]
    try:
        with caplog.at_level(logging.ERROR, logger="flowpbx.sip"):
            for _ in range(50):
                assert await _exchange(sock, ep, _request("INVITE", port)) == (
                    "SIP/2.0 500 Server Internal Error"
                )
            tu.raise_ = SipParseError
            assert await _exchange(sock, ep, _request("REGISTER", port)) == (
                "SIP/2.0 400 Bad Request"
            )
        assert tu.seen == 51
        tracebacks = [r for r in caplog.records if r.exc_info is not None]
        assert len(tracebacks) == 2  # one per place in the code, not one per packet
        assert len(caplog.records) == 2
        assert ep.failures.count == 51
        # every transaction got its final answer: only Timer G/H/J remain, no guard needed
        sizes = ep.layer.table_sizes()
        assert sizes["server"] == 51
        assert ep.layer.stats.reaped == 0
    finally:
        sock.close()
        ep.close()
        await ep.wait_closed()

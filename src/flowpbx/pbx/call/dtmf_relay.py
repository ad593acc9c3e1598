"""Keys sent as SIP INFO (`application/dtmf-relay`, the form most phones use when told to
send DTMF "via SIP INFO"). `Leg.on_request` (pbx/call/leg.py) answers the INFO and hands the
digit to the leg's owner like an RFC 4733 one."""

from __future__ import annotations


def parse_dtmf_relay(body: bytes) -> str | None:
    """Digit of an INFO `application/dtmf-relay` body (`Signal=5\\r\\nDuration=160`)."""
    for line in body.decode("utf-8", "replace").splitlines():
        key, _, value = line.partition("=")
        if key.strip().lower() == "signal":
            digit = value.strip().upper()
            if digit in {"10", "11"}:
                digit = "*" if digit == "10" else "#"
            if len(digit) == 1 and digit in "0123456789*#ABCD":
                return digit
    return None

"""Session timers (RFC 4028), sans-I/O: parse and format Session-Expires / Min-SE, decide the
interval and refresher as a UAS, and say when a session must be refreshed or torn down.

Only the UAS role of flowpbx towards a peer that asks for timers is covered here: the peer
proposes ``Session-Expires`` in an INVITE/UPDATE, we accept (possibly raising it to our
Min-SE, or answering 422 when it is below), and the refresher — the peer unless it asked us —
sends a refresh before half the interval is over. Without a refresh, the session is ended
before it expires (RFC 4028 §10: at ``interval - min(32, interval/3)`` seconds).

Errors: ``SipParseError(status_hint=400)`` for malformed header values.
"""

from __future__ import annotations

from dataclasses import dataclass

from flowpbx.sip.errors import SipParseError
from flowpbx.sip.message import Request
from flowpbx.sip.numeric import parse_uint

__all__ = [
    "MIN_SE",
    "SessionExpires",
    "TimerDecision",
    "expiry_after",
    "negotiate_uas",
    "parse_min_se",
    "parse_session_expires",
    "refresh_after",
]

MIN_SE = 90  # RFC 4028 §4: the smallest interval anyone may ask for


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionExpires:
    """A ``Session-Expires`` value (RFC 4028 §4): seconds and who refreshes."""

    interval: int
    refresher: str | None = None  # "uac", "uas" or not said

    def __str__(self) -> str:
        if self.refresher is None:
            return str(self.interval)
        return f"{self.interval};refresher={self.refresher}"


def _delta_seconds(text: str, what: str) -> int:
    value = parse_uint(text.strip(" \t"))
    if value is None:
        raise SipParseError(f"bad {what} value", 400)
    return value


def parse_session_expires(value: str) -> SessionExpires:
    """``Session-Expires: 1800;refresher=uac`` (RFC 4028 §4, compact form ``x``)."""
    first, *params = value.split(";")
    interval = _delta_seconds(first, "Session-Expires")
    refresher: str | None = None
    for param in params:
        name, _, val = param.partition("=")
        if name.strip().lower() == "refresher":
            refresher = val.strip().lower()
            if refresher not in ("uac", "uas"):
                raise SipParseError("refresher must be uac or uas", 400)
    return SessionExpires(interval=interval, refresher=refresher)


def parse_min_se(value: str) -> int:
    """``Min-SE: 90`` (RFC 4028 §5); parameters are ignored."""
    return _delta_seconds(value.split(";", 1)[0], "Min-SE")


@dataclass(frozen=True, slots=True, kw_only=True)
class TimerDecision:
    """What the UAS answers: the interval, who refreshes, and the headers of the 2xx.

    ``reject_min_se`` is set instead when the request must be answered 422 with a ``Min-SE``
    of that many seconds (RFC 4028 §8.1)."""

    interval: int = 0
    refresher: str = "uac"
    reject_min_se: int | None = None

    @property
    def we_refresh(self) -> bool:
        """The refresher is us (we are the UAS of the request that set the timer)."""
        return self.refresher == "uas"

    def response_headers(self) -> list[tuple[str, str]]:
        """Headers of the 2xx (RFC 4028 §9): the chosen Session-Expires, and Require: timer
        so the peer knows it is in charge when it refreshes."""
        return [
            ("Session-Expires", f"{self.interval};refresher={self.refresher}"),
            ("Require", "timer"),
        ]


def _supports_timer(request: Request) -> bool:
    for name in ("Supported", "k", "Require"):
        for value in request.headers.get_all(name) if name in request.headers else []:
            if any(t.strip().lower() == "timer" for t in value.split(",")):
                return True
    return False


def negotiate_uas(request: Request, *, min_se: int = MIN_SE) -> TimerDecision | None:
    """The UAS's decision for an INVITE/UPDATE (RFC 4028 §9), or None when the request did
    not ask for a session timer. Raises ``SipParseError`` for a malformed header."""
    raw = request.headers.get("Session-Expires") or request.headers.get("x")
    if raw is None:
        return None
    proposed = parse_session_expires(raw)
    floor = min_se
    if "Min-SE" in request.headers:
        floor = max(floor, parse_min_se(request.headers.get("Min-SE") or "0"))
    if proposed.interval < min_se:
        return TimerDecision(reject_min_se=floor)
    refresher = proposed.refresher
    if refresher is None:
        # RFC 4028 §9: the UAS picks; the UAC refreshes when it supports timers.
        refresher = "uac" if _supports_timer(request) else "uas"
    return TimerDecision(interval=proposed.interval, refresher=refresher)


def refresh_after(interval: int) -> float:
    """When the refresher sends its refresh: half the interval (RFC 4028 §10)."""
    return interval / 2


def expiry_after(interval: int) -> float:
    """When the other side gives up waiting for a refresh and sends BYE (RFC 4028 §10)."""
    return interval - min(32.0, interval / 3)

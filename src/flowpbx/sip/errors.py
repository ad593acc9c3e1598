"""Exceptions of the SIP core: whose fault it is, and what to answer.

    SipError                 base of everything the SIP core raises on purpose
     +-- SipParseError       the peer sent something we cannot accept (remote protocol error);
     |                       ``status_hint`` is the status a UAS should answer (400, 416, 420,
     |                       505, ...) or None when the message must be dropped silently
     |                       (e.g. any broken response, RFC 3261 §18.1.2)
     |   +-- message.RequestParseError
     |                       a broken request; ``request`` holds its identifiable part so
     |                       that ``make_response(err.request, err.status_hint)`` can answer it
     +-- LocalSipError       we (or our caller) tried to build something invalid

SDP and digest errors live beside their modules (``sdp.SdpError`` derives from SipError).
"""

from __future__ import annotations

__all__ = ["LocalSipError", "SipError", "SipParseError"]


class SipError(Exception):
    """Base class of the SIP core's own errors."""


class SipParseError(SipError):
    """A remote protocol error: the bytes or a header value from the peer are unacceptable."""

    status_hint: int | None

    def __init__(self, message: str, status_hint: int | None = 400) -> None:
        super().__init__(message)
        self.status_hint = status_hint

    @property
    def reason(self) -> str:
        """The human explanation (also fine for a Warning header or a log line)."""
        return str(self.args[0]) if self.args else ""


class LocalSipError(SipError):
    """We tried to build an invalid message or header value (a bug on our side)."""

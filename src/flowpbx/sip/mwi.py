"""Message waiting indication (RFC 3842): the ``application/simple-message-summary`` body of
a ``message-summary`` NOTIFY, sans-I/O. The runtime sends it to phones that subscribed or are
configured for a mailbox; the voicemail feature fills in the counts.

Errors: ``SipParseError(status_hint=400)`` when a body cannot be read.
"""

from __future__ import annotations

from dataclasses import dataclass

from flowpbx.sip.errors import SipParseError
from flowpbx.sip.numeric import parse_uint

__all__ = ["CONTENT_TYPE", "EVENT", "MessageSummary", "notify_headers", "parse_summary"]

CONTENT_TYPE = "application/simple-message-summary"
EVENT = "message-summary"


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageSummary:
    """Voice messages of one mailbox (RFC 3842 §5.2): new and old, urgent ones among them."""

    new: int
    old: int = 0
    urgent_new: int = 0
    urgent_old: int = 0
    account: str | None = None  # the mailbox URI, e.g. sip:*97@pbx

    @property
    def waiting(self) -> bool:
        return self.new > 0

    def to_bytes(self) -> bytes:
        lines = [f"Messages-Waiting: {'yes' if self.waiting else 'no'}"]
        if self.account is not None:
            lines.append(f"Message-Account: {self.account}")
        lines.append(f"Voice-Message: {self.new}/{self.old} ({self.urgent_new}/{self.urgent_old})")
        return ("\r\n".join(lines) + "\r\n").encode()


def parse_summary(body: bytes) -> MessageSummary:
    """Read a message-summary body (the Voice-Message line; other classes are ignored)."""
    fields: dict[str, str] = {}
    for line in body.decode("utf-8", "replace").splitlines():
        name, colon, value = line.partition(":")
        if colon:
            fields[name.strip().lower()] = value.strip()
    waiting = fields.get("messages-waiting", "").lower()
    if waiting not in ("yes", "no"):
        raise SipParseError("message-summary without Messages-Waiting", 400)
    new = old = urgent_new = urgent_old = 0
    voice = fields.get("voice-message")
    if voice is not None:
        counts, _, urgent = voice.partition("(")
        new_s, _, old_s = counts.strip().partition("/")
        un, _, uo = urgent.rstrip(") ").partition("/") if urgent else ("0", "", "0")
        numbers = [parse_uint(v.strip()) for v in (new_s, old_s, un, uo)]
        if None in numbers:
            raise SipParseError("bad Voice-Message line", 400)
        new, old, urgent_new, urgent_old = (n or 0 for n in numbers)
    return MessageSummary(
        new=new,
        old=old,
        urgent_new=urgent_new,
        urgent_old=urgent_old,
        account=fields.get("message-account"),
    )


def notify_headers(*, subscription_state: str = "active") -> list[tuple[str, str]]:
    """Event and Subscription-State of a message-summary NOTIFY (RFC 3842 §4, RFC 6665)."""
    return [("Event", EVENT), ("Subscription-State", subscription_state)]

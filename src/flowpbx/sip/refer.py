"""REFER (RFC 3515), its NOTIFY progress in ``message/sipfrag`` (RFC 3420), and the Replaces
header (RFC 3891) — sans-I/O parsing and building, no call logic.

A transfer arrives as a REFER whose ``Refer-To`` names the target; an attended transfer puts
a ``Replaces`` header (escaped) into that URI, naming the dialog the target must replace.
The REFER recipient answers 202 and reports the progress of its new call with NOTIFYs whose
body is the status line of that call (``SIP/2.0 180 Ringing``), the last one with
``Subscription-State: terminated``.

Errors: ``SipParseError(status_hint=400)`` for malformed values.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, unquote

from flowpbx.sip.errors import SipParseError
from flowpbx.sip.message import REASON_PHRASES
from flowpbx.sip.numeric import parse_uint

__all__ = [
    "ReferTo",
    "Replaces",
    "build_refer_to",
    "notify_headers",
    "parse_refer_to",
    "parse_replaces",
    "parse_sipfrag",
    "sipfrag",
]

SIPFRAG_TYPE = "message/sipfrag;version=2.0"


@dataclass(frozen=True, slots=True, kw_only=True)
class Replaces:
    """``Replaces: call-id;to-tag=..;from-tag=..[;early-only]`` (RFC 3891 §6.1).

    The tags are as seen by the *sender* of the header's dialog: ``to_tag`` is the tag of the
    party that receives the replacing INVITE, ``from_tag`` the other party's."""

    call_id: str
    to_tag: str
    from_tag: str
    early_only: bool = False

    def __str__(self) -> str:
        text = f"{self.call_id};to-tag={self.to_tag};from-tag={self.from_tag}"
        return text + (";early-only" if self.early_only else "")


def parse_replaces(value: str) -> Replaces:
    call_id, *params = [p.strip() for p in value.split(";")]
    if not call_id:
        raise SipParseError("Replaces without a Call-ID", 400)
    tags: dict[str, str] = {}
    early_only = False
    for param in params:
        name, _, val = param.partition("=")
        name = name.strip().lower()
        if name == "early-only":
            early_only = True
        elif name in ("to-tag", "from-tag"):
            tags[name] = val.strip()
    if not tags.get("to-tag") or not tags.get("from-tag"):
        raise SipParseError("Replaces needs to-tag and from-tag", 400)
    return Replaces(
        call_id=call_id, to_tag=tags["to-tag"], from_tag=tags["from-tag"], early_only=early_only
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class ReferTo:
    """A parsed ``Refer-To`` (RFC 3515 §2.1): the target URI without its header part, and
    the Replaces carried in it (attended transfer), if any."""

    uri: str
    replaces: Replaces | None = None


def parse_refer_to(value: str) -> ReferTo:
    """``Refer-To: <sip:bob@example.com?Replaces=abc%40h%3Bto-tag%3D1%3Bfrom-tag%3D2>``
    (compact form ``r``). Raises ``SipParseError`` when there is no usable URI."""
    text = value.strip()
    if "<" in text:
        start = text.index("<") + 1
        end = text.find(">", start)
        if end < 0:
            raise SipParseError("unterminated <> in Refer-To", 400)
        uri = text[start:end].strip()
    else:
        uri = text.split(";", 1)[0].strip()
    if ":" not in uri:
        raise SipParseError("Refer-To without a URI", 400)
    replaces: Replaces | None = None
    base, _, header_part = uri.partition("?")
    if header_part:
        for item in header_part.split("&"):
            name, _, val = item.partition("=")
            if name.strip().lower() == "replaces":
                replaces = parse_replaces(unquote(val))
    return ReferTo(uri=base, replaces=replaces)


def build_refer_to(uri: str, replaces: Replaces | None = None) -> str:
    """A ``Refer-To`` value; a Replaces is escaped into the URI's header part."""
    if replaces is None:
        return f"<{uri}>"
    return f"<{uri}?Replaces={quote(str(replaces), safe='')}>"


def sipfrag(status: int, reason: str | None = None) -> bytes:
    """The body of a REFER progress NOTIFY: one status line (RFC 3515 §2.4.5)."""
    phrase = reason if reason is not None else REASON_PHRASES.get(status, "")
    return f"SIP/2.0 {status} {phrase}\r\n".encode()


def parse_sipfrag(body: bytes) -> int | None:
    """The status code of a sipfrag body, or None when it is not a status line."""
    line = body.split(b"\n", 1)[0].strip()
    parts = line.split(b" ", 2)
    if len(parts) >= 2 and parts[0] == b"SIP/2.0" and len(parts[1]) == 3:
        return parse_uint(parts[1].decode("ascii", "replace"), 3)
    return None


def notify_headers(status: int, *, expires: int = 60) -> list[tuple[str, str]]:
    """Headers of a REFER progress NOTIFY (RFC 3515 §2.4.4-2.4.7): the subscription ends
    with a final status."""
    state = "terminated;reason=noresource" if status >= 200 else f"active;expires={expires}"
    return [
        ("Event", "refer"),
        ("Subscription-State", state),
        ("Content-Type", SIPFRAG_TYPE),
    ]

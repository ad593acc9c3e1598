"""Reliable provisional responses (RFC 3262), UAC side, sans-I/O: recognise a reliable 1xx,
build the RAck of its PRACK, and drop retransmissions and out-of-order ones.

Errors: ``SipParseError(status_hint=400)`` for a malformed RSeq.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flowpbx.sip.errors import SipParseError
from flowpbx.sip.message import Response
from flowpbx.sip.numeric import parse_uint

__all__ = ["PrackState", "is_reliable", "rseq_of"]


def _has_tag(response: Response, header: str, tag: str) -> bool:
    if header not in response.headers:
        return False
    return any(
        t.strip().lower() == tag for v in response.headers.get_all(header) for t in v.split(",")
    )


def is_reliable(response: Response) -> bool:
    """A 101-199 sent reliably: ``Require: 100rel`` and an RSeq (RFC 3262 §3)."""
    return (
        100 < response.status < 200
        and _has_tag(response, "Require", "100rel")
        and "RSeq" in response.headers
    )


def rseq_of(response: Response) -> int:
    value = parse_uint((response.headers.get("RSeq") or "").strip(" \t"))
    if value is None:
        raise SipParseError("bad RSeq", 400)
    return value


@dataclass(slots=True)
class PrackState:
    """Per INVITE: the RSeq of the last reliable 1xx acknowledged (RFC 3262 §4)."""

    last_rseq: dict[str, int] = field(default_factory=dict)  # per To tag (forked dialogs)

    def rack_for(self, response: Response) -> str | None:
        """The RAck value for a PRACK, or None when the 1xx is a retransmission or out of
        order (RFC 3262 §4: only the next RSeq in sequence is acknowledged)."""
        rseq = rseq_of(response)
        tag = response.to.tag or ""
        last = self.last_rseq.get(tag)
        if last is not None and rseq != last + 1:
            return None
        self.last_rseq[tag] = rseq
        cseq = response.cseq
        return f"{rseq} {cseq.seq} {cseq.method}"

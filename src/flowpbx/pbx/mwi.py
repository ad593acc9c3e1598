"""Message waiting indication to phones (RFC 3842): an unsolicited ``message-summary``
NOTIFY to every registered phone of an extension (the "configured phones" case of RFC 3842
§3). The voicemail feature calls `notify_extension` with real counts when a message is left
or heard; the body is built by ``sip.mwi``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flowpbx.sip.message import Headers, Request, new_call_id, new_tag
from flowpbx.sip.mwi import CONTENT_TYPE, MessageSummary, notify_headers
from flowpbx.sip.transaction import ClientTransaction

if TYPE_CHECKING:
    from flowpbx.pbx.runtime import Runtime

Addr = tuple[str, int]


def build_mwi_notify(
    *, target_uri: str, from_uri: str, contact: str, summary: MessageSummary
) -> Request:
    """An out-of-dialog NOTIFY carrying ``summary`` (no Via yet: the endpoint adds it)."""
    h = Headers()
    h.add("Max-Forwards", "70")
    h.add("From", f"<{from_uri}>;tag={new_tag()}")
    h.add("To", f"<{target_uri}>")
    h.add("Call-ID", new_call_id())
    h.add("CSeq", "1 NOTIFY")
    h.add("Contact", contact)
    for name, value in notify_headers():
        h.add(name, value)
    h.add("Content-Type", CONTENT_TYPE)
    return Request(method="NOTIFY", uri=target_uri, headers=h, body=summary.to_bytes())


def send_mwi(
    rt: Runtime, *, target_uri: str, addr: Addr, summary: MessageSummary
) -> ClientTransaction:
    """Send one message-summary NOTIFY to ``addr`` (a phone's registration source)."""
    account = summary.account or f"sip:{target_uri.split(':', 1)[-1].split('@', 1)[0]}@{rt.domain}"
    if summary.account is None:
        summary = MessageSummary(
            new=summary.new,
            old=summary.old,
            urgent_new=summary.urgent_new,
            urgent_old=summary.urgent_old,
            account=account,
        )
    request = build_mwi_notify(
        target_uri=target_uri,
        from_uri=account,
        contact=rt.contact,
        summary=summary,
    )
    rt.sip.add_via(request)
    return rt.sip.send_request(request, addr, None)


def notify_extension(rt: Runtime, extension: str, summary: MessageSummary) -> int:
    """NOTIFY every registered phone of ``extension``; returns how many were sent."""
    sent = 0
    for binding in rt.registrar.bindings(extension):
        uri = binding.contact.strip().strip("<>").split(">", 1)[0]
        send_mwi(rt, target_uri=uri, addr=binding.source, summary=summary)
        sent += 1
    return sent


__all__ = ["build_mwi_notify", "notify_extension", "send_mwi"]

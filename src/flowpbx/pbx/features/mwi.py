"""Message waiting indication to phones (RFC 3842): ``message-summary`` NOTIFYs to phones
that SUBSCRIBEd (`MwiService`, RFC 6665 dialogs we are the notifier of) and, unsolicited, to
every registered phone of an extension that did not (the "configured phones" of RFC 3842
§3). The voicemail feature sets ``MwiService.summary_for`` to the real counts and calls
``MwiService.notify(extension)`` when a message is left or heard; bodies come from
``sip.mwi``.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from typing import Protocol

from flowpbx.pbx.ports import SipSender
from flowpbx.pbx.registrar import Authenticator, Registrar
from flowpbx.sip.dialog import Dialog
from flowpbx.sip.errors import LocalSipError, SipParseError
from flowpbx.sip.headers import Headers
from flowpbx.sip.message import Request, Response, make_response, new_call_id, new_tag
from flowpbx.sip.mwi import CONTENT_TYPE, EVENT, MessageSummary, notify_headers
from flowpbx.sip.numeric import parse_delta
from flowpbx.sip.transaction import ClientTransaction, ServerTransaction

Addr = tuple[str, int]


class MwiHost(Protocol):
    """What MWI needs of the runtime: SIP sending, our Contact and domain, the registrar's
    bindings (where an extension's phones are) and its digest checks, the loop's clock."""

    @property
    def sip(self) -> SipSender: ...
    @property
    def contact(self) -> str: ...
    @property
    def domain(self) -> str: ...
    @property
    def registrar(self) -> Registrar: ...
    @property
    def auth(self) -> Authenticator: ...
    @property
    def loop(self) -> asyncio.AbstractEventLoop: ...


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
    rt: MwiHost, *, target_uri: str, addr: Addr, summary: MessageSummary
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


def notify_extension(rt: MwiHost, extension: str, summary: MessageSummary) -> int:
    """NOTIFY every registered phone of ``extension``; returns how many were sent."""
    sent = 0
    for binding in rt.registrar.bindings(extension):
        uri = binding.contact.strip().strip("<>").split(">", 1)[0]
        send_mwi(rt, target_uri=uri, addr=binding.source, summary=summary)
        sent += 1
    return sent


# -- subscriptions (RFC 6665 with RFC 3842's message-summary package) ----------------------------

MAX_SUBSCRIPTION_S = 3600
MAX_SUBSCRIPTIONS = 10_000


class MwiSubscription:
    """One phone's subscription to its extension's mailbox state: a dialog we are the
    notifier of, ending at ``expires_at`` unless refreshed."""

    def __init__(
        self, *, dialog: Dialog, extension: str, addr: Addr, transport: str | None
    ) -> None:
        self.dialog = dialog
        self.extension = extension
        self.addr = addr
        self.transport = transport
        self.handle: asyncio.TimerHandle | None = None


class MwiService:
    """Accepts ``SUBSCRIBE`` (Event: message-summary) from authenticated extensions and
    NOTIFYs them; `notify` also reaches registered phones that never subscribed.

    ``summary_for(extension)`` gives the current counts; the voicemail feature replaces the
    default (no messages) with the real mailbox state.
    """

    def __init__(self, rt: MwiHost) -> None:
        self.rt = rt
        self.summary_for: Callable[[str], MessageSummary] = lambda ext: MessageSummary(new=0)
        self._subs: dict[tuple[str, str], MwiSubscription] = {}

    # -- SUBSCRIBE ---------------------------------------------------------------------------

    def on_subscribe(self, txn: ServerTransaction, request: Request, addr: Addr) -> None:
        """An out-of-dialog SUBSCRIBE (RFC 6665 §4.2.1)."""
        rt = self.rt
        sip = rt.sip
        event = (request.headers.get("Event") or request.headers.get("o") or "").split(";")[0]
        if event.strip().lower() != EVENT:
            sip.send_response(txn, make_response(request, 489, headers=[("Allow-Events", EVENT)]))
            return
        user, status, headers = rt.auth.check(
            request, proxy=False, now=rt.loop.time(), source=addr[0]
        )
        if user is None:
            sip.send_response(txn, make_response(request, status, headers=headers))
            return
        expires = self._expires(request)
        if expires is None:
            sip.send_response(txn, make_response(request, 400, "Bad Expires"))
            return
        if len(self._subs) >= MAX_SUBSCRIPTIONS and expires > 0:
            sip.send_response(txn, make_response(request, 503, "Too Many Subscriptions"))
            return
        local_tag = new_tag()
        try:
            dialog = Dialog.as_uas(request, local_tag=local_tag)
        except (LocalSipError, SipParseError):
            sip.send_response(txn, make_response(request, 400, "Missing Contact"))
            return
        sub = MwiSubscription(dialog=dialog, extension=user, addr=addr, transport=txn.transport)
        sip.send_response(
            txn,
            make_response(
                request,
                200,
                to_tag=local_tag,
                headers=[("Expires", str(expires)), ("Contact", rt.contact)],
            ),
        )
        self._start(sub, expires)

    def in_dialog(self, txn: ServerTransaction, request: Request) -> bool:
        """A request in one of our subscription dialogs (refresh or unsubscribe); False when
        it belongs to no subscription."""
        key = (request.call_id, request.to.tag or "")
        sub = self._subs.get(key)
        if sub is None:
            return False
        sip = self.rt.sip
        status = sub.dialog.receive_request(request)
        if status is not None:
            sip.send_response(txn, make_response(request, status))
            return True
        if request.method != "SUBSCRIBE":
            sip.send_response(txn, make_response(request, 405, headers=[("Allow", "SUBSCRIBE")]))
            return True
        expires = self._expires(request)
        if expires is None:
            sip.send_response(txn, make_response(request, 400, "Bad Expires"))
            return True
        sip.send_response(txn, make_response(request, 200, headers=[("Expires", str(expires))]))
        self._start(sub, expires)
        return True

    @staticmethod
    def _expires(request: Request) -> int | None:
        raw = request.headers.get("Expires")
        if raw is None:
            return MAX_SUBSCRIPTION_S
        expires = parse_delta(raw.strip(" \t"))
        return None if expires is None else min(expires, MAX_SUBSCRIPTION_S)

    def _start(self, sub: MwiSubscription, expires: int) -> None:
        """(Re)start a subscription and send the NOTIFY of its current state; Expires 0 ends
        it with a final NOTIFY (RFC 6665 §4.2.1.4)."""
        key = (sub.dialog.call_id, sub.dialog.local_tag)
        if sub.handle is not None:
            sub.handle.cancel()
            sub.handle = None
        summary = self.summary_for(sub.extension)
        if expires == 0:
            self._subs.pop(key, None)
            self._notify(sub, summary, "terminated;reason=timeout")
            return
        self._subs[key] = sub
        sub.handle = self.rt.loop.call_later(expires, self._expire, key)
        self._notify(sub, summary, f"active;expires={expires}")

    def _expire(self, key: tuple[str, str]) -> None:
        sub = self._subs.pop(key, None)
        if sub is not None:
            sub.handle = None
            self._notify(sub, self.summary_for(sub.extension), "terminated;reason=timeout")

    # -- NOTIFY ------------------------------------------------------------------------------

    def _notify(self, sub: MwiSubscription, summary: MessageSummary, state: str) -> None:
        rt = self.rt
        if summary.account is None:
            summary = dataclasses.replace(summary, account=f"sip:{sub.extension}@{rt.domain}")
        request = sub.dialog.create_request(
            "NOTIFY",
            body=summary.to_bytes(),
            content_type=CONTENT_TYPE,
            headers=notify_headers(subscription_state=state),
            contact=rt.contact,
        )
        rt.sip.add_via(request)
        rt.sip.send_request(request, sub.addr, self, transport=sub.transport)

    def on_response(self, response: Response, txn: ClientTransaction) -> None:
        if response.status in (481, 489) or response.status >= 500:
            self._drop(txn.request)  # RFC 6665 §4.2.2: the subscriber is gone

    def on_timeout(self, txn: ClientTransaction) -> None:
        self._drop(txn.request)

    def _drop(self, notify: Request) -> None:
        key = (notify.call_id, notify.from_.tag or "")
        sub = self._subs.pop(key, None)
        if sub is not None and sub.handle is not None:
            sub.handle.cancel()

    def notify(self, extension: str, summary: MessageSummary | None = None) -> int:
        """Tell every subscriber of ``extension`` — or, when none subscribed, every phone
        registered as it (RFC 3842 §3, configured phones) — the mailbox state. Returns how
        many NOTIFYs went out."""
        summary = summary or self.summary_for(extension)
        subs = [s for s in self._subs.values() if s.extension == extension]
        for sub in subs:
            self._notify(sub, summary, "active")
        if subs:
            return len(subs)
        return notify_extension(self.rt, extension, summary)

    def subscriptions(self, extension: str | None = None) -> int:
        return sum(1 for s in self._subs.values() if extension in (None, s.extension))

    def close(self) -> None:
        for sub in self._subs.values():
            if sub.handle is not None:
                sub.handle.cancel()
        self._subs.clear()


__all__ = [
    "MwiService",
    "MwiSubscription",
    "build_mwi_notify",
    "notify_extension",
    "send_mwi",
]

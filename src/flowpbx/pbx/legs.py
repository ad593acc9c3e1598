"""Call legs: one SIP dialog plus one RTP endpoint each. flowpbx is a B2BUA, so every call is
at least two legs it owns — the caller's (`UasLeg`, we answer its INVITE) and the callee's
(`UacLeg`, we send the INVITE) — bridged by media relay.

A leg turns SIP events into futures the call logic awaits:

    UasLeg.ended     resolves with a reason when the caller's dialog is over (BYE, CANCEL,
                     our own hang-up, ACK timeout)
    UacLeg.progress  resolves on the first provisional response (ringing)
    UacLeg.outcome   resolves with the final status (200 = answered, else the failure code)
    UacLeg.ended     resolves when the answered callee's dialog is over

State per leg lives in one place, `LegState`, as a small table of allowed transitions.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import random
from collections.abc import Callable
from typing import TYPE_CHECKING

from flowpbx.pbx.media import RtpEndpoint
from flowpbx.sip.dialog import Dialog
from flowpbx.sip.message import Request, Response, make_response, new_call_id, new_tag
from flowpbx.sip.sdp import MediaParams, SdpError, answer_offer, build_offer, parse_answer
from flowpbx.sip.transaction import ClientTransaction, ServerTransaction

if TYPE_CHECKING:
    from flowpbx.pbx.runtime import Runtime

log = logging.getLogger("flowpbx.legs")

Addr = tuple[str, int]
ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, REGISTER"


class LegState(enum.Enum):
    CALLING = "calling"  # UAC: INVITE sent, nothing back yet
    EARLY = "early"  # provisional sent/received
    CONFIRMED = "confirmed"  # 2xx sent/received
    ENDING = "ending"  # BYE/CANCEL sent, waiting for the answer
    ENDED = "ended"


# The only transitions a leg may make (anything else is a bug, logged and ignored).
_TRANSITIONS: dict[LegState, frozenset[LegState]] = {
    LegState.CALLING: frozenset(
        {LegState.EARLY, LegState.CONFIRMED, LegState.ENDING, LegState.ENDED}
    ),
    LegState.EARLY: frozenset({LegState.CONFIRMED, LegState.ENDING, LegState.ENDED}),
    LegState.CONFIRMED: frozenset({LegState.ENDING, LegState.ENDED}),
    LegState.ENDING: frozenset({LegState.ENDED}),
    LegState.ENDED: frozenset(),
}


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


class Leg:
    def __init__(self, rt: Runtime, rtp: RtpEndpoint, peer_addr: Addr) -> None:
        self.rt = rt
        self.rtp = rtp
        self.peer_addr = peer_addr  # where this dialog's requests go (the flow we talk on)
        self.state = LegState.CALLING
        self.dialog: Dialog | None = None
        loop = asyncio.get_running_loop()
        self.ended: asyncio.Future[str] = loop.create_future()
        self.on_digit: Callable[[str], None] | None = None
        self._session_id = random.randrange(1, 2**31)
        self._sdp_version = 1
        self.answered_at: float | None = None

    def _to(self, new: LegState) -> bool:
        if new not in _TRANSITIONS[self.state]:
            return new is self.state
        self.state = new
        return True

    def _finish(self, reason: str) -> None:
        self._to(LegState.ENDED)
        if self.dialog is not None:
            self.rt.forget_dialog(self.dialog)
        self.rtp.close()
        if not self.ended.done():
            self.ended.set_result(reason)

    def digit(self, digit: str) -> None:
        if self.on_digit is not None:
            self.on_digit(digit)

    @property
    def is_ended(self) -> bool:
        return self.state in (LegState.ENDING, LegState.ENDED)

    def _send_in_dialog(self, method: str, **kw: object) -> ClientTransaction | None:
        if self.dialog is None:
            return None
        request = self.dialog.create_request(method, contact=self.rt.contact, **kw)  # type: ignore[arg-type]
        self.rt.sip.add_via(request)
        return self.rt.sip.send_request(request, self.peer_addr, self)

    def send_bye(self, reason: str = "hangup") -> None:
        if self.state is LegState.CONFIRMED:
            self._to(LegState.ENDING)
            self._send_in_dialog("BYE")
        self._finish(reason)

    # -- events from the dispatcher -----------------------------------------------------------

    def on_request(self, txn: ServerTransaction, request: Request) -> None:
        method = request.method
        sip = self.rt.sip
        if self.dialog is not None:
            status = self.dialog.receive_request(request)
            if status is not None:
                sip.send_response(txn, make_response(request, status))
                return
        if method == "BYE":
            sip.send_response(txn, make_response(request, 200))
            self._finish("remote hangup")
        elif method in ("INVITE", "UPDATE"):
            self._on_reoffer(txn, request)
        elif method == "INFO":
            ctype = (request.headers.get("Content-Type") or "").lower()
            if "dtmf" in ctype:
                digit = parse_dtmf_relay(request.body)
                sip.send_response(txn, make_response(request, 200))
                if digit is not None:
                    self.digit(digit)
            else:
                sip.send_response(txn, make_response(request, 200))
        elif method == "OPTIONS":
            sip.send_response(txn, make_response(request, 200, headers=[("Allow", ALLOW)]))
        else:
            sip.send_response(txn, make_response(request, 405, headers=[("Allow", ALLOW)]))

    def _on_reoffer(self, txn: ServerTransaction, request: Request) -> None:
        """re-INVITE / UPDATE: accept the new media address, answer with our same stream."""
        if not request.body:
            body = self._local_offer()
        else:
            try:
                body, params = answer_offer(
                    request.body,
                    address=self.rt.media_ip,
                    port=self.rtp.port,
                    session_id=self._session_id,
                    version=self._next_version(),
                )
            except SdpError as exc:
                self.rt.sip.send_response(txn, make_response(request, 488, str(exc)[:60] or None))
                return
            self.rtp.latched = False
            self.rtp.set_remote(params)
        headers = [("Contact", self.rt.contact), ("Content-Type", "application/sdp")]
        self.rt.sip.send_response(txn, make_response(request, 200, body=body, headers=headers))

    def _next_version(self) -> int:
        self._sdp_version += 1
        return self._sdp_version

    def _local_offer(self) -> bytes:
        return build_offer(
            address=self.rt.media_ip,
            port=self.rtp.port,
            session_id=self._session_id,
            version=self._sdp_version,
        )

    def on_ack(self, request: Request) -> None:
        pass

    def on_ack_timeout(self) -> None:
        log.info("no ACK for our 2xx: ending the leg")
        self.send_bye("ack timeout")

    def on_response(self, response: Response, txn: ClientTransaction) -> None:
        pass  # BYE/INFO answers need no action

    def on_timeout(self, txn: ClientTransaction) -> None:
        pass


class UasLeg(Leg):
    """The caller's leg: we are the UAS of its INVITE."""

    def __init__(
        self,
        rt: Runtime,
        rtp: RtpEndpoint,
        txn: ServerTransaction,
        request: Request,
        addr: Addr,
        answer_sdp: bytes,
    ) -> None:
        super().__init__(rt, rtp, addr)
        self.txn = txn
        self.invite = request
        self.local_tag = new_tag()
        self.answer_sdp = answer_sdp
        txn.user_data = self
        self.dialog = Dialog.as_uas(request, local_tag=self.local_tag)
        rt.remember_dialog(self.dialog, self)
        self.state = LegState.EARLY
        self._early_media = False

    @property
    def answered(self) -> bool:
        return self.state is LegState.CONFIRMED or (
            self.state is LegState.ENDING and self.answered_at is not None
        )

    def _reply(self, status: int, *, sdp: bool = False, reason: str | None = None) -> None:
        headers = [("Contact", self.rt.contact), ("Allow", ALLOW)]
        body = b""
        if sdp:
            headers.append(("Content-Type", "application/sdp"))
            body = self.answer_sdp
        self.rt.sip.send_response(
            self.txn,
            make_response(
                self.invite, status, reason, to_tag=self.local_tag, body=body, headers=headers
            ),
        )

    def ringing(self) -> None:
        if self.state is LegState.EARLY and not self._early_media:
            self._reply(180)

    def early_media(self) -> None:
        if self.state is LegState.EARLY and not self._early_media:
            self._early_media = True
            self._reply(183, sdp=True)

    def answer(self) -> None:
        if self.state is LegState.EARLY:
            self._reply(200, sdp=True)
            self._to(LegState.CONFIRMED)
            self.answered_at = asyncio.get_running_loop().time()

    def reject(self, status: int, reason: str | None = None) -> None:
        if self.state is LegState.EARLY:
            self._reply(status, reason=reason)
            self._finish(f"rejected {status}")

    def hangup(self, reason: str = "hangup") -> None:
        if self.state is LegState.EARLY:
            self.reject(480)
        else:
            self.send_bye(reason)

    def on_cancel(self) -> None:
        if self.state is LegState.EARLY:
            self._reply(487)
            self._finish("caller cancelled")


class UacLeg(Leg):
    """A leg we call out on (an extension's registered contact)."""

    def __init__(
        self,
        rt: Runtime,
        rtp: RtpEndpoint,
        *,
        target_uri: str,
        addr: Addr,
        from_uri: str,
        from_name: str | None,
        to_uri: str,
        label: str,
    ) -> None:
        super().__init__(rt, rtp, addr)
        self.label = label
        loop = asyncio.get_running_loop()
        self.progress: asyncio.Future[int] = loop.create_future()
        self.outcome: asyncio.Future[int] = loop.create_future()
        self.local_tag = new_tag()
        self._cancel_wanted = False
        self._cancel_sent = False
        self._provisional_seen = False
        self._invite_txn: ClientTransaction | None = None
        display = f'"{from_name}" ' if from_name else ""
        self.invite = Request(
            method="INVITE",
            uri=target_uri,
            headers=_headers(
                [
                    ("Max-Forwards", "70"),
                    ("From", f"{display}<{from_uri}>;tag={self.local_tag}"),
                    ("To", f"<{to_uri}>"),
                    ("Call-ID", new_call_id()),
                    ("CSeq", "1 INVITE"),
                    ("Contact", rt.contact),
                    ("Allow", ALLOW),
                    ("User-Agent", rt.user_agent),
                    ("Content-Type", "application/sdp"),
                ]
            ),
            body=self._local_offer(),
        )

    def start(self) -> None:
        self.rt.sip.add_via(self.invite)
        self._invite_txn = self.rt.sip.send_request(self.invite, self.peer_addr, self)

    def cancel(self) -> None:
        """Stop ringing: CANCEL once any provisional (even 100) came back (RFC 3261 §9.1),
        else as soon as one does. Works after `hangup` too: the leg is gone for the call
        logic, but the phone still has to stop ringing."""
        if not self.outcome.done():
            self.outcome.set_result(487)
        if self._cancel_sent or self.answered_at is not None:
            return
        self._cancel_wanted = True
        if self._provisional_seen:
            self._cancel_sent = True
            self._to(LegState.ENDING)
            from flowpbx.sip.transaction import make_cancel

            cancel = make_cancel(self.invite)
            self.rt.sip.send_request(cancel, self.peer_addr, self)

    def hangup(self, reason: str = "hangup") -> None:
        if self.state in (LegState.CALLING, LegState.EARLY):
            self.cancel()
            self._finish(reason)
        else:
            self.send_bye(reason)

    def on_response(self, response: Response, txn: ClientTransaction) -> None:
        if txn is not self._invite_txn:
            return  # CANCEL/BYE/INFO answers
        status = response.status
        if status < 200:
            self._provisional_seen = True
            if status > 100 and self.state is LegState.CALLING:
                self._to(LegState.EARLY)
                if not self.progress.done():
                    self.progress.set_result(status)
            if self._cancel_wanted and not self._cancel_sent:
                self.cancel()
            return
        if 200 <= status < 300:
            self._on_2xx(response)
            return
        if not self.outcome.done():
            self.outcome.set_result(status)
        self._finish(f"{status} {response.reason}")

    def _on_2xx(self, response: Response) -> None:
        if self.dialog is None:
            self.dialog = Dialog.as_uac(self.invite, response)
            self.rt.remember_dialog(self.dialog, self)
        self._send_ack()
        if self.state is LegState.CONFIRMED:
            return  # a retransmitted 2xx: the ACK above was all it needed
        if self.state in (LegState.ENDING, LegState.ENDED) or self._cancel_wanted:
            # Answered after we gave up (CANCEL crossed the 200): hang it up at once.
            self.state = LegState.CONFIRMED
            self.send_bye("answered too late")
            return
        try:
            params: MediaParams = parse_answer(response.body)
        except SdpError:
            self.state = LegState.CONFIRMED
            self.send_bye("bad SDP answer")
            if not self.outcome.done():
                self.outcome.set_result(488)
            return
        self.rtp.set_remote(params)
        self._to(LegState.CONFIRMED)
        self.answered_at = asyncio.get_running_loop().time()
        if not self.outcome.done():
            self.outcome.set_result(response.status)

    def on_stray_2xx(self, response: Response) -> None:
        if self.dialog is not None:
            self._send_ack()

    def _send_ack(self) -> None:
        assert self.dialog is not None
        ack = self.dialog.create_ack(self.invite.cseq.seq)
        self.rt.sip.add_via(ack)
        self.rt.sip.send_stateless(ack, self.peer_addr)

    def on_timeout(self, txn: ClientTransaction) -> None:
        if txn is self._invite_txn and not self.outcome.done():
            self.outcome.set_result(408)
            self._finish("no response")


def _headers(items: list[tuple[str, str]]):  # type: ignore[no-untyped-def]
    from flowpbx.sip.message import Headers

    headers = Headers()
    for name, value in items:
        headers.add(name, value)
    return headers


__all__ = ["ALLOW", "Leg", "LegState", "UacLeg", "UasLeg", "parse_dtmf_relay"]


def make_uas_answer(rt: Runtime, request: Request, rtp: RtpEndpoint) -> tuple[bytes, MediaParams]:
    """Answer an INVITE's SDP offer with our RTP port (raises SdpError -> 488)."""
    return answer_offer(
        request.body, address=rt.media_ip, port=rtp.port, session_id=random.randrange(1, 2**31)
    )

"""Call legs: one SIP dialog plus one RTP endpoint each. flowpbx is a B2BUA, so every call is
at least two legs it owns — the caller's (`UasLeg`, pbx/call/uas_leg.py: we answer its
INVITE) and the callee's (`UacLeg`, pbx/call/uac_leg.py: we send the INVITE) — bridged by
media relay.

A leg turns SIP events into futures the call logic awaits:

    UasLeg.ended     resolves with a reason when the caller's dialog is over (BYE, CANCEL,
                     our own hang-up, ACK timeout)
    UacLeg.progress  resolves on the first provisional response (ringing)
    UacLeg.outcome   resolves with the final status (200 = answered, else the failure code)
    UacLeg.ended     resolves when the answered callee's dialog is over

This file holds what both kinds share: `Leg` with its dialog, in-dialog requests (BYE, INFO
keys, REFER/NOTIFY), re-INVITE/UPDATE both ways (hold, glare) and RFC 4028 session timers.
State per leg lives in one place, pbx/call/leg_states.py, as a table of allowed transitions.
"""

from __future__ import annotations

import asyncio
import logging
import random
import weakref
from collections.abc import Callable
from typing import ClassVar, Protocol

from flowpbx.pbx.call.dtmf_relay import parse_dtmf_relay
from flowpbx.pbx.call.leg_states import LEG_TRANSITIONS, LegState
from flowpbx.pbx.ports import SipSender
from flowpbx.pbx.rtp.endpoint import RtpEndpoint
from flowpbx.pbx.srtp_policy import MediaCrypto
from flowpbx.sip.dialog import Dialog
from flowpbx.sip.errors import SipParseError
from flowpbx.sip.message import Request, Response, make_response
from flowpbx.sip.refer import (
    ReferTo,
    Replaces,
    build_refer_to,
    notify_headers,
    parse_refer_to,
    sipfrag,
)
from flowpbx.sip.sdp import MediaParams, SdpError, answer_offer, build_offer, parse_answer
from flowpbx.sip.session_timer import TimerDecision, expiry_after, negotiate_uas, refresh_after
from flowpbx.sip.transaction import ClientTransaction, ServerTransaction

log = logging.getLogger("flowpbx.legs")

# Every leg not yet freed (/metrics: mem_legs_alive). Back to its idle size once calls are
# over and their transactions expired; a leg kept by a reference cycle counts until a full
# collector pass, so this shows cycles too. One add per leg, nothing per packet.
LIVE_LEGS: weakref.WeakSet[Leg] = weakref.WeakSet()

Addr = tuple[str, int]
ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, REGISTER, PRACK, REFER, NOTIFY, SUBSCRIBE"


class LegHost(Protocol):
    """What a leg needs of the runtime: SIP sending, our Contact, User-Agent and media
    address, and the table that routes in-dialog requests to their leg."""

    @property
    def sip(self) -> SipSender: ...
    @property
    def contact(self) -> str: ...
    @property
    def user_agent(self) -> str: ...
    @property
    def media_ip(self) -> str: ...
    def remember_dialog(self, dialog: Dialog, leg: Leg) -> None: ...
    def forget_dialog(self, dialog: Dialog) -> None: ...


class Leg:
    # The Call-ID's owner (RFC 3261 §14.1: who waits longer before retrying a re-INVITE after
    # 491): the side that sent the dialog's INVITE. UacLeg says True.
    owns_call_id: ClassVar[bool] = False

    def __init__(self, rt: LegHost, rtp: RtpEndpoint, peer_addr: Addr) -> None:
        LIVE_LEGS.add(self)
        self.rt = rt
        self.rtp = rtp
        self.peer_addr = peer_addr  # where this dialog's requests go (the flow we talk on)
        rtp.allow_source(peer_addr[0])  # media from the signalling's IP may latch (NAT)
        self.state = LegState.CALLING
        self.dialog: Dialog | None = None
        loop = asyncio.get_running_loop()
        self.ended: asyncio.Future[str] = loop.create_future()
        self.on_digit: Callable[[str], None] | None = None
        self._session_id = random.randrange(1, 2**31)
        self._sdp_version = 1
        self.answered_at: float | None = None
        # Which transport this dialog's requests take ("udp", "tcp"; None: the endpoint picks,
        # preferring an open TCP connection to the peer).
        self.transport: str | None = None
        # Hold (RFC 3264 §8.4): True while the peer's offer leaves us nothing to send.
        self.held = False
        self.on_hold: Callable[[bool], None] | None = None
        # REFER (RFC 3515): the call logic decides; True or 202 = accepted, False = 603,
        # another status (403, 603) = refused with it.
        self.on_refer: Callable[[Leg, ReferTo, Request], bool | int] | None = None
        # The pbx.call.talk.Conversation this leg talks in (REFER with Replaces finds the
        # replaced dialog's conversation through it).
        self.conversation: object | None = None
        self.refer_progress: Callable[[int], None] | None = None  # NOTIFY sipfrag we received
        self._refer_notify_cseq_hint = 0
        self._reinvite_out: ClientTransaction | None = None  # our pending re-INVITE (glare)
        self._reinvite_direction = "sendrecv"
        self._reinvite_in: ServerTransaction | None = None  # theirs, until its ACK (§14.2)
        self._offer_in_2xx = False  # an offerless re-INVITE: the answer comes in the ACK
        self._session: TimerDecision | None = None  # RFC 4028 session timer, when asked
        self._session_handle: asyncio.TimerHandle | None = None
        # SRTP (pbx/srtp_policy.py): the extension's or trunk's media_encryption; None: plain.
        self.crypto: MediaCrypto | None = None

    def _to(self, new: LegState) -> bool:
        """Move to `new` if the table allows it; staying put is no move. An illegal
        transition is a bug: logged and refused (False)."""
        if new not in LEG_TRANSITIONS[self.state]:
            if new is not self.state:
                log.warning("leg %s: illegal transition %s -> %s refused", self, self.state, new)
            return new is self.state
        self.state = new
        return True

    def _finish(self, reason: str) -> None:
        self._to(LegState.ENDED)
        if self._session_handle is not None:
            self._session_handle.cancel()
            self._session_handle = None
        if self.dialog is not None:
            self.rt.forget_dialog(self.dialog)
        self.rtp.close()
        if not self.ended.done():
            self.ended.set_result(reason)
        # The call logic's callbacks point back at objects that point at this leg: let go of
        # them, so a finished call is freed by reference counting, not by a collector pass.
        self.on_digit = self.on_hold = self.on_refer = self.refer_progress = None
        self.conversation = None  # an INVITE client transaction keeps a leg for 64*T1

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
        return self.rt.sip.send_request(request, self.peer_addr, self, transport=self.transport)

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
        elif method == "INVITE":
            if self._reinvite_out is not None:
                # RFC 3261 §14.2: our own re-INVITE is pending: glare.
                sip.send_response(txn, make_response(request, 491))
            elif self._reinvite_in is not None:
                retry = str(random.randint(0, 10))
                sip.send_response(
                    txn, make_response(request, 500, headers=[("Retry-After", retry)])
                )
            else:
                self._on_reoffer(txn, request)
        elif method == "UPDATE":
            self._on_reoffer(txn, request)
        elif method == "REFER":
            self._on_refer(txn, request)
        elif method == "NOTIFY":
            sip.send_response(txn, make_response(request, 200))
            event = (request.headers.get("Event") or "").split(";", 1)[0].strip().lower()
            if event == "refer" and self.refer_progress is not None:
                from flowpbx.sip.refer import parse_sipfrag

                status = parse_sipfrag(request.body)
                if status is not None:
                    self.refer_progress(status)
        elif method == "PRACK":
            sip.send_response(txn, make_response(request, 481))  # we send no reliable 1xx
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
        """re-INVITE / UPDATE (RFC 3261 §14.2, RFC 3311): take the new media address and
        direction (hold: sendonly/inactive, RFC 3264 §8.4), answer with our same stream; a
        session refresh (RFC 4028) re-arms the session timer."""
        sip = self.rt.sip
        try:
            decision = negotiate_uas(request)
        except SipParseError:
            decision = None
        if decision is not None and decision.reject_min_se is not None:
            sip.send_response(
                txn, make_response(request, 422, headers=[("Min-SE", str(decision.reject_min_se))])
            )
            return
        headers = [("Contact", self.rt.contact)]
        body = b""
        if not request.body:
            if request.method == "INVITE":
                # An offerless re-INVITE: we offer in the 2xx, the answer comes in the ACK.
                body = self._local_offer()
                self._offer_in_2xx = True
        else:
            try:
                body, params = self._answer(request.body)
            except SdpError as exc:
                sip.send_response(txn, make_response(request, 488, str(exc)[:60] or None))
                return
            self._take_remote(params)
            self._set_held(not params.sends)
        if body:
            headers.append(("Content-Type", "application/sdp"))
        if decision is not None:
            headers += decision.response_headers()
            self._arm_session_timer(decision)
        elif self._session is not None:
            # RFC 4028 §9: a session refresh without Session-Expires turns the timer off.
            self._session = None
            if self._session_handle is not None:
                self._session_handle.cancel()
                self._session_handle = None
        if request.method == "INVITE":
            self._reinvite_in = txn
        sip.send_response(txn, make_response(request, 200, body=body, headers=headers))

    def _answer(self, offer: bytes) -> tuple[bytes, MediaParams]:
        """Our answer to a re-offer, SRTP per the leg's setting (pbx/srtp_policy.py)."""
        version = self._next_version()

        def make(srtp: bool) -> tuple[bytes, MediaParams]:
            return answer_offer(
                offer,
                address=self.rt.media_ip,
                port=self.rtp.port,
                session_id=self._session_id,
                version=version,
                srtp=srtp,
            )

        if self.crypto is None:
            return make(False)
        body, params, changed = self.crypto.answer(offer, make)
        self._attach_srtp(changed)
        return body, params

    def _secure_offer(self, body: bytes) -> bytes:
        return body if self.crypto is None else self.crypto.offer(body)

    def _read_answer(self, body: bytes) -> MediaParams:
        """Media of the answer to our offer, with its crypto (raises SdpError)."""
        params = parse_answer(body, srtp=self.crypto is not None)
        if self.crypto is not None:
            self._attach_srtp(self.crypto.take_answer(body))
        return params

    def _attach_srtp(self, changed: bool) -> None:
        crypto = self.crypto
        if changed and crypto is not None and crypto.context is not None:
            self.rtp.use_srtp(crypto.context)

    def _take_remote(self, params: MediaParams) -> None:
        """Apply a new offer's (or answer's) media. The source is learned again only when
        the SDP moves the stream to another address:port; a session refresh or a hold naming
        the same one keeps the latch (a phone behind NAT goes through no probation again)."""
        old = self.rtp.params
        if old is None or old.address != params.address or old.port != params.port:
            self.rtp.relatch()
        self.rtp.set_remote(params)

    def _set_held(self, held: bool) -> None:
        if held != self.held:
            self.held = held
            if self.on_hold is not None:
                self.on_hold(held)

    # -- session timers (RFC 4028) -------------------------------------------------------------

    def _arm_session_timer(self, decision: TimerDecision) -> None:
        """After a 2xx that set or refreshed the session timer: we refresh at half the
        interval when we are the refresher, else we hang up if no refresh comes in time."""
        self._session = decision
        if self._session_handle is not None:
            self._session_handle.cancel()
        loop = asyncio.get_running_loop()
        if decision.we_refresh:
            delay = refresh_after(decision.interval)
            self._session_handle = loop.call_later(delay, self._refresh_session)
        else:
            delay = expiry_after(decision.interval)
            self._session_handle = loop.call_later(delay, self._session_expired)

    def _refresh_session(self) -> None:
        self._session_handle = None
        if self.state is LegState.CONFIRMED and self._session is not None:
            self.reinvite(self._reinvite_direction)
            # Until the refresh's 2xx comes back, the session runs on the old timer.
            self._session_handle = asyncio.get_running_loop().call_later(
                refresh_after(self._session.interval), self._refresh_session
            )

    def _session_expired(self) -> None:
        self._session_handle = None
        if self.state is LegState.CONFIRMED:
            log.info("session timer expired without a refresh: ending the leg")
            self.send_bye("session expired")

    # -- re-INVITE from our side (hold, unhold, refresh) ------------------------------------------

    def reinvite(self, direction: str = "sendrecv") -> ClientTransaction | None:
        """Send a re-INVITE with our stream in ``direction`` (``sendonly`` puts the peer on
        hold, ``sendrecv`` resumes). None when one is already pending or the leg is not
        confirmed; a 491 (glare) retries after the RFC 3261 §14.1 random delay."""
        self._reinvite_direction = direction
        if self.state is not LegState.CONFIRMED or self._reinvite_out is not None:
            return None
        body = self._secure_offer(
            build_offer(
                address=self.rt.media_ip,
                port=self.rtp.port,
                session_id=self._session_id,
                version=self._next_version(),
                direction=direction,
            )
        )
        txn = self._send_in_dialog("INVITE", body=body, content_type="application/sdp")
        self._reinvite_out = txn
        return txn

    def _on_reinvite_response(self, response: Response, txn: ClientTransaction) -> None:
        status = response.status
        if status < 200:
            return
        self._reinvite_out = None
        if self.dialog is not None:
            self.dialog.receive_response(txn.request, response)
        if 200 <= status < 300:
            if self.dialog is not None:
                ack = self.dialog.create_ack(txn.request.cseq.seq)
                self.rt.sip.add_via(ack)
                self.rt.sip.send_stateless(ack, self.peer_addr, transport=self.transport)
            try:
                params = self._read_answer(response.body)
            except SdpError:
                return
            self.rtp.set_remote(params)
        elif status == 491:
            # RFC 3261 §14.1: the Call-ID owner waits 2.1-4 s, the other side 0-2 s.
            owner = self.owns_call_id
            delay = random.uniform(2.1, 4.0) if owner else random.uniform(0.0, 2.0)
            direction = self._reinvite_direction
            asyncio.get_running_loop().call_later(delay, lambda: self.reinvite(direction))

    # -- REFER (RFC 3515) -----------------------------------------------------------------------

    def _on_refer(self, txn: ServerTransaction, request: Request) -> None:
        sip = self.rt.sip
        raw = request.headers.get("Refer-To") or request.headers.get("r")
        if raw is None:
            sip.send_response(txn, make_response(request, 400, "Missing Refer-To"))
            return
        try:
            refer_to = parse_refer_to(raw)
        except SipParseError:
            sip.send_response(txn, make_response(request, 400, "Bad Refer-To"))
            return
        hook = self.on_refer
        verdict = hook(self, refer_to, request) if hook is not None else False
        status = 202 if verdict is True else 603 if verdict is False else int(verdict)
        if status != 202:
            reason = "Transfer Declined" if status == 603 else None
            sip.send_response(txn, make_response(request, status, reason))
            return
        sip.send_response(txn, make_response(request, 202, headers=[("Contact", self.rt.contact)]))
        self.notify_refer(100)

    def notify_refer(self, status: int, reason: str | None = None) -> None:
        """Report the progress of the call a REFER asked for (NOTIFY with a sipfrag, RFC 3515
        §2.4.5); a final status ends the implicit subscription."""
        self._send_in_dialog(
            "NOTIFY",
            body=sipfrag(status, reason),
            headers=notify_headers(status)[:2],
            content_type=notify_headers(status)[2][1],
        )

    def send_refer(self, target_uri: str, replaces: Replaces | None = None) -> None:
        """Ask the peer to call ``target_uri`` (blind transfer), or to replace a dialog with it
        (attended transfer, RFC 3891). Progress arrives through ``refer_progress``."""
        self._send_in_dialog(
            "REFER",
            headers=[
                ("Refer-To", build_refer_to(target_uri, replaces)),
                ("Referred-By", self.rt.contact),
            ],
        )

    def _next_version(self) -> int:
        self._sdp_version += 1
        return self._sdp_version

    def _local_offer(self) -> bytes:
        return self._secure_offer(
            build_offer(
                address=self.rt.media_ip,
                port=self.rtp.port,
                session_id=self._session_id,
                version=self._sdp_version,
            )
        )

    def on_ack(self, request: Request) -> None:
        self._reinvite_in = None
        if self._offer_in_2xx:
            self._offer_in_2xx = False
            if request.body:
                try:
                    params = self._read_answer(request.body)
                except SdpError:
                    return
                self._take_remote(params)
                self._set_held(not params.sends)

    def on_ack_timeout(self) -> None:
        log.info("no ACK for our 2xx: ending the leg")
        self.send_bye("ack timeout")

    def on_response(self, response: Response, txn: ClientTransaction) -> None:
        if txn is self._reinvite_out:
            self._on_reinvite_response(response, txn)
        # BYE/INFO/NOTIFY/REFER answers need no action

    def on_timeout(self, txn: ClientTransaction) -> None:
        pass


__all__ = ["ALLOW", "LIVE_LEGS", "Addr", "Leg", "LegHost", "LegState"]

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
import weakref
from collections.abc import Callable
from typing import Protocol

from flowpbx.pbx.ports import SipSender
from flowpbx.pbx.rtp.endpoint import RtpEndpoint
from flowpbx.pbx.srtp_policy import MediaCrypto
from flowpbx.sip.auth import build_authorization, parse_challenge, select_challenge
from flowpbx.sip.dialog import Dialog, DialogState
from flowpbx.sip.errors import SipParseError
from flowpbx.sip.headers import display_name
from flowpbx.sip.message import Request, Response, make_response, new_call_id, new_tag
from flowpbx.sip.prack import PrackState, is_reliable
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


class LegState(enum.Enum):
    CALLING = "calling"  # UAC: INVITE sent, nothing back yet
    EARLY = "early"  # provisional sent/received
    CONFIRMED = "confirmed"  # 2xx sent/received
    ENDING = "ending"  # BYE/CANCEL sent, waiting for the answer
    ENDED = "ended"


# The only transitions a leg may make (anything else is a bug: `Leg._to` logs and refuses it).
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
        # The pbx.features.transfer.Conversation this leg talks in (REFER with Replaces finds the
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
        if new not in _TRANSITIONS[self.state]:
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
            owner = isinstance(self, UacLeg)
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


class UasLeg(Leg):
    """The caller's leg: we are the UAS of its INVITE."""

    def __init__(
        self,
        rt: LegHost,
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
        self.transport = txn.transport  # answer and call back on the transport it came on
        self.dialog = Dialog.as_uas(request, local_tag=self.local_tag)
        rt.remember_dialog(self.dialog, self)
        self._to(LegState.EARLY)
        self._early_media = False
        try:
            self._session = negotiate_uas(request)  # RFC 4028, when the caller asks
        except SipParseError:
            self._session = None
        if self._session is not None and self._session.reject_min_se is not None:
            self._session = None  # the runtime answers 422 before a leg exists

    @property
    def answered(self) -> bool:
        return self.state is LegState.CONFIRMED or (
            self.state is LegState.ENDING and self.answered_at is not None
        )

    def _reply(self, status: int, *, sdp: bool = False, reason: str | None = None) -> None:
        headers = [("Contact", self.rt.contact), ("Allow", ALLOW)]
        if 200 <= status < 300 and self._session is not None:
            headers += self._session.response_headers()
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
            if self._session is not None:
                self._arm_session_timer(self._session)

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

    def _finish(self, reason: str) -> None:
        super()._finish(reason)
        # The INVITE server transaction stays for up to 64*T1 after the final response;
        # nothing it reports then concerns an ended leg (a late CANCEL gets its 200 from the
        # transaction alone). Let go of the leg so it is not a reference cycle with it (the
        # layer does the same on the ACK of a 2xx).
        if self.txn.user_data is self:
            self.txn.user_data = None


class UacLeg(Leg):
    """A leg we call out on (an extension's registered contact)."""

    def __init__(
        self,
        rt: LegHost,
        rtp: RtpEndpoint,
        *,
        target_uri: str,
        addr: Addr,
        from_uri: str,
        from_name: str | None,
        to_uri: str,
        label: str,
        auth: tuple[str, str] | None = None,
        headers: list[tuple[str, str]] | tuple[tuple[str, str], ...] = (),
        transport: str | None = None,
        prack: bool = False,
        crypto: MediaCrypto | None = None,
    ) -> None:
        """``auth`` answers a trunk's 401/407 challenge (RFC 3261 §22.2); ``headers`` are
        added to the INVITE (P-Asserted-Identity, Privacy: see pbx/features/trunks.py);
        ``transport`` forces one ("tcp" for a TCP trunk); ``prack`` offers 100rel (RFC 3262)
        so a provider may send reliable 183s with early media."""
        super().__init__(rt, rtp, addr)
        self.crypto = crypto  # before the offer below is written
        self.label = label
        self.transport = transport
        self.auth = auth
        self._auth_tries = 0
        self._prack = PrackState()
        self.early_media = False  # a 18x brought SDP: the callee's media flows before answer
        self.on_early_media: Callable[[], None] | None = None  # called when that happens
        loop = asyncio.get_running_loop()
        self.progress: asyncio.Future[int] = loop.create_future()
        self.outcome: asyncio.Future[int] = loop.create_future()
        self.local_tag = new_tag()
        self._cancel_wanted = False
        self._cancel_sent = False
        self._provisional_seen = False
        # The INVITE's transaction by its key (branch, method), not the object: the
        # transaction points at this leg (its user_data) for up to 64*T1, and a leg pointing
        # back would make every finished call a reference cycle, freed only by a full
        # collector pass (thousands of legs, their media and messages, waiting for it).
        self._invite_key: tuple[str, str] | None = None
        quoted = display_name(from_name)  # escaped; CR/LF and the like never reach the wire
        display = f"{quoted} " if quoted else ""
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
                    *([("Supported", "100rel")] if prack else []),
                    ("User-Agent", rt.user_agent),
                    *headers,
                    ("Content-Type", "application/sdp"),
                ]
            ),
            body=self._local_offer(),
        )

    def start(self) -> None:
        self.rt.sip.add_via(self.invite)
        self._invite_key = self.rt.sip.send_request(
            self.invite, self.peer_addr, self, transport=self.transport
        ).key

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
            self.rt.sip.send_request(cancel, self.peer_addr, self, transport=self.transport)

    def hangup(self, reason: str = "hangup") -> None:
        if self.state in (LegState.CALLING, LegState.EARLY):
            self.cancel()
            self._finish(reason)
        else:
            self.send_bye(reason)

    def on_response(self, response: Response, txn: ClientTransaction) -> None:
        if txn.key != self._invite_key:
            super().on_response(response, txn)  # re-INVITE; CANCEL/BYE/INFO need nothing
            return
        status = response.status
        if status in (401, 407) and self._retry_with_auth(response):
            return
        if status < 200:
            self._provisional_seen = True
            if status > 100:
                self._on_provisional(response)
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
        dialog = self.dialog
        if dialog is not None and dialog.state is DialogState.EARLY:
            if dialog.remote_tag == (response.to.tag or ""):
                # The early dialog of a reliable 1xx is confirmed by this 2xx (RFC 3261
                # §12.1.2: route set and remote target from the 2xx).
                dialog.receive_response(self.invite, response)
            else:  # another fork answered: its dialog replaces the early one
                self.rt.forget_dialog(dialog)
                self.dialog = dialog = None
        if dialog is None:
            self.dialog = Dialog.as_uac(self.invite, response)
            self.rt.remember_dialog(self.dialog, self)
        self._send_ack()
        if self.state is LegState.CONFIRMED:
            return  # a retransmitted 2xx: the ACK above was all it needed
        if self.state in (LegState.ENDING, LegState.ENDED) or self._cancel_wanted:
            # Answered after we gave up (CANCEL crossed the 200): hang it up at once.
            self._bye_unwanted_2xx("answered too late")
            return
        try:
            params: MediaParams = self._read_answer(response.body)
        except SdpError:
            self._bye_unwanted_2xx("bad SDP answer")
            if not self.outcome.done():
                self.outcome.set_result(488)
            return
        self.rtp.set_remote(params)
        self._to(LegState.CONFIRMED)
        self.answered_at = asyncio.get_running_loop().time()
        if not self.outcome.done():
            self.outcome.set_result(response.status)

    def _bye_unwanted_2xx(self, reason: str) -> None:
        """A 2xx we will not take (it crossed our CANCEL, or its SDP is unusable): the far
        end's dialog exists all the same, so it gets a BYE (RFC 3261 §15) whatever state
        this leg is in, and the leg ends."""
        self._send_in_dialog("BYE")
        self._finish(reason)

    def _retry_with_auth(self, response: Response) -> bool:
        """Answer a 401/407 to our INVITE with credentials (RFC 3261 §22.2): the same INVITE
        with CSeq + 1, a new branch and Authorization / Proxy-Authorization. False when we
        have no credentials, the challenge is unusable, or we already answered one that was
        not stale (wrong password: give up with the 401/407)."""
        if self.auth is None or self._cancel_wanted or self.state is not LegState.CALLING:
            return False
        proxy = response.status == 407
        challenges = response.headers.get_all("Proxy-Authenticate" if proxy else "WWW-Authenticate")
        chosen = select_challenge(challenges)
        if chosen is None:
            return False
        stale = parse_challenge(chosen).stale
        if self._auth_tries >= 1 and not stale:
            return False
        self._auth_tries += 1
        username, password = self.auth
        invite = self.invite
        credentials = build_authorization(
            chosen,
            method="INVITE",
            uri=invite.uri,
            username=username,
            password=password,
        )
        headers = _headers(
            [
                (name, value)
                for name, value in invite.headers.items()
                if name.lower()
                not in ("via", "cseq", "authorization", "proxy-authorization", "content-length")
            ]
        )
        headers.add("CSeq", f"{invite.cseq.seq + 1} INVITE")
        headers.add("Proxy-Authorization" if proxy else "Authorization", credentials)
        self.invite = Request(method="INVITE", uri=invite.uri, headers=headers, body=invite.body)
        self.start()
        return True

    def _on_provisional(self, response: Response) -> None:
        """18x: early media when it carries SDP; PRACK when it is reliable (RFC 3262 §4)."""
        if response.body and not self.early_media:
            try:
                params = self._read_answer(response.body)
            except SdpError:
                params = None
            if params is not None:
                self.early_media = True
                self.rtp.set_remote(params)
                if self.on_early_media is not None:
                    self.on_early_media()
        if not is_reliable(response) or not response.to.tag:
            return
        try:
            rack = self._prack.rack_for(response)
        except SipParseError:
            return
        if rack is None:
            return  # a retransmission we already acknowledged, or out of order
        if self.dialog is None:
            self.dialog = Dialog.as_uac(self.invite, response)  # the early dialog
            self.rt.remember_dialog(self.dialog, self)
        prack = self.dialog.create_request("PRACK", headers=[("RAck", rack)])
        self.rt.sip.add_via(prack)
        self.rt.sip.send_request(prack, self.peer_addr, self, transport=self.transport)

    def on_stray_2xx(self, response: Response) -> None:
        if self.dialog is not None:
            self._send_ack()

    def _send_ack(self) -> None:
        assert self.dialog is not None
        ack = self.dialog.create_ack(self.invite.cseq.seq)
        self.rt.sip.add_via(ack)
        self.rt.sip.send_stateless(ack, self.peer_addr, transport=self.transport)

    def on_timeout(self, txn: ClientTransaction) -> None:
        if txn.key == self._invite_key and not self.outcome.done():
            self.outcome.set_result(408)
            self._finish("no response")


def _headers(items: list[tuple[str, str]]):  # type: ignore[no-untyped-def]
    from flowpbx.sip.headers import Headers

    headers = Headers()
    for name, value in items:
        headers.add(name, value)
    return headers


__all__ = ["ALLOW", "Leg", "LegState", "UacLeg", "UasLeg", "parse_dtmf_relay"]


def make_uas_answer(
    rt: LegHost, request: Request, rtp: RtpEndpoint, crypto: MediaCrypto | None = None
) -> tuple[bytes, MediaParams]:
    """Answer an INVITE's SDP offer with our RTP port (raises SdpError -> 488); with
    ``crypto``, SRTP as the caller's setting says (the endpoint gets the agreed keys)."""
    session_id = random.randrange(1, 2**31)

    def make(srtp: bool) -> tuple[bytes, MediaParams]:
        return answer_offer(
            request.body, address=rt.media_ip, port=rtp.port, session_id=session_id, srtp=srtp
        )

    if crypto is None:
        return make(False)
    body, params, _ = crypto.answer(request.body, make)
    if crypto.context is not None:
        rtp.use_srtp(crypto.context)
    return body, params

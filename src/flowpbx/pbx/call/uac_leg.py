"""A leg we call out on: we are the UAC of its INVITE (an extension's registered contact, a
trunk). Ringing, early media and PRACK (RFC 3262), digest answers to 401/407, CANCEL, the
2xx and its ACK; what it shares with the caller's leg is `Leg` (pbx/call/leg.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from flowpbx.pbx.call.leg import ALLOW, Addr, Leg, LegHost
from flowpbx.pbx.call.leg_states import LegState
from flowpbx.pbx.rtp.endpoint import RtpEndpoint
from flowpbx.pbx.srtp_policy import MediaCrypto
from flowpbx.sip.auth import build_authorization, parse_challenge, select_challenge
from flowpbx.sip.dialog import Dialog, DialogState
from flowpbx.sip.errors import SipParseError
from flowpbx.sip.headers import display_name
from flowpbx.sip.message import Request, Response, new_call_id, new_tag
from flowpbx.sip.prack import PrackState, is_reliable
from flowpbx.sip.sdp import MediaParams, SdpError
from flowpbx.sip.transaction import ClientTransaction


class UacLeg(Leg):
    """A leg we call out on (an extension's registered contact)."""

    owns_call_id = True  # we sent the dialog's INVITE (RFC 3261 §14.1 glare retry)

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


__all__ = ["UacLeg"]

"""The caller's leg: we are the UAS of its INVITE (180/183/200, reject, CANCEL). Its SDP
answer is written before the leg exists (pbx/call/sdp_answer.py); what it shares with the
callee's leg (dialog, re-INVITE, session timer, REFER) is `Leg` (pbx/call/leg.py)."""

from __future__ import annotations

import asyncio

from flowpbx.pbx.call.leg import ALLOW, Addr, Leg, LegHost
from flowpbx.pbx.call.leg_states import LegState
from flowpbx.pbx.rtp.endpoint import RtpEndpoint
from flowpbx.sip.dialog import Dialog
from flowpbx.sip.errors import SipParseError
from flowpbx.sip.message import Request, make_response, new_tag
from flowpbx.sip.session_timer import negotiate_uas
from flowpbx.sip.transaction import ServerTransaction


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


__all__ = ["UasLeg"]

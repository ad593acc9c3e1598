"""The SDP answer to a new INVITE's offer, written before its `UasLeg` exists (the call
manager needs it to decide 488 or a leg, pbx/call/manager.py `open_leg`)."""

from __future__ import annotations

import random

from flowpbx.pbx.call.leg import LegHost
from flowpbx.pbx.rtp.endpoint import RtpEndpoint
from flowpbx.pbx.srtp_policy import MediaCrypto
from flowpbx.sip.message import Request
from flowpbx.sip.sdp import MediaParams, answer_offer


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

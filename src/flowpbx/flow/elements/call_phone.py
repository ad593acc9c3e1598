"""`call_phone` — call an external number through the trunk; bridged until it hangs up.

`caller_id` chooses what the callee sees: ``caller`` (the caller's number as it is now,
after any `caller_id` rewrite), ``did`` (the number that was called) or a number given
as is. The call itself is the session's (`session.OutboundCalls`); a session that cannot
call out takes ``failed`` and the trace says so.

    answered    the callee answered (with `confirm`: and pressed 1); taken when it ends
    no_answer   no answer within `ring_timeout_s`
    busy        the callee was busy
    failed      the call could not be placed (no trunk, refused, not available)
"""

from __future__ import annotations

from flowpbx.flow.context import FlowContext
from flowpbx.flow.model import CallPhoneNode

_OUTPUTS = frozenset({"answered", "no_answer", "busy"})


def presented_number(caller_id: str, *, caller: str, did: str) -> str:
    if caller_id == "caller":
        return caller
    if caller_id == "did":
        return did
    return caller_id


async def run(node: CallPhoneNode, ctx: FlowContext) -> str:
    params = node.params
    session = ctx.session
    shown = presented_number(params.caller_id, caller=session.caller, did=session.did)
    ctx.facts["number"] = params.number
    ctx.facts["caller_id"] = shown
    result = await ctx.dial_number(
        params.number,
        ring_timeout_s=params.ring_timeout_s,
        caller_id=shown,
        confirm=params.confirm,
    )
    if result is None:
        ctx.not_available("Calling a phone number")
        return "failed"
    ctx.facts["dial"] = result.outcome
    if result.outcome == "answered":
        ctx.facts["answered_by"] = result.answered_by or params.number
        ctx.facts["talk_s"] = round(result.talk_s, 1)
    if result.detail:
        ctx.facts["detail"] = result.detail
    return result.outcome if result.outcome in _OUTPUTS else "failed"

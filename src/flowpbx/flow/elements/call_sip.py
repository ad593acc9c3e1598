"""`call_sip` — ring an extension's phones; bridged until the callee hangs up."""

from __future__ import annotations

from flowpbx.flow.context import FlowContext
from flowpbx.flow.model import CallSipNode

_OUTPUTS = frozenset({"answered", "no_answer", "busy", "offline"})


async def run(node: CallSipNode, ctx: FlowContext) -> str:
    params = node.params
    ctx.facts["extension"] = params.extension
    result = await ctx.dial_extension(params.extension, ring_timeout_s=params.ring_timeout_s)
    ctx.facts["dial"] = result.outcome
    if result.outcome == "answered":
        ctx.facts["answered_by"] = result.answered_by or params.extension
        ctx.facts["talk_s"] = round(result.talk_s, 1)
    if result.detail:
        ctx.facts["detail"] = result.detail
    # "failed" (e.g. no route) is, for the caller, the same as nobody being there.
    return result.outcome if result.outcome in _OUTPUTS else "offline"

"""Elements whose runtime pieces come in a later milestone.

They record "not yet available" in the trace and do what they can without those pieces,
taking the output a flow author connects to the fallback path, so a flow using them still
runs end to end. Each takes an output it could also take for real after the same kind of
wait (the loop rule of `validate.py` relies on it): the queue plays its hold audio once
and times out; voicemail plays its greeting and records nothing; a call to a phone number
fails at once.
"""

from __future__ import annotations

from flowpbx.flow.context import FlowContext
from flowpbx.flow.model import CallPhoneNode, QueueNode, VoicemailNode


async def run_call_phone(node: CallPhoneNode, ctx: FlowContext) -> str:
    ctx.facts["number"] = node.params.number
    ctx.not_available("Calling a phone number")
    return "failed"


async def run_voicemail(node: VoicemailNode, ctx: FlowContext) -> str:
    params = node.params
    ctx.facts["mailbox"] = params.mailbox
    ctx.variables["mailbox"] = params.mailbox
    ctx.not_available("Voicemail")
    await ctx.session.answer()
    await ctx.play(params.greeting)
    return "no_message" if params.mode == "leave" else "done"


async def run_queue(node: QueueNode, ctx: FlowContext) -> str:
    ctx.facts["queue"] = node.params.name or f"{ctx.flow.name}/{ctx.node_id}"
    ctx.not_available("The queue")
    await ctx.session.answer()
    await ctx.play(node.params.hold_audio)
    return "timeout"

"""Elements whose runtime pieces come in a later milestone.

They record "not yet available" in the trace and take the output a flow author would
have connected to the fallback path, so a flow using them still runs end to end.
"""

from __future__ import annotations

from flowpbx.flow.context import FlowContext
from flowpbx.flow.model import CallPhoneNode, HistoryRoutingNode, QueueNode, VoicemailNode


async def run_call_phone(node: CallPhoneNode, ctx: FlowContext) -> str:
    ctx.facts["number"] = node.params.number
    ctx.not_available("Calling a phone number")
    return "failed"


async def run_voicemail(node: VoicemailNode, ctx: FlowContext) -> str:
    ctx.facts["mailbox"] = node.params.mailbox
    ctx.variables["mailbox"] = node.params.mailbox
    ctx.not_available("Voicemail")
    return "no_message" if node.params.mode == "leave" else "done"


async def run_queue(node: QueueNode, ctx: FlowContext) -> str:
    ctx.facts["queue"] = node.params.name or f"{ctx.flow.name}/{ctx.node_id}"
    ctx.not_available("The queue")
    return "timeout"


async def run_history_routing(node: HistoryRoutingNode, ctx: FlowContext) -> str:
    ctx.not_available("Routing by call history")
    return "not_found"

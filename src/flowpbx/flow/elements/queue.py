"""`queue` — the caller waits in line while free members are rung by the strategy.

The waiting line, member states and ringing are the session's (`session.QueueCalls`; the
choice of whom to ring is the pure `queue_policy.pick_members`). The element names the
line (default: flow name + node id, so elements with the same `name` share one line),
records the wait in the trace and in ``{queue_wait_s}``, and takes the session's outcome:

    answered    a member answered; taken when the bridged call ends
    timeout     `max_wait_s` passed
    full        `max_callers` were already waiting (at once)
    empty       nobody could take calls and `join_empty` is off (at once)
    exit        the caller pressed `exit_key`

A session without queues plays the hold audio once and takes ``timeout`` (the trace says
the queue is not available).
"""

from __future__ import annotations

from flowpbx.flow.context import FlowContext
from flowpbx.flow.model import QueueNode
from flowpbx.flow.session import CallEnded, QueueCalls


def queue_name(node: QueueNode, ctx: FlowContext) -> str:
    return node.params.name or f"{ctx.flow.name}/{ctx.node_id}"


async def run(node: QueueNode, ctx: FlowContext) -> str:
    params = node.params
    name = queue_name(node, ctx)
    ctx.facts["queue"] = name
    session = ctx.session
    if not isinstance(session, QueueCalls):
        ctx.not_available("The queue")
        await session.answer()
        await ctx.play(params.hold_audio)
        return "timeout"
    try:
        result = await session.run_queue(name, params)
    except CallEnded as ended:
        ctx.note_bridged_hangup(ended, name)
        raise
    if result.outcome not in ("full", "empty"):
        ctx.waited = True
    wait = round(result.wait_s, 1)
    ctx.facts["wait_s"] = wait
    ctx.variables["queue_wait_s"] = round(result.wait_s)
    if result.outcome == "answered":
        ctx.answered_by = result.answered_by or name
        ctx.facts["answered_by"] = ctx.answered_by
        ctx.facts["talk_s"] = round(result.talk_s, 1)
    return result.outcome

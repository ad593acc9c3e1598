"""The flow interpreter: one async loop that walks a flow's elements on one call.

Each step runs the element registered for the node's type (`elements.ELEMENTS`), records
a `TraceEntry` (time since start, node, type, output taken, facts) and follows the output.
The same loop serves live calls (`pbx/` session) and dry runs (`simulator.py`).

How a run ends (`FlowRun.outcome`; a final trace entry of type ``end`` says why):

    answered        someone answered (a `call_sip`, a menu's direct dial) and the call
                    then ended in any ordinary way
    hangup          a `hangup` element, or an output that is not connected
    caller_hangup   the caller hung up (`CallEnded` from the session)
    step_limit      `max_steps` elements in a row without waiting for the caller (SPEC §3)
    error           an element raised; the call is hung up, the exception never escapes

The step counter resets whenever an element waited for the caller (played audio, waited
for a key, rang someone; an `http_notify` waiting for its reply).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flowpbx.flow.context import END, FlowContext, FlowServices
from flowpbx.flow.elements import ELEMENTS
from flowpbx.flow.model import Flow
from flowpbx.flow.session import CallEnded, CallSession

__all__ = ["MAX_STEPS", "FlowRun", "TraceEntry", "run_flow"]

MAX_STEPS = 50


@dataclass(frozen=True, slots=True, kw_only=True)
class TraceEntry:
    """One step of a call through its flow (SPEC §3 trace)."""

    t: float  # seconds since the flow started
    node: str
    type: str  # element type, or "end" for the entry that says how the run ended
    output: str | None
    facts: dict[str, object] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "t": round(self.t, 3),
            "node": self.node,
            "type": self.type,
            "output": self.output,
            "facts": self.facts,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class FlowRun:
    """What happened on one call: its trace and how it ended."""

    trace: list[TraceEntry]
    outcome: str
    reason: str
    answered_by: str | None
    variables: dict[str, object]

    @property
    def path(self) -> list[str]:
        """Node ids visited, in order (the UI lights these up)."""
        path = []
        for entry in self.trace:
            if entry.type == "end":  # after it: emails sent when the call ended
                break
            path.append(entry.node)
        return path

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "reason": self.reason,
            "answered_by": self.answered_by,
            "variables": self.variables,
            "trace": [e.to_dict() for e in self.trace],
        }


async def _hangup(session: CallSession, reason: str) -> None:
    try:
        await session.hangup(reason)
    except Exception:  # the caller may be gone already; nothing more to do for this call
        pass


async def _send_pending_emails(ctx: FlowContext, trace: list[TraceEntry]) -> None:
    send = ctx.services.send_email
    if not ctx.pending_emails or send is None:
        return
    if ctx.answered_by is not None or ctx.voicemail_left:
        return
    for message in ctx.pending_emails:
        facts: dict[str, object] = {"to": list(message.to), "subject": message.subject}
        try:
            await send(message)
            facts["sent"] = True
        except Exception as exc:
            facts["error"] = f"{type(exc).__name__}: {exc}"[:200]
        trace.append(TraceEntry(t=ctx.elapsed(), node="", type="email", output=None, facts=facts))


def _end_entry(t: float, node_id: str, reason: str, output: str | None = None) -> TraceEntry:
    facts: dict[str, object] = {"reason": reason}
    return TraceEntry(t=t, node=node_id, type="end", output=output, facts=facts)


async def run_flow(
    flow: Flow,
    session: CallSession,
    *,
    services: FlowServices | None = None,
    max_steps: int = MAX_STEPS,
) -> FlowRun:
    """Run `flow` on `session` until the call ends. Never raises for call or flow trouble
    (CancelledError still propagates, so the call's task can be cancelled)."""
    ctx = FlowContext(flow, session, services)
    trace: list[TraceEntry] = []
    append = trace.append
    nodes = flow.nodes
    node_id = flow.entry
    steps = 0
    outcome = "hangup"
    hang_up = True
    started = ctx.started

    while True:
        node = nodes.get(node_id)
        if node is None:  # load_flow prevents this; stay polite if a caller built one by hand
            outcome, reason = "error", f"node {node_id!r} does not exist"
            append(_end_entry(ctx.elapsed(), node_id, reason))
            break
        if steps >= max_steps:
            outcome = "step_limit"
            reason = (
                f"{max_steps} steps without waiting for the caller (stopped at node "
                f"{node_id!r}): the flow loops, hanging up"
            )
            append(_end_entry(ctx.elapsed(), node_id, reason))
            break
        steps += 1
        ctx.node_id = node_id
        facts: dict[str, object] = {}
        ctx.facts = facts
        ctx.waited = False
        try:
            output = await ELEMENTS[node.type](node, ctx)
        except CallEnded as exc:
            t = ctx.elapsed()
            facts["caller_hangup"] = exc.reason
            # Hung up while bridged: the element did take its `answered` output.
            taken = exc.result.outcome if exc.result is not None else None
            append(TraceEntry(t=t, node=node_id, type=node.type, output=taken, facts=facts))
            outcome, reason, hang_up = "caller_hangup", exc.reason, False
            append(_end_entry(t, node_id, reason))
            break
        except Exception as exc:
            t = ctx.elapsed()
            error = f"{type(exc).__name__}: {exc}"[:300]
            facts["error"] = error
            append(TraceEntry(t=t, node=node_id, type=node.type, output=None, facts=facts))
            outcome, reason = "error", f"element {node_id!r} ({node.type}) failed: {error}"
            append(_end_entry(t, node_id, reason))
            break
        t = (session.now() - started).total_seconds()
        if output == END:
            append(TraceEntry(t=t, node=node_id, type=node.type, output=None, facts=facts))
            reason = f"call finished by {node_id!r} ({node.type})"
            append(_end_entry(t, node_id, reason))
            break
        append(TraceEntry(t=t, node=node_id, type=node.type, output=output, facts=facts))
        if ctx.waited:
            steps = 0
        target = node.next.get(output)
        if target is None:
            reason = f"output {output} of node {node_id} is not connected"
            append(_end_entry(t, node_id, reason, output))
            break
        node_id = target

    if hang_up:
        await _hangup(session, reason)
    if ctx.answered_by is not None and outcome in ("hangup", "caller_hangup"):
        outcome = "answered"
    await _send_pending_emails(ctx, trace)
    return FlowRun(
        trace=trace,
        outcome=outcome,
        reason=reason,
        answered_by=ctx.answered_by,
        variables=ctx.variables,
    )

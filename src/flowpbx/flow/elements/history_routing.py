"""`history_routing` — ring the operator who last talked with this caller.

The caller's earlier calls come from `FlowServices.call_history` (the store's call history
on live calls, the script in the simulator). The operator is whoever answered the most
recent call that started within `lookback_days` and lasted at least `min_talk_s` (ties:
the first listed); with `FlowServices.extensions` known, only a current extension counts.
The caller number looked up is the one the call arrived with, before any `caller_id`
rewrite.

    answered    the operator answered (taken when the bridged call ends)
    not_found   no such earlier call (or no call history service)
    no_answer   the operator did not answer, was busy or is not registered
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence

from flowpbx.flow.context import FlowContext, PastCall
from flowpbx.flow.model import HistoryRoutingNode, HistoryRoutingParams


def choose_operator(
    calls: Sequence[PastCall],
    params: HistoryRoutingParams,
    now: dt.datetime,
    extensions: Collection[str] | None = None,
) -> PastCall | None:
    """The call whose operator to ring, or None."""
    since = now - dt.timedelta(days=params.lookback_days)
    best: PastCall | None = None
    best_at = since
    for call in calls:
        if call.answered_by is None or call.talk_s < params.min_talk_s:
            continue
        started = call.started_at
        if started.tzinfo is None:  # a naive time from a store is UTC
            started = started.replace(tzinfo=dt.UTC)
        if not since <= started <= now:
            continue
        if extensions is not None and call.answered_by not in extensions:
            continue
        if best is None or started > best_at:
            best, best_at = call, started
    return best


async def run(node: HistoryRoutingNode, ctx: FlowContext) -> str:
    params = node.params
    lookup = ctx.services.call_history
    if lookup is None:
        ctx.not_available("Call history")
        return "not_found"
    now = ctx.session.now()
    calls = await lookup(ctx.caller, now - dt.timedelta(days=params.lookback_days))
    known = ctx.services.extensions() if ctx.services.extensions is not None else None
    chosen = choose_operator(calls, params, now, known)
    ctx.facts["calls_seen"] = len(calls)
    if chosen is None or chosen.answered_by is None:
        return "not_found"
    operator = chosen.answered_by
    ctx.facts["operator"] = operator
    ctx.facts["last_call"] = chosen.started_at.isoformat(timespec="seconds")
    result = await ctx.dial_extension(operator, ring_timeout_s=params.ring_timeout_s)
    ctx.facts["dial"] = result.outcome
    if result.outcome == "answered":
        ctx.facts["talk_s"] = round(result.talk_s, 1)
        return "answered"
    return "no_answer"

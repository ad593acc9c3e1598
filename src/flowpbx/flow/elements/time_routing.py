"""`time_routing` — ``true`` inside office hours, ``false`` outside.

A named schedule comes from `FlowServices.schedule`; inline hours are compiled once per
params object. `override` (``open`` / ``closed``) wins over both. A named schedule that
cannot be found routes as closed, and the trace says so.
"""

from __future__ import annotations

from flowpbx.flow.context import FlowContext
from flowpbx.flow.model import TimeRoutingNode, TimeRoutingParams
from flowpbx.flow.schedule import Schedule

_COMPILED: dict[int, tuple[TimeRoutingParams, Schedule]] = {}
_MAX_COMPILED = 4096


def _inline(params: TimeRoutingParams) -> Schedule:
    hit = _COMPILED.get(id(params))
    if hit is not None and hit[0] is params:
        return hit[1]
    spec = params.inline_spec()
    assert spec is not None
    schedule = Schedule.from_spec(spec, override=params.override)
    if len(_COMPILED) >= _MAX_COMPILED:
        _COMPILED.clear()
    _COMPILED[id(params)] = (params, schedule)
    return schedule


async def run(node: TimeRoutingNode, ctx: FlowContext) -> str:
    params = node.params
    if params.override is not None:
        ctx.facts["override"] = params.override
        return "true" if params.override == "open" else "false"
    if params.schedule is not None:
        lookup = ctx.services.schedule
        schedule = lookup(params.schedule) if lookup is not None else None
        ctx.facts["schedule"] = params.schedule
        if schedule is None:
            ctx.facts["note"] = f"schedule {params.schedule!r} not found: routed as closed"
            return "false"
    else:
        schedule = _inline(params)
    local = schedule.local(ctx.session.now())
    is_open = schedule.is_open(local)
    ctx.facts["local_time"] = local.strftime("%a %Y-%m-%d %H:%M %Z")
    ctx.facts["open"] = is_open
    return "true" if is_open else "false"

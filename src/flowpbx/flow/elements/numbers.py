"""`numbers` — the flow's entry; nothing to do but note the number that was called."""

from __future__ import annotations

from flowpbx.flow.context import FlowContext
from flowpbx.flow.model import NumbersNode


async def run(node: NumbersNode, ctx: FlowContext) -> str:
    ctx.facts["did"] = ctx.session.did
    ctx.facts["caller"] = ctx.session.caller
    return "next"

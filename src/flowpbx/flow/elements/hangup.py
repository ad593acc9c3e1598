"""`hangup` — end the call (the interpreter sends the hang-up)."""

from __future__ import annotations

from flowpbx.flow.context import END, FlowContext
from flowpbx.flow.model import HangupNode


async def run(node: HangupNode, ctx: FlowContext) -> str:
    return END

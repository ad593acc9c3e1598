"""`play` — play library audio `repeat` times; with ``answer=false`` as early media.

Digits pressed meanwhile stay in the session's buffer, so a caller who already knows the
next menu can type ahead.
"""

from __future__ import annotations

from flowpbx.flow.context import FlowContext
from flowpbx.flow.model import PlayNode


async def run(node: PlayNode, ctx: FlowContext) -> str:
    params = node.params
    if params.answer:
        await ctx.session.answer()
    ctx.facts["audio"] = params.audio
    if params.repeat != 1:
        ctx.facts["repeat"] = params.repeat
    if not params.answer and not ctx.session.answered:
        ctx.facts["early_media"] = True
    await ctx.play(params.audio, repeat=params.repeat, early=not params.answer)
    return "next"

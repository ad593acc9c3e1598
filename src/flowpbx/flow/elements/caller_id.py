"""`caller_id` — rewrite the caller's number (strip, prefix, suffix) and name prefix.

`strip` removes that many leading digits; a leading ``+`` goes with them.
"""

from __future__ import annotations

from flowpbx.flow.context import FlowContext
from flowpbx.flow.model import CallerIdNode


def rewrite(number: str, *, prefix: str, suffix: str, strip: int) -> str:
    if strip:
        digits = number[1:] if number.startswith("+") else number
        number = digits[strip:]
    return f"{prefix}{number}{suffix}"


async def run(node: CallerIdNode, ctx: FlowContext) -> str:
    params = node.params
    session = ctx.session
    old_number, old_name = session.caller, session.caller_name
    number = rewrite(old_number, prefix=params.prefix, suffix=params.suffix, strip=params.strip)
    name = old_name
    if params.name_prefix:
        name = params.name_prefix + (old_name or number)
    session.set_caller(number, name)
    ctx.facts["caller"] = number
    if name != old_name:
        ctx.facts["caller_name"] = name
    return "next"

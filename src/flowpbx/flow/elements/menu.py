"""`menu` — play a prompt (callers may barge in), wait for a key, retry, route.

One attempt = the prompt (interrupted by the first key) + up to `timeout_s` waiting for a
key. A key the menu offers is taken at once. No key → a timeout; any other key → invalid
(the `invalid_prompt` is played before the prompt again). After the first attempt the
menu tries `retries` more times; when they run out it takes ``timeout`` or ``invalid``
(whichever the last attempt was).

Direct dial (``direct_dial=true``): when the first key begins an extension number, more
digits are collected (each within `INTERDIGIT_S`, ``#`` ends early). A complete
extension is rung; answered → the call is finished; otherwise the menu tries again. When
the collection ends on a single key that is a menu key, that key is taken.
"""

from __future__ import annotations

from collections.abc import Collection

from flowpbx.flow.context import END, FlowContext
from flowpbx.flow.model import MenuNode

INTERDIGIT_S = 3.0
DIRECT_DIAL_RING_S = 20.0


def _is_prefix(digits: str, extensions: Collection[str]) -> bool:
    return any(ext.startswith(digits) for ext in extensions)


def _longer_exists(digits: str, extensions: Collection[str]) -> bool:
    return any(len(ext) > len(digits) and ext.startswith(digits) for ext in extensions)


async def _collect(first: str, extensions: Collection[str], ctx: FlowContext) -> str:
    """Collect an extension number that starts with `first`."""
    collected = first
    while _longer_exists(collected, extensions):
        digit = await ctx.get_digit(INTERDIGIT_S)
        if digit is None or digit == "#":
            break
        collected += digit
        if not _is_prefix(collected, extensions):
            break
    return collected


async def run(node: MenuNode, ctx: FlowContext) -> str:
    params = node.params
    session = ctx.session
    keys = node.menu_keys()
    extensions: Collection[str] = ()
    if params.direct_dial and ctx.services.extensions is not None:
        extensions = ctx.services.extensions()
    await session.answer()
    pressed: list[str] = []
    attempt = 0
    while True:
        attempt += 1
        await ctx.play(params.prompt, barge_in=True)
        digit = await ctx.get_digit(params.timeout_s)
        failure: str
        if digit is None:
            failure = "timeout"
            pressed.append("-")
        elif extensions and _is_prefix(digit, extensions):
            dialled = await _collect(digit, extensions, ctx)
            pressed.append(dialled)
            if dialled in extensions:
                result = await ctx.dial_extension(dialled, ring_timeout_s=DIRECT_DIAL_RING_S)
                ctx.facts["direct_dial"] = dialled
                ctx.facts["dial"] = result.outcome
                if result.outcome == "answered":
                    ctx.facts["pressed"] = pressed
                    return END
                failure = "invalid"
            elif dialled in keys:
                ctx.facts["pressed"] = pressed
                return dialled
            else:
                failure = "invalid"
        elif digit in keys:
            pressed.append(digit)
            ctx.facts["pressed"] = pressed
            return digit
        else:
            failure = "invalid"
            pressed.append(digit)
        ctx.facts["pressed"] = pressed
        if attempt > params.retries:
            ctx.facts["attempts"] = attempt
            return failure
        session.flush_digits()
        if failure == "invalid" and params.invalid_prompt:
            await ctx.play(params.invalid_prompt, barge_in=True)

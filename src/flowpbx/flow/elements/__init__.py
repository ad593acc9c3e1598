"""One module per element type; `ELEMENTS` maps a type to its `run(node, ctx) -> output`.

Each element is ``async def run(node, ctx) -> str``: it does its work through
`ctx` (the call session and services) and returns the name of the output taken, or
`context.END` when it finished the call itself (`hangup`, a menu's direct dial that was
answered). Facts for the trace go into ``ctx.facts``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from flowpbx.flow.context import FlowContext
from flowpbx.flow.elements import (
    call_phone,
    call_sip,
    caller_id,
    caller_lookup,
    email,
    hangup,
    history_routing,
    http_notify,
    menu,
    numbers,
    play,
    queue,
    time_routing,
    voicemail,
)

__all__ = ["ELEMENTS", "Element"]

Element = Callable[[Any, FlowContext], Awaitable[str]]

ELEMENTS: dict[str, Element] = {
    "numbers": numbers.run,
    "play": play.run,
    "menu": menu.run,
    "call_sip": call_sip.run,
    "hangup": hangup.run,
    "caller_id": caller_id.run,
    "time_routing": time_routing.run,
    "http_notify": http_notify.run,
    "caller_lookup": caller_lookup.run,
    "email": email.run,
    "call_phone": call_phone.run,
    "voicemail": voicemail.run,
    "queue": queue.run,
    "history_routing": history_routing.run,
}

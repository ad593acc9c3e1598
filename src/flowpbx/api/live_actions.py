"""Calls into the live PBX that may or may not be there (`create_api(store, None)`).

Optional service methods are looked up with `getattr`: without them an endpoint answers
501 `not-implemented` rather than pretending to act.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flowpbx.api.errors import ApiError
from flowpbx.api.live import LiveService

log = logging.getLogger("flowpbx.api")


async def reload_live(live: LiveService | None) -> None:
    """Tell a running PBX to take the new configuration; the write already succeeded."""
    if live is None:
        return
    try:
        await live.reload()
    except Exception:  # a reload problem must not turn a saved change into an API error
        log.exception("live reload after a configuration change failed")


def require_live(live: LiveService | None) -> LiveService:
    if live is None:
        raise ApiError(503, "pbx-unavailable", "the PBX is not running in this process")
    return live


def optional_action(live: LiveService | None, name: str) -> Callable[..., Any]:
    svc = require_live(live)
    fn = getattr(svc, name, None)
    if not callable(fn):
        raise ApiError(
            501,
            "not-implemented",
            f"the running PBX does not offer {name!r} yet",
            details={"action": name},
        )
    return fn  # type: ignore[no-any-return]

"""Calls into the live PBX that may or may not be there (`create_api(store, None)`)."""

from __future__ import annotations

import logging

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

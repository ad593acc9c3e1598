"""The one 20 ms media clock every player and mixing bridge ticks on.

Its deadlines are an absolute schedule (start + n x 20 ms), so drift never accumulates. The
clock also checks every watched endpoint once a second for an RTP timeout (no packet for
N seconds -> a callback, so the call can be hung up) — no per-packet clock reads.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol, TypeVar

from flowpbx.pbx.rtp.endpoint import RtpEndpoint

log = logging.getLogger("flowpbx.media")

PTIME = 0.020
RTP_TIMEOUT_S = 60.0  # no packet for this long on an answered, bridged leg: hang up


class Ticker(Protocol):
    """What runs on the media clock: a `Player`, a mixing `Bridge` (pbx/rtp/bridge.py)."""

    done: asyncio.Future[None]

    def tick(self) -> bool:
        """Do this 20 ms tick's work; False when finished."""
        ...


T = TypeVar("T", bound=Ticker)


class _RtpWatch:
    __slots__ = ("endpoint", "idle_s", "last_count", "on_timeout", "timeout_s")

    def __init__(
        self, endpoint: RtpEndpoint, timeout_s: float, on_timeout: Callable[[], None]
    ) -> None:
        self.endpoint = endpoint
        self.timeout_s = timeout_s
        self.on_timeout = on_timeout
        self.last_count = endpoint.packets_in
        self.idle_s = 0.0


class MediaClock:
    """The one 20 ms clock every player and mixing bridge runs on, on an absolute schedule."""

    WATCH_INTERVAL = 1.0

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._players: list[Ticker] = []
        self._handle: asyncio.TimerHandle | None = None
        self._next = 0.0
        self.late_ticks = 0
        self._watches: dict[RtpEndpoint, _RtpWatch] = {}
        self._watch_handle: asyncio.TimerHandle | None = None

    def start_player(self, player: T) -> T:
        self._players.append(player)
        if self._handle is None:
            self._next = self._loop.time()
            self._tick()
        return player

    def stop_player(self, player: Ticker) -> None:
        if player in self._players:
            self._players.remove(player)
        if not player.done.done():
            player.done.set_result(None)

    # -- RTP timeout -------------------------------------------------------------------------

    def watch_rtp(
        self, endpoint: RtpEndpoint, timeout_s: float, on_timeout: Callable[[], None]
    ) -> None:
        """Call `on_timeout` once when `endpoint` receives no packet for `timeout_s` seconds
        (checked once a second by comparing packet counters, nothing per packet)."""
        self._watches[endpoint] = _RtpWatch(endpoint, timeout_s, on_timeout)
        if self._watch_handle is None:
            self._watch_handle = self._loop.call_later(self.WATCH_INTERVAL, self._check_watches)

    def unwatch_rtp(self, endpoint: RtpEndpoint) -> None:
        self._watches.pop(endpoint, None)

    def _check_watches(self) -> None:
        self._watch_handle = None
        fired: list[_RtpWatch] = []
        for endpoint, watch in list(self._watches.items()):
            if endpoint.closed:
                del self._watches[endpoint]
                continue
            count = endpoint.packets_in
            params = endpoint.params
            on_hold = params is not None and params.direction in ("sendonly", "inactive")
            if count != watch.last_count or on_hold:  # on hold the far end may stay silent
                watch.last_count = count
                watch.idle_s = 0.0
                continue
            watch.idle_s += self.WATCH_INTERVAL
            if watch.idle_s >= watch.timeout_s:
                del self._watches[endpoint]
                fired.append(watch)
        for watch in fired:
            try:
                watch.on_timeout()
            except Exception:
                log.exception("RTP timeout callback failed")
        if self._watches:
            self._watch_handle = self._loop.call_later(self.WATCH_INTERVAL, self._check_watches)

    def _tick(self) -> None:
        self._handle = None
        # A copy: a ticker may start or stop tickers (a bridge's source ends) while ticking.
        finished = [p for p in list(self._players) if not p.tick()]
        for player in finished:
            self.stop_player(player)
        if not self._players:
            return
        now = self._loop.time()
        self._next += PTIME
        if now - self._next > 5 * PTIME:  # the loop stalled: restart the schedule, do not burst
            self.late_ticks += 1
            self._next = now + PTIME
        self._handle = self._loop.call_at(self._next, self._tick)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self._watch_handle is not None:
            self._watch_handle.cancel()
            self._watch_handle = None
        self._watches.clear()
        for player in list(self._players):
            self.stop_player(player)

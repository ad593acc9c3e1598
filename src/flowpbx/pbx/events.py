"""Live events of the PBX (registrations, calls, queues) for whoever listens — the API's
websocket, metrics. Subscribers are plain callables run synchronously; a failing one is
logged and never disturbs the call path."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger("flowpbx.events")

Subscriber = Callable[[dict[str, Any]], None]


class EventHub:
    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []
        self.counters: dict[str, int] = {}

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        self._subscribers.append(subscriber)

        def unsubscribe() -> None:
            if subscriber in self._subscribers:
                self._subscribers.remove(subscriber)

        return unsubscribe

    def emit(self, kind: str, **data: Any) -> None:
        self.counters[kind] = self.counters.get(kind, 0) + 1
        if not self._subscribers:
            return
        event = {"type": kind, "at": dt.datetime.now(dt.UTC).isoformat(), **data}
        for subscriber in list(self._subscribers):
            try:
                subscriber(event)
            except Exception:
                log.exception("event subscriber failed on %s", kind)


def count(counts: dict[str, int], label: str, delta: int) -> None:
    """Live per-extension counters (busy, ringing): add `delta`, forget zeros."""
    value = counts.get(label, 0) + delta
    if value > 0:
        counts[label] = value
    else:
        counts.pop(label, None)

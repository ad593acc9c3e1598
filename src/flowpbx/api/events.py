"""A tiny in-process pub/sub for live events, and the `/api/v1/events` websocket.

Any layer publishes with `publish({"type": "call.start", ...})` (pbx/ through its
service); every websocket subscriber receives each event as one JSON text message.
Publishing never blocks and never fails: a subscriber that does not keep up loses its
oldest events (its queue is bounded), so a stuck browser cannot hold memory or the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from flowpbx.api.deps import SESSION_COOKIE

QUEUE_SIZE = 1000


class EventBus:
    def __init__(self, queue_size: int = QUEUE_SIZE) -> None:
        self.queue_size = queue_size
        self._subscribers: set[asyncio.Queue[dict[str, Any]]] = set()

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        q: asyncio.Queue[dict[str, Any]] = asyncio.Queue(self.queue_size)
        self._subscribers.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue[dict[str, Any]]) -> None:
        self._subscribers.discard(q)

    def publish(self, event: dict[str, Any]) -> None:
        if "type" not in event:
            raise ValueError("an event needs a 'type'")
        event = {**event}
        event.setdefault("at", dt.datetime.now(dt.UTC).isoformat())
        for q in list(self._subscribers):
            if q.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    q.get_nowait()
            q.put_nowait(event)


BUS = EventBus()


def publish(event: dict[str, Any]) -> None:
    """Send `event` (a JSON-ready dict with a `type`) to every connected websocket."""
    BUS.publish(event)


router = APIRouter(tags=["events"])


@router.websocket("/api/v1/events")
async def events(websocket: WebSocket) -> None:
    """Live events as JSON text messages; auth by `?token=` or the session cookie."""
    store = websocket.app.state.store
    token = websocket.query_params.get("token") or websocket.cookies.get(SESSION_COOKIE)
    user = await store.user_for_token(token) if token else None
    if user is None:
        await websocket.close(code=4401, reason="unauthorized")
        return
    bus: EventBus = websocket.app.state.events
    q = bus.subscribe()
    try:
        await websocket.accept()
        await websocket.send_json({"type": "hello", "user": user.username})
        receiver = asyncio.create_task(_drain(websocket))
        try:
            while not receiver.done():
                getter = asyncio.create_task(q.get())
                done, _ = await asyncio.wait(
                    {getter, receiver}, return_when=asyncio.FIRST_COMPLETED
                )
                if getter in done:
                    await websocket.send_json(getter.result())
                else:
                    getter.cancel()
        finally:
            receiver.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await receiver
    except WebSocketDisconnect:
        pass
    finally:
        bus.unsubscribe(q)


async def _drain(websocket: WebSocket) -> None:
    """Read (and ignore) what the client sends, to notice when it goes away."""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            await websocket.receive_text()

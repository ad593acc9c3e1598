"""A tiny in-process pub/sub for live events, and the `/api/v1/events` websocket.

Any layer publishes with `publish({"type": "call.start", ...})` (pbx/ through its
service); every websocket subscriber receives each event as one JSON text message.
Publishing never blocks and never fails: a subscriber that does not keep up loses its
oldest events (its queue is bounded), so a stuck browser cannot hold memory or the loop.

A websocket lives only as long as the session or token that opened it: logging out closes
every websocket of that session at once (`SessionSockets.end`, code 4401), and each one
checks its token again every `RECHECK_S` seconds, so a session that expired, a deleted user
or a revoked token stops receiving events too.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from flowpbx.api.deps import SESSION_COOKIE
from flowpbx.store.db import Store
from flowpbx.store.records import UserRec
from flowpbx.store.repos import users as users_repo

QUEUE_SIZE = 1000
RECHECK_S = 60.0
CLOSE_UNAUTHORIZED = 4401


class SessionSockets:
    """The open websockets of each session or token, to close them when it ends."""

    def __init__(self) -> None:
        self._ended: dict[str, set[asyncio.Event]] = {}

    def open(self, token: str) -> asyncio.Event:
        """An event set when `token` ends (logout); `close(token, event)` when done."""
        ended = asyncio.Event()
        self._ended.setdefault(token, set()).add(ended)
        return ended

    def close(self, token: str, ended: asyncio.Event) -> None:
        events = self._ended.get(token)
        if events is not None:
            events.discard(ended)
            if not events:
                del self._ended[token]

    def end(self, token: str) -> int:
        """Tell every websocket of `token` to close; how many there were."""
        events = self._ended.pop(token, set())
        for ended in events:
            ended.set()
        return len(events)


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


async def _user_for(store: Store, token: str) -> UserRec | None:
    async with store.sessions() as s:
        return await users_repo.user_for_token(s, token, dt.datetime.now(dt.UTC))


@router.websocket("/api/v1/events")
async def events(websocket: WebSocket) -> None:
    """Live events as JSON text messages; auth by the session cookie (the web UI) or, for
    API clients, `?token=`. Closed with code 4401 when the session ends."""
    store = websocket.app.state.store
    token = websocket.query_params.get("token") or websocket.cookies.get(SESSION_COOKIE)
    user = await _user_for(store, token) if token else None
    if user is None or token is None:
        await websocket.close(code=CLOSE_UNAUTHORIZED, reason="unauthorized")
        return
    bus: EventBus = websocket.app.state.events
    sockets: SessionSockets = websocket.app.state.event_sockets
    q = bus.subscribe()
    ended = sockets.open(token)
    try:
        await websocket.accept()
        await websocket.send_json({"type": "hello", "user": user.username})
        receiver = asyncio.create_task(_drain(websocket))
        logout = asyncio.create_task(ended.wait())
        loop = asyncio.get_running_loop()
        recheck_at = loop.time() + RECHECK_S  # events flowing all the time do not delay it
        try:
            while not receiver.done():
                getter = asyncio.create_task(q.get())
                done, _ = await asyncio.wait(
                    {getter, receiver, logout},
                    timeout=max(0.0, recheck_at - loop.time()),
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if getter in done:
                    await websocket.send_json(getter.result())
                else:
                    getter.cancel()
                expired = False
                if logout not in done and loop.time() >= recheck_at:
                    recheck_at = loop.time() + RECHECK_S
                    expired = await _user_for(store, token) is None
                if logout in done or expired:
                    await websocket.close(code=CLOSE_UNAUTHORIZED, reason="session ended")
                    break
        finally:
            for task in (receiver, logout):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
    except WebSocketDisconnect:
        pass
    finally:
        sockets.close(token, ended)
        bus.unsubscribe(q)


async def _drain(websocket: WebSocket) -> None:
    """Read (and ignore) what the client sends, to notice when it goes away."""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            await websocket.receive_text()

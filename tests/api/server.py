"""A real uvicorn server for API tests, on a free loopback port, in the test's own loop
(`serve_in_loop`) or in a thread of its own (`ThreadedServer`, for sync clients such as
schemathesis)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import uvicorn
from fastapi import FastAPI

from tests.netutil import free_tcp_port


def _server(app: FastAPI, port: int) -> uvicorn.Server:
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
        access_log=False,
        ws="websockets-sansio",
    )
    server = uvicorn.Server(config)
    setattr(server, "capture_signals", contextlib.nullcontext)  # noqa: B010 - leave pytest's
    return server


@contextlib.asynccontextmanager
async def serve_in_loop(app: FastAPI) -> AsyncIterator[str]:
    """Serve `app` on 127.0.0.1:<free port> in the running loop; yields the base URL."""
    port = free_tcp_port()
    server = _server(app, port)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()  # raises what stopped it
                raise RuntimeError("uvicorn exited before it started")
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


class ThreadedServer:
    """uvicorn in a thread with its own event loop; `build()` makes the app inside it."""

    def __init__(
        self,
        build: Callable[[], Awaitable[FastAPI]],
        cleanup: Callable[[], Awaitable[Any]] | None = None,
    ) -> None:
        self._build = build
        self._cleanup = cleanup
        self.port = free_tcp_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: uvicorn.Server | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="api-server", daemon=True)

    def _run(self) -> None:
        async def main() -> None:
            app = await self._build()
            self._server = _server(app, self.port)
            task = asyncio.create_task(self._server.serve())
            while not self._server.started and not task.done():
                await asyncio.sleep(0.01)
            self._ready.set()
            await task
            if self._cleanup is not None:
                await self._cleanup()

        try:
            asyncio.run(main())
        except BaseException as exc:
            self._error = exc
            self._ready.set()

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("the API server did not start within 30 s")
        if self._error is not None:
            raise RuntimeError("the API server failed to start") from self._error

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        self._thread.join(30)

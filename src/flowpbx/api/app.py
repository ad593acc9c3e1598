"""`create_api(store, live)`: the FastAPI application of flowpbx (SPEC §6).

Routers live one per resource (`auth`, `health`, `extensions`, `history`, ...); each is
mounted under /api/v1. OpenAPI is served at /docs and /openapi.json.
"""

from __future__ import annotations

from fastapi import FastAPI

from flowpbx.api import auth, extensions, health, history
from flowpbx.api.errors import install_error_handlers
from flowpbx.api.live import LiveService
from flowpbx.api.webui import mount_web_ui
from flowpbx.store.db import Store

ROUTERS = (health.router, auth.router, extensions.router, history.router)


def create_api(store: Store, live: LiveService | None) -> FastAPI:
    app = FastAPI(
        title="flowpbx",
        version="0.1.0",
        description="REST API of flowpbx, a self-hosted PBX with visual call flows.",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.store = store
    app.state.live = live
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    mount_web_ui(app)  # last: the UI's catch-all must not shadow API routes
    return app

"""`create_api(store, live)`: the FastAPI application of flowpbx (SPEC §6).

Routers live one per resource; each is mounted under /api/v1 (plus /metrics). OpenAPI is
served at /docs and /openapi.json. `live` is the running PBX (`LiveService`) or None.
"""

from __future__ import annotations

from fastapi import FastAPI

from flowpbx.api import (
    audio,
    audit,
    auth,
    calls,
    config,
    events,
    extensions,
    flows,
    health,
    history,
    mailboxes,
    numbers,
    outbox,
    queues,
    schedules,
    security,
    settings,
    sip_server,
    tokens,
    trunks,
    users,
    webhook_probe,
)
from flowpbx.api.audit import AuditTrail
from flowpbx.api.auth import LoginLimiter
from flowpbx.api.errors import install_error_handlers
from flowpbx.api.headers import SecurityHeaders
from flowpbx.api.limits import BodySizeLimit
from flowpbx.api.live import LiveService
from flowpbx.api.openapi_doc import COMMON_ERRORS, document_errors
from flowpbx.api.webui import mount_web_ui
from flowpbx.settings import Settings
from flowpbx.store.db import Store

ROUTERS = (
    health.router,
    auth.router,
    tokens.router,
    users.router,
    flows.schema_router,
    webhook_probe.router,
    flows.router,
    config.router,
    extensions.router,
    sip_server.router,
    trunks.router,
    numbers.router,
    schedules.router,
    mailboxes.router,
    audio.router,
    queues.router,
    calls.router,
    history.csv_router,
    history.router,
    settings.router,
    outbox.router,
    security.router,
    audit.router,
    events.router,
)


def create_api(
    store: Store,
    live: LiveService | None,
    *,
    settings: Settings | None = None,
    event_bus: events.EventBus | None = None,
) -> FastAPI:
    """`settings`: the process's (`flowpbx serve` passes its own); None reads the
    environment now (`Settings.from_env`)."""
    app = FastAPI(
        title="flowpbx",
        version="0.1.0",
        description=(
            "REST API of flowpbx, a self-hosted PBX with visual call flows. Authenticate "
            "with POST /api/v1/auth/login, then send `Authorization: Bearer TOKEN` (or use "
            "the session cookie plus the X-CSRF-Token header for writes). Errors are "
            '`{"error": {"id", "message", "details"}}`.'
        ),
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.store = store
    app.state.settings = settings if settings is not None else Settings.from_env()
    app.state.live = live
    app.state.events = event_bus if event_bus is not None else events.BUS
    _wire_events(store, live, app.state.events)
    app.state.login_limiter = LoginLimiter()
    app.state.event_sockets = events.SessionSockets()  # closed on logout
    install_error_handlers(app)
    app.add_middleware(AuditTrail)  # api/audit.py: configuration writes -> audit_log
    app.add_middleware(BodySizeLimit)
    app.add_middleware(SecurityHeaders)  # outermost: every answer, the 413 too
    for router in ROUTERS:
        app.include_router(router, responses=COMMON_ERRORS)
    document_errors(app)
    # last: the UI's catch-all must not shadow API routes
    mount_web_ui(app, app.state.settings.web_dir)
    return app


def _wire_events(store: Store, live: LiveService | None, bus: events.EventBus) -> None:
    """Live events reach the websocket from the PBX's own event hub (`subscribe`);
    otherwise (an API without a PBX in this process, or a PBX not running yet) from the
    store writes that matter to the UI — registrations, finished calls, voicemail, queue
    exits."""
    if live is None:
        store.event_sink = bus.publish
        return
    try:
        live.subscribe(bus.publish)
    except RuntimeError:  # the PBX is not running (yet): announce the store's writes
        store.event_sink = bus.publish
    else:
        store.event_sink = None

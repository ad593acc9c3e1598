"""Composition root: builds the store, the PBX runtime and the web API, and runs them on one
asyncio (uvloop) event loop — `flowpbx serve`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys

import uvicorn
import uvloop

from flowpbx.api import create_api
from flowpbx.pbx.runtime import apply_realtime, tune_collector
from flowpbx.pbx.service import PbxService
from flowpbx.settings import Settings
from flowpbx.store.db import DIR_MODE, Store

log = logging.getLogger("flowpbx")


PRIVATE_UMASK = 0o077  # files the PBX writes (database, recordings, voicemail): owner only


async def run(settings: Settings) -> None:
    settings.data_dir.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    if settings.data_dir.stat().st_mode & 0o077:
        log.warning(
            "the data directory %s is readable by other users; `chmod 700` it",
            settings.data_dir,
        )
    store = Store(settings.effective_database_url, settings.data_dir, sip_realm=settings.sip_realm)
    pbx = PbxService(settings, store)
    await pbx.start()
    api = create_api(store, pbx, settings=settings)
    host, port = settings.http_listen
    server = uvicorn.Server(
        uvicorn.Config(
            api, host=host, port=port, log_level="warning", lifespan="on", access_log=False
        )
    )
    # flowpbx handles SIGINT/SIGTERM itself, so calls are hung up before the process exits.
    setattr(server, "capture_signals", contextlib.nullcontext)  # noqa: B010
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda: setattr(server, "should_exit", True))
    certs = pbx.runtime.tls_certs
    if certs is not None:  # SIGHUP: load the TLS certificate and key again (pbx/tls.py)
        loop.add_signal_handler(signal.SIGHUP, certs.reload)
    sip_host, sip_port = pbx.sip_address
    tls = f", tls {sip_host}:{pbx.runtime.sip.ports['tls']}" if certs is not None else ""
    print(
        f"flowpbx serving: SIP udp+tcp {sip_host}:{sip_port}{tls}, web http://{host}:{port}/",
        flush=True,
    )
    # Everything loaded so far lives as long as the process: keep it out of GC passes.
    tune_collector()
    try:
        await server.serve()
    finally:
        await pbx.stop()
        await store.close()


def serve(settings: Settings) -> None:
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # Before the loop and its threads exist, so that every thread inherits the policy.
    apply_realtime(settings.realtime_priority)
    os.umask(PRIVATE_UMASK)
    with contextlib.suppress(KeyboardInterrupt):
        uvloop.run(run(settings))

"""Building the services a flow gets (`FlowServices`) from the settings and the store.

`Services` owns what lives as long as the process — the shared HTTP client, the lookup
cache, the email outbox and its worker. A configuration reload only builds a new
`FlowServices` around the same pieces (`Services.flow_services(config_view)`).
"""

from __future__ import annotations

import logging
import weakref
from typing import Any

from flowpbx.flow.context import FlowServices
from flowpbx.services.http import HttpSettings, WebClient
from flowpbx.services.lookup import CallerLookup
from flowpbx.services.mail import Outbox, OutboxStore, SmtpConfig, SmtpSender
from flowpbx.settings import Settings

__all__ = ["Services", "build_flow_services", "services_for"]

log = logging.getLogger("flowpbx.services")


class Services:
    def __init__(
        self,
        settings: Settings,
        store: Any,
        *,
        http_settings: HttpSettings | None = None,
        retry_base_s: float = 30.0,
        retry_max_s: float = 3600.0,
        poll_s: float = 30.0,
    ) -> None:
        self.settings = settings
        self.store = store
        self.http = WebClient(http_settings or HttpSettings.from_env())
        self.lookup = CallerLookup(self.http)
        sender = SmtpSender(SmtpConfig.from_url(settings.smtp_url)) if settings.smtp_url else None
        self.outbox: Outbox | None = None
        if all(
            callable(getattr(store, name, None))
            for name in ("enqueue_email", "due_emails", "mark_sent", "mark_failed")
        ):
            outbox_store: OutboxStore = store
            self.outbox = Outbox(
                outbox_store,
                sender,
                retry_base_s=retry_base_s,
                retry_max_s=retry_max_s,
                poll_s=poll_s,
            )
        if sender is None:
            log.warning("FLOWPBX_SMTP_URL is not set: emails wait in the outbox")

    def start(self) -> None:
        if self.outbox is not None:
            self.outbox.start()

    async def close(self) -> None:
        """Stop the worker and the HTTP pool; `services_for` then builds a fresh set."""
        if _BY_STORE.get(self.store) is self:
            del _BY_STORE[self.store]
        if self.outbox is not None:
            await self.outbox.close()
        await self.http.aclose()

    def flow_services(self, config_view: Any) -> FlowServices:
        """`config_view` is pbx's ConfigView: `schedule(name)` and `extensions` are used when
        present (and `timezone`, the company's zone for {date}/{time}, if it has one)."""
        schedule = getattr(config_view, "schedule", None)
        extensions = getattr(config_view, "extensions", None)
        timezone = getattr(config_view, "timezone", None)
        return FlowServices(
            schedule=schedule,
            extensions=(lambda: extensions.keys()) if extensions is not None else None,
            http=self.http,
            send_email=self.outbox.send_email if self.outbox is not None else None,
            timezone=timezone if isinstance(timezone, str) and timezone else "UTC",
        )


_BY_STORE: weakref.WeakKeyDictionary[Any, Services] = weakref.WeakKeyDictionary()


def services_for(settings: Settings, store: Any) -> Services:
    """The process's `Services` for this store (made on first use, then the same object)."""
    services = _BY_STORE.get(store)
    if services is None:
        services = Services(settings, store)
        _BY_STORE[store] = services
    return services


def build_flow_services(settings: Settings, store: Any, config_view: Any) -> FlowServices:
    """What the runtime gives flows: http (webhooks and lookups), send_email (the outbox),
    schedules and extensions from the configuration view. Call `services_for(settings,
    store).start()` once at start-up and `.close()` at shutdown."""
    return services_for(settings, store).flow_services(config_view)

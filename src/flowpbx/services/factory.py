"""Building the services a flow gets (`FlowServices`) from the settings and the store.

`Services` owns what lives as long as the process — the shared HTTP client, the lookup
cache, the email outbox and its worker. A configuration reload only builds a new
`FlowServices` around the same pieces (`Services.flow_services(config_view)`).

From `Settings`: smtp_url (FLOWPBX_SMTP_URL); http_allow_private (FLOWPBX_HTTP_ALLOW_PRIVATE=1)
lets webhooks and lookups reach private/loopback addresses; smtp_from (FLOWPBX_SMTP_FROM) is
the sender until an `smtp_from` setting is saved (the saved setting wins); smtp_retry_s (30)
and smtp_retry_max_s (3600) bound the retry backoff and smtp_poll_s (30) is how often the
outbox looks for due mail.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from flowpbx.flow.context import FlowServices
from flowpbx.services.http import HttpSettings, WebClient
from flowpbx.services.lookup import CallerLookup
from flowpbx.services.mail import Outbox, OutboxStore, SmtpConfig, SmtpSender
from flowpbx.settings import Settings

__all__ = ["Services", "build_flow_services", "services_for"]

log = logging.getLogger("flowpbx.services")


def _saved_from(store: object) -> Callable[[], Awaitable[str | None]] | None:
    """The saved `smtp_from` setting (Settings page), when the store keeps settings."""
    get_setting = getattr(store, "get_setting", None)
    if not callable(get_setting):
        return None

    async def saved() -> str | None:
        value = await get_setting("smtp_from")
        return value if isinstance(value, str) else None

    return saved


class Services:
    def __init__(
        self,
        settings: Settings,
        store: OutboxStore,
        *,
        http_settings: HttpSettings | None = None,
        retry_base_s: float | None = None,
        retry_max_s: float | None = None,
        poll_s: float | None = None,
    ) -> None:
        # everything that can fail on bad settings first, before anything is opened
        sender = (
            SmtpSender(
                SmtpConfig.from_url(settings.smtp_url, sender=settings.smtp_from or None),
                saved_from=_saved_from(store),
            )
            if settings.smtp_url
            else None
        )
        retry_base = settings.smtp_retry_s if retry_base_s is None else retry_base_s
        retry_max = settings.smtp_retry_max_s if retry_max_s is None else retry_max_s
        poll = settings.smtp_poll_s if poll_s is None else poll_s
        http = http_settings or HttpSettings(allow_private=settings.http_allow_private)
        self.settings = settings
        self.store = store
        self.outbox = Outbox(
            store, sender, retry_base_s=retry_base, retry_max_s=retry_max, poll_s=poll
        )
        self.http = WebClient(http)
        self.lookup = CallerLookup(self.http)
        if sender is None:
            log.warning("FLOWPBX_SMTP_URL is not set: emails wait in the outbox")

    def start(self) -> None:
        self.outbox.start()

    async def close(self) -> None:
        """Stop the worker and the HTTP pool; `services_for` then builds a fresh set."""
        if _BY_STORE.get(self.store) is self:
            del _BY_STORE[self.store]
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
            send_email=self.outbox.send_email,
            timezone=timezone if isinstance(timezone, str) and timezone else "UTC",
        )


_BY_STORE: weakref.WeakKeyDictionary[OutboxStore, Services] = weakref.WeakKeyDictionary()


def services_for(settings: Settings, store: OutboxStore) -> Services:
    """The process's `Services` for this store (made on first use, then the same object)."""
    services = _BY_STORE.get(store)
    if services is None:
        services = Services(settings, store)
        _BY_STORE[store] = services
    return services


def build_flow_services(settings: Settings, store: OutboxStore, config_view: Any) -> FlowServices:
    """What the runtime gives flows: http (webhooks and lookups), send_email (the outbox),
    schedules and extensions from the configuration view. Call `services_for(settings,
    store).start()` once at start-up and `.close()` at shutdown."""
    return services_for(settings, store).flow_services(config_view)

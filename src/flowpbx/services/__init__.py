"""The outside world: HTTP for webhooks and lookups, the email outbox, the lookup cache.

    http.py     WebClient — the flows' HttpClient (one pool, total timeouts, private
                addresses refused unless FLOWPBX_HTTP_ALLOW_PRIVATE=1)
    lookup.py   CallerLookup — caller-name lookups with a bounded TTL cache
    mail.py     Outbox (durable queue + delivery worker with backoff), SmtpSender,
                SmtpConfig (FLOWPBX_SMTP_URL)
    errors.py   the exception tree
    factory.py  Services (owns the long-lived pieces) and build_flow_services()

Wiring from the runtime::

    services = services_for(settings, store)   # once per process (cached per store)
    services.start()                           # the outbox worker
    flow_services = build_flow_services(settings, store, config_view)  # per config
    ...
    await services.close()
"""

from flowpbx.services.factory import Services, build_flow_services, services_for

__all__ = ["Services", "build_flow_services", "services_for"]

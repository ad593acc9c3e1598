"""What the rest of flowpbx (app.py, api/) may ask of the live PBX. api/ imports only this."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flowpbx.media.srtp import counters as srtp_counters
from flowpbx.pbx.live_tables import memory_metrics
from flowpbx.pbx.runtime import Runtime
from flowpbx.settings import Settings

if TYPE_CHECKING:
    from flowpbx.store.db import Store

log = logging.getLogger("flowpbx.pbx")


class PbxService:
    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self._rt: Runtime | None = None

    @property
    def runtime(self) -> Runtime:
        if self._rt is None:
            raise RuntimeError("the PBX is not running")
        return self._rt

    @property
    def sip_address(self) -> tuple[str, int]:
        rt = self.runtime
        return rt.sip.host, rt.sip.port

    @property
    def sip_tls_port(self) -> int | None:
        """The SIP TLS port, when flowpbx listens on TLS (a certificate is configured)."""
        rt = self.runtime
        return rt.sip.ports.get("tls") if rt.tls_certs is not None else None

    async def start(self) -> None:
        config = await self.store.load_runtime_config()
        self._rt = Runtime(self.settings, self.store, config)
        await self._rt.start()
        await self._apply_settings()

    async def stop(self) -> None:
        if self._rt is not None:
            await self._rt.stop()
            self._rt = None

    async def reload(self) -> None:
        """Take configuration changes (extensions, numbers, published flows, audio) live."""
        config = await self.store.load_runtime_config()
        await self.runtime.resolve_trunks(config)  # host names: off the loop
        self.runtime.reload(config)
        await self._apply_settings()

    async def _apply_settings(self) -> None:
        """Installation settings the running PBX follows: webhooks and lookups may reach
        private addresses only when ``allow_private_webhooks`` is on (or
        Settings.http_allow_private, FLOWPBX_HTTP_ALLOW_PRIVATE, says so)."""
        allowed = await self.store.get_setting("allow_private_webhooks", False)
        self.runtime.services.http.set_allow_private(allowed is True)
        zone = await self.store.get_setting("timezone")
        if isinstance(zone, str) and zone:
            try:
                ZoneInfo(zone)
            except (ZoneInfoNotFoundError, ValueError):
                log.warning(
                    "saved time zone %r is unknown; keeping %s", zone, self.runtime.timezone
                )
            else:
                self.runtime.set_timezone(zone)

    def trunk_states(self) -> list[dict[str, Any]]:
        """Outbound registration of each trunk with ``register: true`` (pbx/features/trunks.py):
        name, state (registering/registered/failed), last_status, expires_in_s,
        next_attempt_in_s, failures."""
        import dataclasses

        return [dataclasses.asdict(s) for s in self.runtime.trunks.states()]

    def trunk_registrations(self) -> dict[str, dict[str, Any]]:
        """The same states keyed by trunk name (what the trunks API shows)."""
        return {state["name"]: state for state in self.trunk_states()}

    def registrations(self, extension: str) -> list[dict[str, Any]]:
        now = dt.datetime.now(dt.UTC).timestamp()
        return [
            {
                "contact": b.contact,
                "source": f"{b.source[0]}:{b.source[1]}",
                "expires": max(0, int(b.expires_at - now)),
                "user_agent": b.user_agent,
                "transport": b.transport,
            }
            for b in self.runtime.registrar.bindings(extension)
        ]

    def subscribe(self, subscriber: Callable[[dict[str, Any]], None]) -> Callable[[], None]:
        """Receive live events (registration, call.started/answered/ended); returns the
        function that unsubscribes."""
        return self.runtime.events.subscribe(subscriber)

    def counters(self) -> dict[str, int]:
        """Event counts since start, for /metrics."""
        rt = self.runtime
        sip: dict[str, int] = {}
        for layer in rt.sip.layers.values():
            stats = layer.stats
            for name in (
                "retransmissions",
                "timeouts",
                "parse_failures",
                "stateless_responses",
                "reaped",
            ):
                sip[f"sip_{name}"] = sip.get(f"sip_{name}", 0) + int(getattr(stats, name))
            # live transactions (gauges): a leak shows as a count that never comes down
            sizes = layer.table_sizes()
            for name in ("server", "client"):
                key = f"sip_{name}_transactions"
                sip[key] = sip.get(key, 0) + sizes[name]
        sip["sip_handler_errors"] = rt.sip.failures.count
        lost = 0
        for call in rt.calls.active.values():
            for leg in (call.leg, *call.callees):
                value = leg.rtp.media_stats().get("lost", 0)
                lost += value if isinstance(value, int) else 0
        return {
            **sip,
            "media_packets_lost_active_calls": lost,
            **rt.events.counters,
            "active_calls": len(rt.calls.active),
            "rtp_ports_in_use": rt.rtp_pool.in_use,
            **rt.rtp_pool.counters(),
            **srtp_counters(),  # SRTP/SRTCP packets dropped: bad tag, replay (media/srtp.py)
            "sip_datagrams_in": rt.sip.datagrams_in,
            "sip_datagrams_out": rt.sip.datagrams_out,
            "registered_extensions": sum(1 for b in rt.registrar.all_bindings().values() if b),
            **rt.guard.counters(),
            **rt.sip_tls.stats(),  # handshakes, their timeouts and failures (pbx/tls.py)
            **memory_metrics(rt),  # process figures and table sizes (pbx/memory.py)
        }

    def bans(self) -> list[dict[str, Any]]:
        """SIP source addresses banned right now (pbx/security.py), soonest to end first."""
        rt = self.runtime
        now = rt.loop.time()
        return [
            {"ip": b.ip, "reason": b.reason, "remaining_s": round(b.remaining_s(now), 1)}
            for b in rt.guard.bans(now)
        ]

    def lift_ban(self, ip: str) -> bool:
        """Lift the ban on a SIP source address; False if it was not banned."""
        return self.runtime.guard.lift_ban(ip)

    def queues(self) -> list[dict[str, Any]]:
        """Live queue state: callers waiting, members and their state, statistics."""
        return self.runtime.queues.snapshot()

    async def hangup_call(self, call_id: str) -> bool:
        """Hang up an active call; False if there is no such call."""
        call = self.runtime.calls.active.get(call_id)
        if call is None:
            return False
        await call.hangup("hung up by an administrator")
        return True

    async def spy(self, call_id: str, supervisor: str, mode: str) -> None:
        """Ring the supervisor's phone; when answered it joins `call_id` in `mode`
        (listen/whisper/barge) — pbx/features/spy.py. LookupError: not a bridged call / no phone."""
        from flowpbx.pbx.features.spy import SpyMode, spy_on_call

        await spy_on_call(self.runtime.calls, call_id, supervisor, SpyMode[mode.upper()])

    def active_calls(self) -> list[dict[str, Any]]:
        out = []
        for call in self.runtime.calls.active.values():
            parties = call.parties()  # pbx/call/parties.py: as the history row will say
            out.append(
                {
                    "id": call.call_id,
                    "caller": parties.presented,
                    "caller_name": call.caller_name,
                    "did": parties.dialled,
                    "flow": call.flow_name,
                    "started_at": call.started_at.isoformat(),
                    "answered_by": parties.agent,
                    "activity": call.activity[0],
                    "activity_target": call.activity[1],
                    "direction": parties.direction,
                    "extension": parties.extension,
                }
            )
        return out

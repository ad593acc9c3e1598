"""What the API may ask of the running PBX (implemented by `flowpbx.pbx.service.PbxService`).

The API never imports `sip/` or `media/`; live state reaches it only through this protocol,
and every operation it uses is declared here. `create_api(store, None)` runs the API
without a PBX (tests, tools): live-only endpoints then answer 503 `pbx-unavailable`. A
method raising RuntimeError means the PBX is not running (yet, or any more).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

EventCallback = Callable[[dict[str, Any]], None]


class LiveService(Protocol):
    @property
    def sip_address(self) -> tuple[str, int]:
        """The address SIP listens on (host, port); GET /api/v1/sip-server."""
        ...

    @property
    def sip_tls_port(self) -> int | None:
        """The SIP over TLS port when TLS listens (GET /api/v1/sip-server), else None."""
        ...

    async def reload(self) -> None:
        """Take configuration changes live after the API wrote them."""
        ...

    def registrations(self, extension: str) -> list[dict[str, Any]]:
        """Current bindings of one extension: contact, source, expires (s), user_agent,
        transport (udp, tcp, tls)."""
        ...

    def active_calls(self) -> list[dict[str, Any]]:
        """Calls in progress: id, caller, caller_name, did, flow, started_at, answered_by."""
        ...

    async def hangup_call(self, call_id: str) -> bool:
        """Hang up an active call (DELETE /api/v1/calls/{id}); False if there is none."""
        ...

    async def spy(self, call_id: str, supervisor: str, mode: str) -> None:
        """Call the supervisor's phone; answered, it joins the call in `mode` (listen,
        whisper, barge). LookupError: not a bridged call, or no phone online."""
        ...

    def queues(self) -> list[dict[str, Any]]:
        """Live queue state, one entry per queue (``name``, callers waiting, members)."""
        ...

    def trunk_registrations(self) -> dict[str, dict[str, Any]]:
        """Outbound registration state per trunk name (``error``: why a trunk cannot connect
        or register, e.g. a TLS certificate that did not verify)."""
        ...

    def bans(self) -> list[dict[str, Any]]:
        """SIP source addresses banned now: ip, reason, remaining_s."""
        ...

    def lift_ban(self, ip: str) -> bool:
        """Lift the ban on one address; False if it was not banned."""
        ...

    def counters(self) -> Mapping[str, float]:
        """Counters and gauges since start, exported on /metrics as flowpbx_<name>."""
        ...

    def subscribe(self, subscriber: EventCallback) -> Callable[[], None]:
        """Receive live events (registration, call.*); returns the unsubscribe function.
        `create_api` feeds them to the websocket bus."""
        ...

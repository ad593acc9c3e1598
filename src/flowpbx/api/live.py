"""What the API may ask of the running PBX (implemented by `flowpbx.pbx.service.PbxService`).

The API never imports `sip/` or `media/`; live state reaches it only through this protocol.
`create_api(store, None)` runs the API without a PBX (tests, tools): live-only endpoints
then answer 503 `pbx-unavailable`.

Besides the methods below, the API uses these when the service has them (looked up with
`getattr`; without them the matching endpoint answers 501 `not-implemented`, or leaves the
live part out):

- ``async hangup_call(call_id: str) -> bool``   DELETE /api/v1/calls/{id}
- ``async spy(call_id: str, supervisor: str, mode: str) -> None``   POST …/spy
  (mode ``listen`` | ``whisper`` | ``barge``; the supervisor's phone is called)
- ``queues() -> dict[str, dict] | list[dict]``   live queue state (callers waiting, members)
- ``trunk_registrations() -> dict[str, dict]``   per trunk name (``error``: why a trunk
  cannot connect or register, e.g. a TLS certificate that did not verify)
- ``sip_tls_port: int | None``   GET /api/v1/sip-server: the SIP TLS port, when listening
- ``counters()`` / ``metrics() -> dict[str, float]``   exported on /metrics as flowpbx_<name>
- ``subscribe(callback) -> unsubscribe``   live events; `create_api` feeds them to the
  websocket bus (without it, the store's own writes are announced instead)
"""

from __future__ import annotations

from typing import Any, Protocol


class LiveService(Protocol):
    def registrations(self, extension: str) -> list[dict[str, Any]]:
        """Current bindings of one extension: contact, source, expires (s), user_agent,
        transport (udp, tcp, tls)."""
        ...

    def active_calls(self) -> list[dict[str, Any]]: ...

    async def reload(self) -> None:
        """Take configuration changes live after the API wrote them."""
        ...

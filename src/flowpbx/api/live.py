"""What the API may ask of the running PBX (implemented by `flowpbx.pbx.service.PbxService`).

The API never imports `sip/` or `media/`; live state reaches it only through this protocol.
`create_api(store, None)` runs the API without a PBX (tests, tools): live-only endpoints
then answer 503.
"""

from __future__ import annotations

from typing import Any, Protocol


class LiveService(Protocol):
    def registrations(self, extension: str) -> list[dict[str, Any]]:
        """Current bindings of one extension: contact, source, expires (s), user_agent."""
        ...

    def active_calls(self) -> list[dict[str, Any]]: ...

    async def reload(self) -> None:
        """Take configuration changes live after the API wrote them."""
        ...

"""`FakePbx`: a small stand-in for the PBX *service interface* (`api.live.LiveService`).

It answers every operation of the protocol like `PbxService` does and records what the API
asked of it. It replaces our own interface, not a network peer. Its event hub is not
running (`subscribe` raises RuntimeError, as PbxService does before `start()`), so the API
announces the store's writes on the websocket; tests/api/test_live.py's `HubPbx` has one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

CALL = {
    "id": "abc@host",
    "caller": "+3712",
    "caller_name": None,
    "did": "+37167000001",
    "flow": "Main line",
    "started_at": "2026-05-04T10:00:00+00:00",
    "answered_by": "101",
}


class FakePbx:
    def __init__(self) -> None:
        self.calls = [dict(CALL)]
        self.actions: list[tuple[Any, ...]] = []
        self.reloads = 0
        self.banned = ["203.0.113.9"]

    @property
    def sip_address(self) -> tuple[str, int]:
        return "0.0.0.0", 5060

    @property
    def sip_tls_port(self) -> int | None:
        return None  # no certificate: TLS does not listen

    def registrations(self, extension: str) -> list[dict[str, Any]]:
        if extension == "101":
            return [{"contact": "sip:101@10.0.0.7", "source": "10.0.0.7:5060", "expires": 120,
                     "user_agent": "Desk"}]  # fmt: skip
        return []

    def active_calls(self) -> list[dict[str, Any]]:
        return list(self.calls)

    async def reload(self) -> None:
        self.reloads += 1

    async def hangup_call(self, call_id: str) -> bool:
        self.actions.append(("hangup", call_id))
        self.calls = [c for c in self.calls if c["id"] != call_id]
        return True

    async def spy(self, call_id: str, supervisor: str, mode: str) -> None:
        if supervisor == "104":  # like PbxService: the supervisor has no phone online
            raise LookupError("extension 104 has no registered phone")
        self.actions.append(("spy", call_id, supervisor, mode))

    def bans(self) -> list[dict[str, Any]]:
        return [{"ip": ip, "reason": "auth failures", "remaining_s": 300.0} for ip in self.banned]

    def lift_ban(self, ip: str) -> bool:
        if ip in self.banned:
            self.banned.remove(ip)
            return True
        return False

    def queues(self) -> list[dict[str, Any]]:
        return [{"name": "sales", "waiting": 2, "members": {"101": "in_call"}}]

    def trunk_registrations(self) -> dict[str, dict[str, Any]]:
        return {}

    def counters(self) -> dict[str, float]:
        return {"sip_errors_total": 3, "media_lost_packets_total": 7}

    def subscribe(self, subscriber: Callable[[dict[str, Any]], None]) -> Callable[[], None]:
        raise RuntimeError("the PBX is not running")

"""Shared builders for the flow tests."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

DID = "+37167000001"
CALLER = "+37129999999"
# A Monday, 10:00 UTC
MONDAY_10 = dt.datetime(2026, 5, 4, 10, 0, tzinfo=dt.UTC)


@dataclass
class FakeDirectory:
    audio: set[str] = field(
        default_factory=lambda: {
            "greeting",
            "menu",
            "goodbye",
            "hold-music",
            "voicemail-greeting",
            "invalid",
        }
    )
    extensions: set[str] = field(default_factory=lambda: {"101", "102", "103"})
    mailboxes: set[str] = field(default_factory=lambda: {"100"})
    schedules: set[str] = field(default_factory=lambda: {"office"})
    owners: dict[str, str] = field(default_factory=dict)

    def audio_exists(self, name: str) -> bool:
        return name in self.audio

    def extension_exists(self, number: str) -> bool:
        return number in self.extensions

    def mailbox_exists(self, number: str) -> bool:
        return number in self.mailboxes

    def schedule_exists(self, name: str) -> bool:
        return name in self.schedules

    def number_owner(self, did: str) -> str | None:
        return self.owners.get(did)


def menu_flow(**menu_params: Any) -> dict[str, Any]:
    """numbers → play → menu → call_sip 101 (key 1); key 2 chosen but not connected."""
    params: dict[str, Any] = {"prompt": "menu", "timeout_s": 5, "retries": 2, "keys": ["1", "2"]}
    params.update(menu_params)
    return {
        "name": "Main line",
        "entry": "start",
        "nodes": {
            "start": {"type": "numbers", "params": {"numbers": [DID]}, "next": {"next": "hello"}},
            "hello": {"type": "play", "params": {"audio": "greeting"}, "next": {"next": "menu"}},
            "menu": {
                "type": "menu",
                "params": params,
                "next": {"1": "alice", "timeout": "bye", "invalid": "bye"},
            },
            "alice": {"type": "call_sip", "params": {"extension": "101"}, "next": {}},
            "bye": {"type": "play", "params": {"audio": "goodbye"}, "next": {"next": "end"}},
            "end": {"type": "hangup"},
        },
        "layout": {},
    }

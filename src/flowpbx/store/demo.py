"""`flowpbx demo`: a small demo company, loaded through the normal import path.

Extensions 101 (Alice), 102 (Bob), 103 (Carol, supervisor) with passwords `demo-101` …;
a trunk `provider` at 127.0.0.1:5070/udp; numbers +37167000001 and +37167000002; the
published flow "Main line" (greeting → menu 1/2/3 → extensions, otherwise goodbye); and a
web admin `admin` / `demo-admin`. Loading it twice changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flowpbx.store.config_io import ImportResult, import_document
from flowpbx.store.db import Store

DEMO_ADMIN = ("admin", "demo-admin")
DEMO_PHONES = (("101", "Alice"), ("102", "Bob"), ("103", "Carol"))
DEMO_TRUNK = {"name": "provider", "host": "127.0.0.1", "port": 5070, "transport": "udp"}
DEMO_NUMBERS = ("+37167000001", "+37167000002")
DEMO_FLOW_NAME = "Main line"


def demo_password(extension: str) -> str:
    return f"demo-{extension}"


def demo_flow() -> dict[str, Any]:
    return {
        "name": DEMO_FLOW_NAME,
        "entry": "start",
        "nodes": {
            "start": {
                "type": "numbers",
                "params": {"numbers": [DEMO_NUMBERS[0]]},
                "next": {"next": "greeting"},
            },
            "greeting": {"type": "play", "params": {"audio": "greeting"}, "next": {"next": "menu"}},
            "menu": {
                "type": "menu",
                "params": {"prompt": "menu", "timeout_s": 5, "retries": 3},
                "next": {
                    "1": "alice",
                    "2": "bob",
                    "3": "carol",
                    "timeout": "goodbye",
                    "invalid": "goodbye",
                },
            },
            "alice": {"type": "call_sip", "params": {"extension": "101"}},
            "bob": {"type": "call_sip", "params": {"extension": "102"}},
            "carol": {"type": "call_sip", "params": {"extension": "103"}},
            "goodbye": {"type": "play", "params": {"audio": "goodbye"}, "next": {"next": "end"}},
            "end": {"type": "hangup"},
        },
        "layout": {
            "start": {"x": 0, "y": 0},
            "greeting": {"x": 0, "y": 120},
            "menu": {"x": 0, "y": 240},
            "alice": {"x": -260, "y": 380},
            "bob": {"x": 0, "y": 380},
            "carol": {"x": 260, "y": 380},
            "goodbye": {"x": 520, "y": 380},
            "end": {"x": 520, "y": 500},
        },
    }


def demo_document() -> dict[str, Any]:
    return {
        "extensions": [
            {
                "number": number,
                "name": name,
                "password": demo_password(number),
                "supervisor": number == "103",
                "outbound": True,
            }
            for number, name in DEMO_PHONES
        ],
        "trunks": [dict(DEMO_TRUNK)],
        "numbers": [{"number": n, "trunk": DEMO_TRUNK["name"]} for n in DEMO_NUMBERS],
        "flows": [demo_flow()],
    }


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoResult:
    result: ImportResult
    admin: tuple[str, str]
    phones: list[tuple[str, str, str]]  # (extension, name, password)


async def load_demo(store: Store) -> DemoResult:
    """Load (or refresh) the demo company; idempotent."""
    result = await import_document(store, demo_document(), base=Path.cwd())
    await store.create_user(DEMO_ADMIN[0], DEMO_ADMIN[1], "admin", replace=True)
    return DemoResult(
        result=result,
        admin=DEMO_ADMIN,
        phones=[(n, name, demo_password(n)) for n, name in DEMO_PHONES],
    )

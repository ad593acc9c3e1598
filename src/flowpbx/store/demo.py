"""`flowpbx demo`: a small demo company, loaded through the normal import path.

Extensions 101 (Alice), 102 (Bob), 103 (Carol, supervisor) with passwords `demo-pass-101`
…; a trunk `provider` at 127.0.0.1:5070/udp; numbers +37167000001 and +37167000002; the
published flow "Main line" (greeting → menu 1/2/3 → extensions, otherwise goodbye); and a
web admin `admin` / `demo-admin`. Loading it twice changes nothing.

These passwords are published (README, this file): ``published_demo_credentials`` finds the
ones still set, and `flowpbx serve` refuses to listen beyond loopback while they are (cli.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flowpbx.store.config_io import ImportResult, import_document
from flowpbx.store.db import Store
from flowpbx.store.repos.extensions import compute_ha1

DEMO_ADMIN = ("admin", "demo-admin")
DEMO_PHONES = (("101", "Alice"), ("102", "Bob"), ("103", "Carol"))
DEMO_TRUNK = {"name": "provider", "host": "127.0.0.1", "port": 5070, "transport": "udp"}
DEMO_NUMBERS = ("+37167000001", "+37167000002")
DEMO_FLOW_NAME = "Main line"


def demo_password(extension: str) -> str:
    return f"demo-pass-{extension}"


def _published_passwords(extension: str) -> tuple[str, ...]:
    """Every password a demo extension has had (older releases used ``demo-101``)."""
    return (demo_password(extension), f"demo-{extension}")


async def published_demo_credentials(store: Store) -> tuple[list[str], bool]:
    """(demo extensions whose SIP password is still a published one, whether the web user
    ``admin`` still has the published demo password)."""
    extensions = {e.number: e for e in await store.list_extensions()}
    phones: list[str] = []
    for number, _ in DEMO_PHONES:
        ext = extensions.get(number)
        if ext is None:
            continue
        for password in _published_passwords(number):
            if ext.ha1_md5 == compute_ha1(number, store.sip_realm, password)[0]:
                phones.append(number)
                break
    admin = await store.authenticate(*DEMO_ADMIN) is not None
    return phones, admin


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

"""Shared pieces of the queue end-to-end tests (tests/e2e/test_queue_*.py).

A company with extensions 101-103 (baresip members, each sending its own tone), two
provider trunks on loopback (two callers may wait at once: a trunk is recognised by its
exact source address), and one flow per DID: ``numbers`` -> ``queue`` -> one ``play`` per
queue output, each a tone of its own, so the caller's capture tells which output the flow
took. Queue statistics are seeded through the product's own store API.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from flowpbx.store.db import Store
from tests.audio_analysis import make_tone_wav
from tests.e2e import apiclient
from tests.e2e.baresip import Baresip
from tests.e2e.conftest import Harness
from tests.e2e.server import FlowpbxServer
from tests.e2e.sipp import Sipp
from tests.netutil import free_udp_port

HOLD_HZ = 500.0
MEMBER_HZ = {"101": 900.0, "102": 1100.0, "103": 1300.0}
PASSWORDS = {ext: f"pw-{ext}-queue" for ext in MEMBER_HZ}
# what the caller hears after leaving the queue by each output
OUTPUT_HZ = {
    "timeout": 1500.0,
    "full": 1700.0,
    "empty": 1900.0,
    "exit": 2100.0,
    "answered": 2300.0,
}


@dataclass
class QueueCompany:
    """The config of a queue company; `queues` maps a DID to its queue element's params."""

    server: FlowpbxServer
    queues: dict[str, dict[str, Any]]
    trunk_ports: tuple[int, int] = field(default_factory=lambda: (free_udp_port(), free_udp_port()))

    def write(self) -> None:
        server = self.server
        make_tone_wav(server.config_file("prompts/hold.wav"), HOLD_HZ, 2.0)
        audio = [{"name": "hold-tone", "file": "prompts/hold.wav"}]
        for output, hz in OUTPUT_HZ.items():
            path = f"prompts/{output}.wav"
            make_tone_wav(server.config_file(path), hz, 1.5)
            audio.append({"name": f"{output}-tone", "file": path})
        flows = []
        for i, (did, params) in enumerate(self.queues.items()):
            outputs = {o: f"after_{o}" for o in OUTPUT_HZ}
            nodes: dict[str, Any] = {
                "start": {"type": "numbers", "params": {"numbers": [did]}, "next": {"next": "q"}},
                "q": {
                    "type": "queue",
                    "params": {"hold_audio": "hold-tone", **params},
                    "next": outputs,
                },
            }
            for output in OUTPUT_HZ:
                nodes[f"after_{output}"] = {
                    "type": "play",
                    "params": {"audio": f"{output}-tone"},
                }
            flows.append({"name": f"Queue{i}", "entry": "start", "nodes": nodes})
        server.config = {
            "extensions": [
                {"number": ext, "name": f"Agent {ext}", "password": pw}
                for ext, pw in PASSWORDS.items()
            ],
            "trunks": [
                {"name": f"provider{i}", "host": "127.0.0.1", "port": port}
                for i, port in enumerate(self.trunk_ports)
            ],
            "numbers": [{"number": did, "trunk": "provider0"} for did in self.queues],
            "audio": audio,
            "flows": flows,
        }


def start_company(e2e: Harness, queues: dict[str, dict[str, Any]]) -> QueueCompany:
    server = FlowpbxServer(e2e.tmp_path, None)
    company = QueueCompany(server, queues)
    company.write()
    e2e.adopt(server)
    server.start()
    return company


def member(
    e2e: Harness, company: QueueCompany, ext: str, *, name: str = "", answermode: str = "auto"
) -> Baresip:
    """A registered baresip phone of extension `ext` sending MEMBER_HZ[ext]."""
    phone = e2e.baresip(
        name=name or f"m{ext}",
        user=ext,
        password=PASSWORDS[ext],
        registrar=company.server.sip,
        answermode=answermode,
        tone_hz=MEMBER_HZ[ext],
    )
    phone.wait_registered(10)
    return phone


def caller(
    e2e: Harness,
    company: QueueCompany,
    did: str,
    *,
    name: str,
    talk_ms: int = 3000,
    digit: str = "5",
    dtmf_at_ms: int = 500,
    hangup_expected: bool = False,
    trunk: int = 0,
) -> Sipp:
    """An unstarted SIPp provider call to `did` from trunk `trunk` (0 or 1)."""
    return e2e.provider(
        company.server.sip,
        company.trunk_ports[trunk],
        did=did,
        digit=digit,
        dtmf_at_ms=dtmf_at_ms,
        talk_ms=talk_ms,
        hangup_expected=hangup_expected,
        name=name,
    )


def queue_rows(server: FlowpbxServer, queue: str, count: int) -> list[dict[str, Any]]:
    """The queue's `queue_calls` rows written by this test's calls (not the seeded ones),
    oldest first, once there are `count`."""
    return server.wait_rows(
        "SELECT * FROM queue_calls WHERE queue = ? AND call_id NOT LIKE 'seed-%' ORDER BY id",
        [queue],
        count=count,
        timeout=15,
    )


def queue_trace(row: dict[str, Any]) -> dict[str, Any]:
    """The trace entry of the queue node `q` in a call-history row."""
    entries: list[dict[str, Any]] = [e for e in row["trace"] if e.get("node") == "q"]
    assert entries, row["trace"]
    return entries[0]


def seed_queue_calls(server: FlowpbxServer, queue: str, rows: list[tuple[str, float]]) -> None:
    """Answered queue calls in the store: (member, minutes ago) each, through the store API
    (what the queue writes when a caller leaves), so strategies see a known history.

    The queue reads back today's calls only (since local midnight): shortly after midnight
    the history is squeezed into the part of today gone by, in the same order, so it is
    still today's and still older than the calls the test makes."""

    async def _seed() -> None:
        url = f"sqlite+aiosqlite:///{server.db_path.resolve()}"
        store = Store(url, server.data_dir)
        try:
            now = dt.datetime.now(dt.UTC)
            midnight = now.astimezone().replace(hour=0, minute=0, second=0, microsecond=0)
            today_s = (now - midnight).total_seconds()
            oldest_s = max([60.0 * m + 33.0 for _, m in rows] + [1.0])  # joined + wait + talk
            squeeze = min(1.0, 0.9 * today_s / oldest_s)
            for i, (ext, minutes_ago) in enumerate(rows):
                await store.record_queue_call(
                    queue=queue,
                    call_id=f"seed-{queue}-{i}",
                    caller="+37129000999",
                    joined_at=now - dt.timedelta(minutes=minutes_ago * squeeze),
                    wait_s=3.0 * squeeze,
                    result="answered",
                    member=ext,
                    talk_s=30.0 * squeeze,
                )
        finally:
            await store.close()

    asyncio.run(_seed())


def admin_token(server: FlowpbxServer) -> str:
    """An admin's API token (the user is created with the command line)."""
    return apiclient.admin_token(server, "queue-admin", "queue-admin-pw")


def wait_waiting(
    server: FlowpbxServer, token: str, queue: str, count: int, timeout: float = 20.0
) -> list[dict[str, Any]]:
    """Poll GET /api/v1/queues/QUEUE until `count` callers wait in its line; those callers."""
    path = "/api/v1/queues/" + urllib.parse.quote(queue, safe="")
    deadline = time.monotonic() + timeout
    waiting: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        live = apiclient.api(server, "GET", path, token=token).get("live") or {}
        waiting = list(live.get("waiting") or [])
        if len(waiting) == count:
            return waiting
        time.sleep(0.1)
    raise AssertionError(f"{count} callers never waited in {queue}: {waiting}")


def established(phone: Baresip) -> int:
    """How many calls this phone answered so far."""
    return sum(1 for e in phone.events() if e.get("type") == "CALL_ESTABLISHED")


def incoming(phone: Baresip) -> int:
    """How many calls rang on this phone so far."""
    return sum(1 for e in phone.events() if e.get("type") == "CALL_INCOMING")

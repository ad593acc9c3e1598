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
import json
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from flowpbx.store.db import Store
from tests.audio_analysis import make_tone_wav, tone_runs, tone_segments
from tests.e2e.baresip import Baresip
from tests.e2e.conftest import Harness
from tests.e2e.peers import provider_call
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


def has_tone(samples: np.ndarray, freq: float, min_seconds: float) -> bool:
    """A run of the dominant tone `freq` (±15 Hz) lasting at least `min_seconds`."""
    runs = tone_runs(tone_segments(samples), tolerance_hz=15)
    return any(abs(r.freq - freq) <= 15 and r.duration >= min_seconds for r in runs)


def tone_seconds(samples: np.ndarray, freq: float) -> float:
    """Total seconds in which `freq` (±15 Hz) is the dominant tone."""
    runs = tone_runs(tone_segments(samples), tolerance_hz=15)
    return sum(r.duration for r in runs if abs(r.freq - freq) <= 15)


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
    return e2e.adopt_sipp(
        provider_call(
            e2e.tmp_path,
            pbx=company.server.sip,
            trunk_port=company.trunk_ports[trunk],
            did=did,
            digit=digit,
            dtmf_at_ms=dtmf_at_ms,
            talk_ms=talk_ms,
            hangup_expected=hangup_expected,
            name=name,
        )
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
    password = "queue-admin-pw"
    server.cli("user", "create", "queue-admin", "--password", password, "--role", "admin")
    body = json.dumps({"username": "queue-admin", "password": password}).encode()
    request = urllib.request.Request(
        server.http + "/api/v1/auth/login",
        data=body,
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as r:
        return str(json.loads(r.read())["token"])


def wait_waiting(
    server: FlowpbxServer, token: str, queue: str, count: int, timeout: float = 20.0
) -> list[dict[str, Any]]:
    """Poll GET /api/v1/queues/QUEUE until `count` callers wait in its line; those callers."""
    url = server.http + "/api/v1/queues/" + urllib.parse.quote(queue, safe="")
    deadline = time.monotonic() + timeout
    waiting: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=10) as r:
            live = json.loads(r.read()).get("live") or {}
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


def audio_path(server: FlowpbxServer, relative: str) -> Path:
    return server.config_dir / relative


def find_audio(signal: np.ndarray, template: np.ndarray, threshold: float = 0.6) -> list[int]:
    """Sample offsets where `template` occurs in `signal`: peaks of the normalised
    cross-correlation above `threshold` (1.0 = identical shape), at least a template's
    length apart. G.711 coding keeps a spoken prompt well above 0.9."""
    x = signal.astype(np.float64)
    t = template.astype(np.float64)
    t -= t.mean()
    m = len(t)
    if len(x) < m or not np.any(t):
        return []
    n = 1 << int(np.ceil(np.log2(len(x) + m)))
    corr = np.fft.irfft(np.fft.rfft(x, n) * np.conj(np.fft.rfft(t, n)), n)[: len(x) - m + 1]
    sq = np.concatenate(([0.0], np.cumsum(x * x)))
    energy = sq[m:] - sq[:-m]
    sums = np.concatenate(([0.0], np.cumsum(x)))
    window_sum = sums[m:] - sums[:-m]
    var = np.maximum(energy - window_sum**2 / m, 1e-9)
    ncc = corr / (np.sqrt(var) * np.linalg.norm(t))
    found: list[int] = []
    for i in np.argsort(ncc)[::-1]:
        if ncc[i] < threshold:
            break
        if all(abs(int(i) - j) >= m for j in found):
            found.append(int(i))
    return sorted(found)


def similarity(signal: np.ndarray, template: np.ndarray, at: int, slack: int = 320) -> float:
    """Best normalised correlation of `template` with `signal` near offset `at`."""
    lo = max(0, at - slack)
    piece = signal[lo : at + len(template) + slack].astype(np.float64)
    t = template.astype(np.float64) - template.mean()
    best = 0.0
    for k in range(0, max(1, len(piece) - len(t) + 1), 4):
        w = piece[k : k + len(t)]
        w = w - w.mean()
        denom = np.linalg.norm(w) * np.linalg.norm(t)
        if denom > 0:
            best = max(best, float(np.dot(w, t) / denom))
    return best

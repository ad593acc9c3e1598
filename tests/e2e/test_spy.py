"""Supervisor listen / whisper / barge on a real call (SPEC §4, issue 8's spy part).

Three baresip phones of the demo company, each sending its own tone: client 102 calls agent
101; supervisor 103 dials `4#101` and switches with keys 5 and 6, hangs up, dials `5#101`,
hangs up, then the UI's spy button (the API) rings 103 in barge mode, and 103 is hung up
when the client ends the call. What each phone heard in each phase
(FFT of baresip's own recording of its received audio) is exactly what the SPEC says.
A non-supervisor dialling a spy code is refused with 403."""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np
import pytest

from tests.audio_analysis import describe, load_wav, tones_present
from tests.e2e.apiclient import api_status
from tests.e2e.baresip import Baresip
from tests.e2e.conftest import Harness

pytestmark = pytest.mark.e2e

AGENT_HZ, CLIENT_HZ, SUP_HZ = 450.0, 1050.0, 1650.0
NAMES = {"agent": AGENT_HZ, "client": CLIENT_HZ, "supervisor": SUP_HZ}
PHASE_S = 2.5
MARGIN_S = 0.7  # skipped at both ends of a phase: dump start offsets, buffering, switching


def tones_in(samples: np.ndarray, start_s: float, end_s: float) -> set[str]:
    """Which of the three tones carry more than 5 % of the power in [start_s, end_s)."""
    x = samples[int(start_s * 8000) : int(end_s * 8000)].astype(np.float64)
    assert x.size >= 4000, f"window {start_s:.2f}-{end_s:.2f} s is outside the recording"
    if float(np.sqrt(np.mean(x**2))) < 100:
        return set()
    return tones_present(x, NAMES, width_hz=20)


def window(t0: float, start: float, end: float) -> tuple[float, float]:
    return start - t0 + MARGIN_S, end - t0 - MARGIN_S


def closed_reason(phone: Baresip, timeout: float = 10.0) -> str:
    event = phone.wait_event("CALL_CLOSED", timeout)
    return str(event.get("param", ""))


def spy_rows(server: Any, count: int) -> list[dict[str, Any]]:
    """Call-history rows of spy calls (written when each spy call ends), oldest first."""
    rows = server.wait_rows(
        "SELECT * FROM call_history WHERE outcome LIKE 'spy%' ORDER BY rowid", count=count
    )
    for row in rows:
        row["trace"] = json.loads(row["trace"])
    return list(rows)


def test_listen_whisper_barge_switching_api_and_refusal(e2e: Harness) -> None:
    server = e2e.server(None, demo=True)
    phones = {}
    for role, ext in (("agent", "101"), ("client", "102"), ("supervisor", "103")):
        phones[role] = e2e.baresip(
            name=f"spy{ext}",
            user=ext,
            password=f"demo-pass-{ext}",
            registrar=server.sip,
            tone_hz=NAMES[role],
        )
    for phone in phones.values():
        phone.wait_registered(10)
    agent, client, sup = phones["agent"], phones["client"], phones["supervisor"]
    pbx = f"127.0.0.1:{server.sip_port}"

    # A non-supervisor is refused (before anything else: no call to spy on is needed).
    client.dial(f"sip:4%23101@{pbx}")
    reason = closed_reason(client)
    assert "403" in reason, reason
    assert not any(e.get("type") == "CALL_ESTABLISHED" for e in client.events())

    client.dial(f"sip:101@{pbx}")
    agent.wait_event("CALL_ESTABLISHED", 15)
    client.wait_event("CALL_ESTABLISHED", 15)
    t_call = time.monotonic()
    time.sleep(PHASE_S)

    # Spy call 1: 4#101 (listen), then keys 5 (whisper) and 6 (barge).
    t_listen = time.monotonic()
    sup.dial(f"sip:4%23101@{pbx}")
    sup.wait_event("CALL_ESTABLISHED", 15)
    t_sup1 = time.monotonic()
    time.sleep(PHASE_S)
    t_whisper = time.monotonic()
    sup.command("sndcode", "5")
    time.sleep(PHASE_S)
    t_barge = time.monotonic()
    sup.command("sndcode", "6")
    time.sleep(PHASE_S)
    t_hangup1 = time.monotonic()
    sup.hangup()
    sup.wait_event("CALL_CLOSED", 10)
    time.sleep(PHASE_S)
    t_after = time.monotonic()

    # Spy call 2: 5#101 (whisper); the supervisor hangs up.
    sup.dial(f"sip:5%23101@{pbx}")
    sup.wait_event("CALL_ESTABLISHED", 15)
    t_sup2 = time.monotonic()
    time.sleep(PHASE_S)
    t_end2 = time.monotonic()
    sup.hangup()
    sup.wait_event("CALL_CLOSED", 10)

    # Spy call 3: the UI's button (POST /api/v1/calls/{id}/spy, barge) rings the supervisor's
    # phone, which answers; then the client ends the call and flowpbx hangs the supervisor up.
    _, login = api_status(server, "POST", "/api/v1/auth/login", LOGIN)
    token = login["token"]
    _, calls = api_status(server, "GET", "/api/v1/calls", token=token)
    (call,) = [c for c in calls if c["caller"] == "102"]
    body = {"supervisor": "103", "mode": "barge"}
    status, _ = api_status(server, "POST", f"/api/v1/calls/{call['id']}/spy", body, token=token)
    assert status == 202
    sup.wait_event("CALL_ESTABLISHED", 15)
    t_sup3 = time.monotonic()
    time.sleep(PHASE_S)
    t_end3 = time.monotonic()
    client.hangup()
    client.wait_event("CALL_CLOSED", 10)
    agent.wait_event("CALL_CLOSED", 10)
    sup.wait_event("CALL_CLOSED", 10)  # the spied call ended: flowpbx hung up the supervisor

    _, heard_agent = agent.received_wav()
    _, heard_client = client.received_wav()
    sup_files = sup.dump_files("dec")
    assert len(sup_files) >= 3, sup_files
    heard_sup = {
        t0: load_wav(f)[1] for t0, f in zip((t_sup1, t_sup2, t_sup3), sup_files[-3:], strict=True)
    }

    phases = {  # name: (start, end, the supervisor's call began at)
        "before": (t_call, t_listen, None),
        "listen": (t_sup1, t_whisper, t_sup1),
        "whisper": (t_whisper, t_barge, t_sup1),
        "barge": (t_barge, t_hangup1, t_sup1),
        "after": (t_hangup1, t_after, None),
        "whisper (5#)": (t_sup2, t_end2, t_sup2),
        "barge (API)": (t_sup3, t_end3, t_sup3),
    }
    both, all3 = {"agent", "client"}, {"agent", "client", "supervisor"}
    want = {  # what agent, client and supervisor hear
        "before": ({"client"}, {"agent"}, None),
        "listen": ({"client"}, {"agent"}, both),
        "whisper": ({"client", "supervisor"}, {"agent"}, both),
        "barge": ({"client", "supervisor"}, {"agent", "supervisor"}, both),
        "after": ({"client"}, {"agent"}, None),
        "whisper (5#)": ({"client", "supervisor"}, {"agent"}, both),
        "barge (API)": (all3 - {"agent"}, all3 - {"client"}, both),
    }
    problems = []
    for phase, (start, end, sup_t0) in phases.items():
        want_agent, want_client, want_sup = want[phase]
        got_agent = tones_in(heard_agent, *window(t_call, start, end))
        got_client = tones_in(heard_client, *window(t_call, start, end))
        if got_agent != want_agent:
            problems.append(f"{phase}: agent heard {got_agent}, want {want_agent}")
        if got_client != want_client:
            problems.append(f"{phase}: client heard {got_client}, want {want_client}")
        if sup_t0 is not None:
            got_sup = tones_in(heard_sup[sup_t0], *window(sup_t0, start, end))
            if got_sup != want_sup:
                problems.append(f"{phase}: supervisor heard {got_sup}, want {want_sup}")
    heard_by = {"agent": heard_agent, "client": heard_client}
    heard_by |= {f"supervisor call {i + 1}": a for i, a in enumerate(heard_sup.values())}
    shown = [f"{who}: {describe(audio)}" for who, audio in heard_by.items()]
    assert not problems, "\n".join([*problems, *shown])

    rows = spy_rows(server, 4)
    assert [r["outcome"] for r in rows] == ["spy_refused_403", "spy", "spy", "spy"], rows
    modes = [r["trace"][0]["facts"]["modes"] for r in rows[1:]]
    assert modes == [["listen", "whisper", "barge"], ["whisper"], ["barge"]], modes


LOGIN = {"username": "admin", "password": "demo-admin"}

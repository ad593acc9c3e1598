"""An agent's outgoing call is a call like an incoming one (issue 18): spy, `*2`, history.

Real peers, each sending its own tone: the client is a baresip behind the trunk (the trunk
points at it; it answers as the client's number and calls the company back from there),
agents and the supervisor are registered baresip phones. What each one heard is checked by
FFT of baresip's own recording of its received audio.

- 101 dials the client through the trunk; supervisor 103's `4#101`, keys 5 and 6, and the
  UI's spy button (the live API) give the same who-hears-whom matrix as on an incoming call
  (the agent side is 101, the client the outside party); 102 (not a supervisor) gets 403;
  101's `*2`+102 hands the client to 102 (hold, consultation, then client and 102 talk).
  The history row says outbound, 101 dialled, the number dialled and the number presented,
  and the history filters by extension and by number find it.
- History routing: a client phoned by 102 who calls the company back reaches 102; after
  101's `*2` to 102 on an incoming call, the client's next call reaches 102.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest

from tests.audio_analysis import describe, load_wav, tones_present
from tests.e2e import transfer_support as xfer
from tests.e2e.apiclient import admin_token, api_status
from tests.e2e.baresip import Baresip
from tests.e2e.conftest import Harness
from tests.e2e.server import FlowpbxServer
from tests.e2e.test_spy import closed_reason, window

pytestmark = pytest.mark.e2e

DID = "+37167000051"  # the company's number (presented on outgoing calls)
CLIENT = "+37129990051"
# Away from each other and from the hold music's notes and their octaves.
TONES = {"agent": 1300.0, "client": 1850.0, "supervisor": 2450.0, "target": 3100.0}
PHASE_S = 2.5


def tones_in(samples: np.ndarray, start_s: float, end_s: float) -> set[str]:
    """Which of the parties' tones carry more than 5 % of the power in [start_s, end_s)."""
    x = samples[int(start_s * 8000) : int(end_s * 8000)].astype(np.float64)
    assert x.size >= 4000, f"window {start_s:.2f}-{end_s:.2f} s is outside the recording"
    if float(np.sqrt(np.mean(x**2))) < 100:
        return set()
    return tones_present(x, TONES, width_hz=20)


def _company(
    e2e: Harness, tag: str, client: Baresip, entry: dict[str, Any], **trunk: Any
) -> FlowpbxServer:
    """Extensions 101, 102 (may call out), 103 (supervisor); the trunk is the client's
    baresip; DID's flow starts with `entry` (its node "start")."""
    exts = [
        {"number": n, "name": f"Ext {n}", "password": f"pw-long-{n}-{tag}", "outbound": True}
        for n in ("101", "102")
    ]
    exts.append(
        {"number": "103", "name": "Sup", "password": f"pw-long-103-{tag}", "supervisor": True}
    )
    config = {
        "extensions": exts,
        "trunks": [{"name": "provider", "host": "127.0.0.1", "port": client.sip_port, **trunk}],
        "numbers": [{"number": DID, "trunk": "provider"}],
        "flows": [
            {
                "name": tag,
                "entry": "did",
                "nodes": {
                    "did": {
                        "type": "numbers",
                        "params": {"numbers": [DID]},
                        "next": {"next": "start"},
                    },
                    **entry,
                },
            }
        ],
    }
    return e2e.server(config)


def _client(e2e: Harness, name: str, user: str = CLIENT) -> Baresip:
    """The client: a baresip that answers as `user`, with no registrar (the trunk's peer)."""
    return e2e.baresip(name=name, user=user, tone_hz=TONES["client"])


def _phone(e2e: Harness, server: FlowpbxServer, ext: str, tag: str, role: str) -> Baresip:
    phone = e2e.baresip(
        name=f"{tag}{ext}",
        user=ext,
        password=f"pw-long-{ext}-{tag}",
        registrar=server.sip,
        tone_hz=TONES[role],
    )
    phone.wait_registered(10)
    return phone


def _keys(phone: Baresip, keys: str) -> None:
    for key in keys:
        phone.command("sndcode", key)
        time.sleep(0.3)


def _final_rows(server: FlowpbxServer, count: int) -> list[dict[str, Any]]:
    server.wait_rows(
        "SELECT * FROM call_history WHERE outcome NOT IN ('in_progress') "
        "AND outcome NOT LIKE 'spy%'",
        count=count,
    )
    rows = [r for r in server.history() if not str(r["outcome"]).startswith("spy")]
    return sorted(rows, key=lambda r: r["started_at"])


def test_outgoing_call_spy_matrix_refusal_star2_and_history(e2e: Harness) -> None:
    tag = "outspy"
    client = _client(e2e, "cl-spy")
    server = _company(
        e2e, tag, client, {"start": {"type": "call_sip", "params": {"extension": "101"}}}
    )
    agent = _phone(e2e, server, "101", tag, "agent")
    target = _phone(e2e, server, "102", tag, "target")
    sup = _phone(e2e, server, "103", tag, "supervisor")
    pbx = f"127.0.0.1:{server.sip_port}"

    agent.dial(f"sip:{CLIENT}@{pbx}")  # out through the trunk to the client
    agent.wait_event("CALL_ESTABLISHED", 15)
    client.wait_event("CALL_ESTABLISHED", 15)
    t_call = time.monotonic()
    time.sleep(PHASE_S)

    # 4#101, then keys 5 and 6; the supervisor hangs up.
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

    # 102 is no supervisor: refused.
    target.dial(f"sip:5%23101@{pbx}")
    assert "403" in closed_reason(target)
    time.sleep(PHASE_S)
    t_after = time.monotonic()

    # The UI's spy button: the live API shows the call as 101's outgoing call.
    token = admin_token(server, "boss", "boss-password-18")
    _, calls = api_status(server, "GET", "/api/v1/calls", token=token)
    (call,) = calls
    assert (call["direction"], call["extension"], call["did"]) == ("outbound", "101", CLIENT)
    assert call["caller"] == DID and call["answered_by"] == "101", call
    body = {"supervisor": "103", "mode": "whisper"}
    status, _ = api_status(server, "POST", f"/api/v1/calls/{call['id']}/spy", body, token=token)
    assert status == 202
    sup.wait_event("CALL_ESTABLISHED", 15)
    t_sup2 = time.monotonic()
    time.sleep(PHASE_S)
    t_end2 = time.monotonic()
    sup.hangup()
    sup.wait_event("CALL_CLOSED", 10)
    time.sleep(0.5)

    # *2 102: the client on hold, 101 consults 102, hangs up: client and 102 talk.
    t_xfer = time.monotonic()
    _keys(agent, "*2102#")
    target.wait_event("CALL_ESTABLISHED", 20)
    t_consult = time.monotonic()
    time.sleep(PHASE_S)
    t_agent_off = time.monotonic()
    agent.hangup()
    agent.wait_event("CALL_CLOSED", 10)
    time.sleep(PHASE_S + 0.5)
    t_end = time.monotonic()
    client.hangup()
    client.wait_event("CALL_CLOSED", 10)
    target.wait_event("CALL_CLOSED", 10)

    _, heard_agent = agent.received_wav()
    _, heard_client = client.received_wav()
    sup_files = sup.dump_files("dec")
    assert len(sup_files) >= 2, sup_files
    heard_sup = {t0: load_wav(f)[1] for t0, f in zip((t_sup1, t_sup2), sup_files[-2:], strict=True)}
    _, heard_target = target.received_wav()

    both = {"agent", "client"}
    # phase: (start, end, the supervisor's call began at, want agent, want client, want sup)
    phases: dict[
        str, tuple[float, float, float | None, set[str], set[str] | None, set[str] | None]
    ] = {
        "before": (t_call, t_listen, None, {"client"}, {"agent"}, None),
        "listen (4#)": (t_sup1, t_whisper, t_sup1, {"client"}, {"agent"}, both),
        "whisper (5)": (t_whisper, t_barge, t_sup1, {"client", "supervisor"}, {"agent"}, both),
        "barge (6)": (
            t_barge, t_hangup1, t_sup1, {"client", "supervisor"}, {"agent", "supervisor"}, both,
        ),
        "after": (t_hangup1, t_after, None, {"client"}, {"agent"}, None),
        "whisper (API)": (t_sup2, t_end2, t_sup2, {"client", "supervisor"}, {"agent"}, both),
        "consultation": (t_consult, t_agent_off, None, {"target"}, None, None),
    }  # fmt: skip
    problems = []
    for phase, (start, end, sup_t0, want_agent, want_client, want_sup) in phases.items():
        got_agent = tones_in(heard_agent, *window(t_call, start, end))
        got_client = tones_in(heard_client, *window(t_call, start, end))
        if got_agent != want_agent:
            problems.append(f"{phase}: agent heard {got_agent}, want {want_agent}")
        if want_client is not None and got_client != want_client:
            problems.append(f"{phase}: client heard {got_client}, want {want_client}")
        if sup_t0 is not None:
            got_sup = tones_in(heard_sup[sup_t0], *window(sup_t0, start, end))
            if got_sup != want_sup:
                problems.append(f"{phase}: supervisor heard {got_sup}, want {want_sup}")
    # 102: 101 while consulting, then the client.
    for phase, start, end, want in (
        ("consultation", t_consult, t_agent_off, {"agent"}),
        ("transferred", t_agent_off, t_end, {"client"}),
    ):
        got = tones_in(heard_target, *window(t_consult, start, end))
        if got != want:
            problems.append(f"{phase}: 102 heard {got}, want {want}")
    # The client (its recording drifts from the others' by a second over the call: judged by
    # its own tone runs): 101 until the *2, then hold music (neither 101 nor 102) while
    # 101 consults, then 102 until the end.
    runs = xfer.long_runs(heard_client)
    last_agent = max(r.start + r.duration for r in runs if abs(r.freq - TONES["agent"]) <= 15)
    first_target = min(r.start for r in runs if abs(r.freq - TONES["target"]) <= 15)
    on_hold = tones_in(heard_client, last_agent + 0.3, first_target - 0.3)
    if first_target - last_agent < 1.5 or on_hold:
        problems.append(
            f"consultation: client heard {on_hold} for {first_target - last_agent:.1f} s"
        )
    if not xfer.ends_with(heard_client, TONES["target"], 2.0):
        problems.append("transferred: the client does not hear 102 until the end")
    shown = [
        f"{who}: {describe(audio)}"
        for who, audio in (("agent", heard_agent), ("client", heard_client), ("102", heard_target))
    ]
    assert not problems, "\n".join([*problems, *shown, f"*2 sent at {t_xfer - t_call:.1f} s"])

    # History: one outgoing row by parties, found by extension and by number.
    (row,) = _final_rows(server, 1)
    assert row["direction"] == "outbound", row
    assert (row["extension"], row["did"], row["caller"]) == ("101", CLIENT, DID), row
    assert row["answered_by"] == "102", row  # who last talked to the client
    transfers = [e["facts"] for e in row["trace"] if e.get("type") == "transfer"]
    assert [(t["by"], t["to"], t["result"]) for t in transfers] == [("101", "102", "completed")]
    for query in (
        "extension=101",
        "extension=102",
        f"number=%2B{CLIENT[1:]}",
        "direction=outbound",
    ):
        _, found = api_status(server, "GET", f"/api/v1/history?{query}", token=token)
        assert row["id"] in [r["id"] for r in found], (query, found)
    status, problem = api_status(server, "GET", "/api/v1/history?direction=sideways", token=token)
    assert status == 422 and "direction" in str(problem), problem


HISTORY_FLOW = {
    "start": {
        "type": "history_routing",
        "params": {"ring_timeout_s": 10},
        "next": {"not_found": "fallback", "no_answer": "fallback"},
    },
    "fallback": {"type": "call_sip", "params": {"extension": "101"}},
}


def _call_back_reaches_102(
    server: FlowpbxServer, client: Baresip, agent: Baresip, target: Baresip
) -> dict[str, Any]:
    """The client calls the company: history routing rings 102, which answers; both hear
    each other, 101 is not rung. The row of that call."""
    rung_101 = len([e for e in agent.events() if e.get("type") == "CALL_INCOMING"])
    client.dial(f"sip:{DID}@127.0.0.1:{server.sip_port}")
    client.wait_event("CALL_ESTABLISHED", 20)
    target.wait_event("CALL_ESTABLISHED", 20)
    t0 = time.monotonic()
    time.sleep(PHASE_S + 1.0)
    t1 = time.monotonic()
    client.hangup()
    client.wait_event("CALL_CLOSED", 10)
    target.wait_event("CALL_CLOSED", 10)
    _, heard_client = client.received_wav()
    _, heard_target = target.received_wav()
    got_client = tones_in(heard_client, *window(t0, t0, t1))
    got_target = tones_in(heard_target, *window(t0, t0, t1))
    assert (got_client, got_target) == ({"target"}, {"client"}), (
        f"client heard {describe(heard_client)}; 102 heard {describe(heard_target)}"
    )
    assert len([e for e in agent.events() if e.get("type") == "CALL_INCOMING"]) == rung_101
    rows = _final_rows(server, 2)
    row = rows[-1]
    assert (row["direction"], row["caller"], row["did"]) == ("inbound", CLIENT, DID), row
    assert row["answered_by"] == "102", row
    path = [(e["node"], e["output"]) for e in row["trace"] if e.get("node")]
    assert ("start", "answered") in path, path
    return row


def test_client_phoned_by_102_calling_back_reaches_102(e2e: Harness) -> None:
    tag = "outback"
    # The number in its international-access form (00 371...), as 102 dials it and as the
    # client's calls show it: the trunk (country code 371) reads both as CLIENT (E.164).
    intl = "00" + CLIENT[1:]
    client = _client(e2e, "cl-back", user=intl)
    server = _company(e2e, tag, client, HISTORY_FLOW, country_code="371")
    agent = _phone(e2e, server, "101", tag, "agent")
    target = _phone(e2e, server, "102", tag, "target")

    target.dial(f"sip:{intl}@127.0.0.1:{server.sip_port}")  # 102 phones the client
    target.wait_event("CALL_ESTABLISHED", 15)
    client.wait_event("CALL_ESTABLISHED", 15)
    time.sleep(2.0)
    target.hangup()
    target.wait_event("CALL_CLOSED", 10)
    client.wait_event("CALL_CLOSED", 10)
    (first,) = _final_rows(server, 1)
    assert (first["direction"], first["extension"], first["did"]) == ("outbound", "102", CLIENT)
    assert first["answered_by"] == "102", first

    _call_back_reaches_102(server, client, agent, target)


def test_after_star2_from_101_to_102_the_client_next_reaches_102(e2e: Harness) -> None:
    tag = "xferback"
    client = _client(e2e, "cl-xfer")
    server = _company(e2e, tag, client, HISTORY_FLOW)
    agent = _phone(e2e, server, "101", tag, "agent")
    target = _phone(e2e, server, "102", tag, "target")

    # The client's first call: no history, so 101 (the fallback); 101 hands it to 102.
    client.dial(f"sip:{DID}@127.0.0.1:{server.sip_port}")
    client.wait_event("CALL_ESTABLISHED", 20)
    agent.wait_event("CALL_ESTABLISHED", 20)
    t_call = time.monotonic()
    time.sleep(2.0)
    _keys(agent, "*2102#")
    target.wait_event("CALL_ESTABLISHED", 20)
    time.sleep(1.5)
    t_agent_off = time.monotonic()
    agent.hangup()
    agent.wait_event("CALL_CLOSED", 10)
    time.sleep(PHASE_S + 0.5)
    t_end = time.monotonic()
    client.hangup()
    client.wait_event("CALL_CLOSED", 10)
    target.wait_event("CALL_CLOSED", 10)
    _, heard_client = client.received_wav()
    got = tones_in(heard_client, *window(t_call, t_agent_off, t_end))
    assert got == {"target"}, describe(heard_client)  # the transfer was done
    (first,) = _final_rows(server, 1)
    assert (first["direction"], first["caller"]) == ("inbound", CLIENT), first
    assert first["answered_by"] == "102", first  # who last talked to the client

    _call_back_reaches_102(server, client, agent, target)


def test_refer_from_the_agent_on_an_outgoing_call_hands_the_client_over(e2e: Harness) -> None:
    """101's transfer button (REFER, blind, from baresip) on its outgoing call: 102 rings
    and the client talks to 102; the row names 102 as who last talked to the client."""
    tag = "outrefer"
    client = _client(e2e, "cl-refer")
    entry = {"start": {"type": "call_sip", "params": {"extension": "101"}}}
    server = _company(e2e, tag, client, entry)
    agent = _phone(e2e, server, "101", tag, "agent")
    target = _phone(e2e, server, "102", tag, "target")
    pbx = f"127.0.0.1:{server.sip_port}"
    agent.dial(f"sip:{CLIENT}@{pbx}")
    agent.wait_event("CALL_ESTABLISHED", 15)
    client.wait_event("CALL_ESTABLISHED", 15)
    time.sleep(1.5)
    agent.command("transfer", f"sip:102@{pbx}")
    target.wait_event("CALL_ESTABLISHED", 20)
    agent.wait_event("CALL_CLOSED", 15)  # released after the final NOTIFY
    t0 = time.monotonic()
    time.sleep(PHASE_S + 0.5)
    t1 = time.monotonic()
    client.hangup()
    client.wait_event("CALL_CLOSED", 10)
    target.wait_event("CALL_CLOSED", 10)
    _, heard_target = target.received_wav()
    _, heard_client = client.received_wav()
    got = tones_in(heard_target, *window(t0, t0, t1))
    assert got == {"client"}, describe(heard_target)
    assert xfer.ends_with(heard_client, TONES["target"], 2.0), describe(heard_client)
    (row,) = _final_rows(server, 1)
    assert (row["direction"], row["extension"], row["answered_by"]) == ("outbound", "101", "102")
    transfers = [e["facts"] for e in row["trace"] if e.get("type") == "transfer"]
    assert [(t["by"], t["to"], t["method"], t["result"]) for t in transfers] == [
        ("101", "102", "refer", "completed")
    ], transfers

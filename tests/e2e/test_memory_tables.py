"""A PBX runs for months: after calls through a queue, every live table is back to its
idle size (issue 26).

A provider (SIPp) makes several short calls, one after another, to a DID whose flow is
``numbers -> queue (member 102) -> hangup``; extension 102 is a registered SIPp phone that
answers. Before the calls and once they are over, /metrics is read (flowpbx_mem_* and the
process figures, pbx/memory.py): SIP transactions and their timer heap, dialogs, calls and
their tasks, legs not yet freed, media watches, busy/ringing counts, queue callers, RTP
ports and asyncio tasks must all come back to (at most) where they were — polled until they
do (transactions live up to 64*T1 = 32 s after their last message), failing with the tables
that did not. A leg kept by a reference cycle (freed only by a full collector pass, which flowpbx's
collector thresholds make rare) counts as alive, so the guard also catches cycles.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from tests.e2e.apiclient import admin_token, metrics
from tests.e2e.conftest import Harness
from tests.e2e.peers import company, flow, provider_media, tone_pcap
from tests.e2e.server import FlowpbxServer
from tests.e2e.sipp import Sipp
from tests.netutil import free_udp_port

DID = "+37167000026"
CALLS = 6
PASSWORD = "pw-102-memory"
# Tables that must be back at their idle size once the calls and their transactions ended.
TABLES = (
    "mem_sip_txn_client",
    "mem_sip_txn_server",
    "mem_sip_txn_accepted",
    "mem_sip_txn_merge",
    "mem_sip_txn_timer_heap",
    "mem_dialogs",
    "mem_calls",
    "mem_call_tasks",
    "mem_legs_alive",
    "mem_media_watches",
    "mem_busy_extensions",
    "mem_ringing_extensions",
    "mem_bridges_by_extension",
    "mem_queue_callers",
    "rtp_ports_in_use",
    "asyncio_tasks",
)


def test_queue_calls_leave_no_live_state_behind(e2e: Harness) -> None:
    trunk_port, phone_port = free_udp_port(), free_udp_port()
    server = FlowpbxServer(e2e.tmp_path)
    e2e.adopt(server)
    company(
        server,
        trunk_ports=[trunk_port],
        extensions=[{"number": "102", "name": "Agent", "password": PASSWORD}],
        flows=[
            flow(
                "Memory line",
                [DID],
                {
                    "queue": {
                        "type": "queue",
                        "params": {
                            "name": "memory",
                            "members": [{"extension": "102"}],
                            "max_wait_s": 20,
                        },
                        "next": {"timeout": "bye"},
                    },
                    "bye": {"type": "hangup", "params": {}},
                },
                first="queue",
            )
        ],
    )
    server.start()
    token = admin_token(server, "memory-admin", "memory-admin-pw")
    e2e.register(
        server.sip, ext="102", password=PASSWORD, local_port=phone_port, name="register-102"
    ).start().check(timeout=20)
    phone = e2e.adopt_sipp(
        Sipp(
            "uas_answer.xml",
            e2e.tmp_path,
            local_port=phone_port,
            service="102",
            calls=CALLS,
            variables={"answer_after_ms": 200},
            files={"uas_tone.pcap": tone_pcap(1200.0, ssrc=0x5A5A04B0)},
            name="phone-102",
        )
    ).start()
    phone.wait_ready()
    idle = tables(server, token)  # (the registration's transactions may still be there)
    assert set(TABLES) <= set(idle), sorted(set(TABLES) - set(idle))

    provider = e2e.adopt_sipp(
        Sipp(
            "provider_call_dtmf.xml",
            e2e.tmp_path,
            remote=server.sip,
            local_port=trunk_port,
            service=DID,
            calls=CALLS,
            keys={"caller": "+37129000026"},
            variables={"dtmf_at_ms": 500, "talk_ms": 800},
            files=provider_media("1", 500, 600.0),
            extra_args=["-l", "1"],  # one call at a time: the queue has one member
            name="provider",
        )
    ).start()
    provider.check(timeout=120)
    phone.check(timeout=30)
    rows = server.wait_rows(
        "SELECT outcome, answered_by FROM call_history WHERE outcome='answered'", count=CALLS
    )
    assert {r["answered_by"] for r in rows} == {"102"}, rows

    def back(t: dict[str, float]) -> bool:
        return all(t[k] <= idle[k] for k in TABLES)

    after = wait_tables(server, token, back)
    grown = {k: (idle[k], after[k]) for k in TABLES if after[k] > idle[k]}
    assert not grown, f"live tables above their idle size (idle, after): {grown}"


def tables(server: FlowpbxServer, token: str) -> dict[str, float]:
    """The figures of /metrics with the flowpbx_ prefix removed."""
    return {
        name.removeprefix("flowpbx_"): value
        for name, value in metrics(server, token).items()
        if name.startswith("flowpbx_")
    }


def wait_tables(
    server: FlowpbxServer,
    token: str,
    done: Callable[[dict[str, float]], bool],
    timeout: float = 90.0,
) -> dict[str, float]:
    """Poll /metrics until ``done(tables)``; the last tables (asserted by the caller)."""
    deadline = time.monotonic() + timeout
    current = tables(server, token)
    while not done(current) and time.monotonic() < deadline:
        time.sleep(0.5)
        current = tables(server, token)
    return current

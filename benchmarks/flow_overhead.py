"""Flow engine overhead (SPEC §8: flow decision overhead < 50 µs per element).

    .venv/bin/python benchmarks/flow_overhead.py [--quick]

Two figures, both through `run_flow`, the interpreter that runs live calls:

1. Decision overhead per element step, per element type: a chain of 40 elements of one
   type between `numbers` and `hangup`, run on a `SimulatedSession` (every call operation
   is instant, in virtual time), so what is measured is the interpreter's own work — node
   lookup, element dispatch, the element's decision, facts, the trace entry — plus the
   simulated session's bookkeeping (so the figure is an upper bound).
2. Simulated calls per second through a 10-element flow (numbers → caller_lookup →
   http_notify → time_routing → caller_id → play → menu → email → call_sip, plus the
   hangup), with `simulate()` as the API and CLI call it: new session, services and run
   per call, flow already loaded.

Times are CPU time of this process (`time.process_time`), so other processes competing
for the cores do not inflate them; each figure is the best of several rounds, with the
median beside it, and the load average at the start is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import os
import platform
import statistics
import time
from typing import Any

from flowpbx.flow.context import EmailMessage, FlowServices, HttpReply, HttpRequest
from flowpbx.flow.interpreter import run_flow
from flowpbx.flow.model import Flow, ScheduleSpec, load_flow
from flowpbx.flow.schedule import Schedule
from flowpbx.flow.simulator import SimulatedSession, simulate

AT = dt.datetime(2026, 5, 4, 10, 0, tzinfo=dt.UTC)
DID = "+37167000001"
CHAIN = 40

# type -> (params, output to follow, keys the caller presses per element)
ELEMENTS: dict[str, tuple[dict[str, Any], str, str]] = {
    "caller_id": ({"prefix": "0", "strip": 1}, "next", ""),
    "time_routing (named schedule)": ({"schedule": "office"}, "true", ""),
    "time_routing (inline hours)": (
        {"timezone": "Europe/Riga", "hours": {"mon": [["09:00", "18:00"], ["22:00", "06:00"]]}},
        "true",
        "",
    ),
    "play": ({"audio": "greeting"}, "next", ""),
    "menu (key pressed)": ({"prompt": "menu", "keys": ["1"]}, "1", "1"),
    "http_notify (waits for reply 1)": ({"url": "https://crm.example/h?c={caller}"}, "1", ""),
    "caller_lookup": ({"url": "https://crm.example/n/{caller}", "json_field": "name"}, "next", ""),
    "email (now)": ({"to": ["boss@example.com"]}, "next", ""),
    "call_sip (busy)": ({"extension": "101"}, "busy", ""),
}


def chain_flow(label: str) -> tuple[Flow, str]:
    params, output, key = ELEMENTS[label]
    type_ = label.split(" ")[0]
    nodes: dict[str, Any] = {
        "start": {"type": "numbers", "params": {"numbers": [DID]}, "next": {"next": "e0"}}
    }
    for i in range(CHAIN):
        nxt = f"e{i + 1}" if i + 1 < CHAIN else "end"
        nodes[f"e{i}"] = {"type": type_, "params": params, "next": {output: nxt}}
    nodes["end"] = {"type": "hangup"}
    return load_flow({"name": "bench", "entry": "start", "nodes": nodes}), key * CHAIN


async def _http(request: HttpRequest) -> HttpReply:
    return HttpReply(status=200, body='{"name": "Acme"}' if "/n/" in request.url else "1")


async def _send(message: EmailMessage) -> None:
    return None


def services() -> FlowServices:
    office = Schedule.from_spec(
        ScheduleSpec(timezone="Europe/Riga", hours={"mon": [("09:00", "18:00")]})
    )
    return FlowServices(
        schedule={"office": office}.get,
        extensions=lambda: ("101", "102"),
        http=_http,
        send_email=_send,
        live=False,
    )


async def per_step_us(flow: Flow, keys: str, runs: int, svc: FlowServices) -> float:
    steps = len(flow.nodes)
    answers = {"101": "busy"}
    start = time.process_time()
    for _ in range(runs):
        session = SimulatedSession(
            caller="+37129999999", did=DID, at=AT, keys=keys, answers=answers
        )
        await run_flow(flow, session, services=svc, max_steps=10_000)
    return (time.process_time() - start) / (runs * steps) * 1e6


TEN = {
    "name": "ten",
    "entry": "start",
    "nodes": {
        "start": {"type": "numbers", "params": {"numbers": [DID]}, "next": {"next": "lookup"}},
        "lookup": {
            "type": "caller_lookup",
            "params": {"url": "https://crm.example/n/{caller}", "json_field": "name"},
            "next": {"next": "hook"},
        },
        "hook": {
            "type": "http_notify",
            "params": {"url": "https://crm.example/h", "body": '{"c": "{caller}"}'},
            "next": {"1": "hours", "default": "hours"},
        },
        "hours": {
            "type": "time_routing",
            "params": {"schedule": "office"},
            "next": {"true": "cid"},
        },
        "cid": {"type": "caller_id", "params": {"name_prefix": "VIP "}, "next": {"next": "hello"}},
        "hello": {"type": "play", "params": {"audio": "greeting"}, "next": {"next": "menu"}},
        "menu": {"type": "menu", "params": {"prompt": "menu"}, "next": {"1": "mail"}},
        "mail": {"type": "email", "params": {"to": ["a@example.com"]}, "next": {"next": "ring"}},
        "ring": {"type": "call_sip", "params": {"extension": "101"}, "next": {"busy": "end"}},
        "end": {"type": "hangup"},
    },
}


async def calls_per_second(flow: Flow, calls: int, schedules: dict[str, Schedule]) -> float:
    replies: dict[str, str | int | None] = {"lookup": '{"name": "Acme"}', "hook": "1"}
    start = time.process_time()
    for _ in range(calls):
        run = await simulate(
            flow,
            caller="+37129999999",
            did=DID,
            at=AT,
            keys="1",
            http_replies=replies,
            answers={"101": "busy"},
            schedules=schedules,
        )
        assert run.path[-1] == "end", run.reason
    return calls / (time.process_time() - start)


def machine() -> str:
    model = ""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            model = next((ln.split(":", 1)[1].strip() for ln in f if "model name" in ln), "")
    except OSError:
        pass
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"{os.cpu_count()} CPUs, {model or platform.processor()}, Python "
        f"{platform.python_version()}, load average {load}"
    )


async def main(quick: bool) -> None:
    rounds, runs, calls = (3, 40, 300) if quick else (7, 200, 2000)
    svc = services()
    print(machine())
    gc.collect()
    print(f"\nDecision overhead per element step (chain of {CHAIN}, best of {rounds}):")
    results: dict[str, float] = {}
    for label in ELEMENTS:
        flow, keys = chain_flow(label)
        await per_step_us(flow, keys, max(5, runs // 10), svc)  # warm-up
        samples = [await per_step_us(flow, keys, runs, svc) for _ in range(rounds)]
        results[label] = min(samples)
        print(
            f"  {label:<34} {min(samples):6.1f} µs/step  (median {statistics.median(samples):.1f})"
        )
    print(f"  worst element: {max(results.values()):.1f} µs/step (target < 50 µs)")

    ten = load_flow(TEN)
    office = svc.schedule("office") if svc.schedule else None
    schedules = {"office": office} if office is not None else {}
    await calls_per_second(ten, max(20, calls // 10), schedules)  # warm-up
    rates = [await calls_per_second(ten, calls, schedules) for _ in range(rounds)]
    print(
        f"\nSimulated calls through a 10-element flow (best of {rounds} x {calls} calls): "
        f"{max(rates):,.0f} calls/s, {1e6 / max(rates):.0f} µs per call "
        f"(median {statistics.median(rates):,.0f} calls/s)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds, for trying")
    asyncio.run(main(parser.parse_args().quick))

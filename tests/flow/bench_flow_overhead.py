"""Flow decision overhead per element (SPEC §8 target: < 50 µs). Not a test: run it.

    .venv/bin/python tests/flow/bench_flow_overhead.py

Runs flows on a `SimulatedSession` (every call operation instant, virtual time) so what
is measured is the interpreter: node lookup, element dispatch, trace entries, facts.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import Any

from flowpbx.flow.context import FlowServices
from flowpbx.flow.interpreter import run_flow
from flowpbx.flow.model import Flow, ScheduleSpec, load_flow
from flowpbx.flow.schedule import Schedule
from flowpbx.flow.simulator import SimulatedSession

AT = dt.datetime(2026, 5, 4, 10, 0, tzinfo=dt.UTC)


def chain_flow(n: int) -> Flow:
    """numbers → n elements alternating caller_id / time_routing / play / menu → hangup."""
    nodes: dict[str, Any] = {"start": {"type": "numbers", "next": {"next": "e0"}}}
    kinds = [
        ("caller_id", {"prefix": ""}, "next"),
        ("time_routing", {"schedule": "office"}, "true"),
        ("play", {"audio": "greeting"}, "next"),
        ("menu", {"prompt": "menu", "keys": ["1"]}, "1"),
    ]
    for i in range(n):
        type_, params, out = kinds[i % len(kinds)]
        nxt = f"e{i + 1}" if i + 1 < n else "end"
        nodes[f"e{i}"] = {"type": type_, "params": params, "next": {out: nxt}}
    nodes["end"] = {"type": "hangup"}
    return load_flow({"name": "bench", "entry": "start", "nodes": nodes})


async def measure(flow: Flow, runs: int, services: FlowServices) -> float:
    elements = len(flow.nodes)
    keys = "1" * elements
    start = time.perf_counter()
    for _ in range(runs):
        session = SimulatedSession(caller="+3712", did="+3716", at=AT, keys=keys)
        await run_flow(flow, session, services=services, max_steps=10_000)
    elapsed = time.perf_counter() - start
    return elapsed / (runs * elements) * 1e6


async def main() -> None:
    office = Schedule.from_spec(
        ScheduleSpec(timezone="Europe/Riga", hours={"mon": [("09:00", "18:00")]})
    )
    services = FlowServices(schedule={"office": office}.get, live=False)
    flow = chain_flow(40)
    await measure(flow, 50, services)  # warm up
    best = min([await measure(flow, 300, services) for _ in range(5)])
    print(f"{len(flow.nodes)} elements per call: {best:.1f} µs per element (best of 5)")


if __name__ == "__main__":
    asyncio.run(main())

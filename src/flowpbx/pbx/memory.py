"""What the process holds, for operators and for finding growth (issue: memory flat for months).

``memory_metrics(rt)`` is merged into /metrics (PbxService.counters): the process's RSS, open
descriptors and asyncio tasks, and the size of every table the live PBX keeps — SIP
transactions and their timer heap, dialogs, calls and their tasks, bridges, busy/ringing
counts, registrations, MWI subscriptions, queues, media watches, and every bounded cache
(digest nonce counts, per-source rate-limit records, bans, the trusted-address cache, voicemail
PIN failures and lockouts, lookups). A count that grows with the number of calls taken shows
there before memory does.

``TracemallocDumper`` is the soak diagnostic (``FLOWPBX_TRACEMALLOC_DUMP=DIR:SECONDS[:FRAMES]``):
tracemalloc runs in the serving process, and every SECONDS a snapshot is written to
``DIR/snapshot-NNNNN.pickle`` with, beside it, ``DIR/objects-NNNNN.json`` (live objects the
collector tracks, by type). benchmarks/soak.py diffs the first and the last snapshot of the
load and prints the top growth by allocation site. Costly (every allocation is traced):
for finding causes, never on a production PBX.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import os
import tracemalloc
from collections import Counter
from collections.abc import Sized
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowpbx.pbx.legs import LIVE_LEGS

if TYPE_CHECKING:
    from flowpbx.pbx.runtime import Runtime

log = logging.getLogger(__name__)

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def process_figures() -> dict[str, int]:
    """RSS in bytes, open descriptors and asyncio tasks of this process (Linux /proc)."""
    out: dict[str, int] = {}
    with contextlib.suppress(OSError, ValueError, IndexError), open("/proc/self/statm") as f:
        out["process_resident_memory_bytes"] = int(f.read().split()[1]) * _PAGE
    with contextlib.suppress(OSError):
        out["process_open_fds"] = len(os.listdir("/proc/self/fd"))
    with contextlib.suppress(RuntimeError):
        out["asyncio_tasks"] = len(asyncio.all_tasks())
        scheduled = getattr(asyncio.get_running_loop(), "_scheduled", None)  # not on uvloop
        if isinstance(scheduled, list):
            out["asyncio_timers"] = len(scheduled)
    return out


def _size(obj: object, *path: str) -> int | None:
    """len() of ``obj.a.b...``, None when the attribute is absent (a table that moved)."""
    for name in path:
        obj = getattr(obj, name, None)
        if obj is None:
            return None
    return len(obj) if isinstance(obj, Sized) else None


def memory_metrics(rt: Runtime) -> dict[str, int]:
    """Process figures and the size of each live table and bounded cache (see module doc)."""
    out = process_figures()
    txn: Counter[str] = Counter()
    for layer in rt.sip.layers.values():
        for table, n in layer.table_sizes().items():
            txn[table] += n
    out.update({f"mem_sip_txn_{table}": n for table, n in txn.items()})
    out["mem_legs_alive"] = len(LIVE_LEGS)
    sizes: dict[str, int | None] = {
        "mem_dialogs": _size(rt, "_dialogs"),
        "mem_calls": _size(rt.calls, "active"),
        "mem_call_tasks": _size(rt.calls, "_tasks"),
        "mem_flow_cache": _size(rt.calls, "_flows"),
        "mem_bridges_by_extension": _size(rt.calls, "bridges", "_by_ext"),
        "mem_busy_extensions": _size(rt, "busy"),
        "mem_ringing_extensions": _size(rt, "ringing"),
        "mem_registrar_extensions": _size(rt.registrar, "_bindings"),
        "mem_mwi_subscriptions": _size(rt.mwi, "_subs"),
        "mem_trunk_registrations": _size(rt.trunks, "_regs"),
        "mem_queues": _size(rt.queues, "queues"),
        "mem_queue_callers": sum(
            len(getattr(q, "waiting", ()) or ()) for q in rt.queues.queues.values()
        ),
        "mem_media_watches": _size(rt.clock, "_watches"),
        "mem_mailbox_counts": _size(rt, "mailbox_counts"),
        "mem_event_subscribers": _size(rt.events, "_subscribers"),
        "mem_guard_sources": _size(rt.guard, "_sources"),
        "mem_guard_bans": _size(rt.guard, "_bans"),
        "mem_guard_trusted_cache": _size(rt.guard, "_trusted_cache"),
        "mem_guard_active_calls": _size(rt.guard, "calls", "_active"),
        "mem_pin_failures": _size(rt.calls, "pin_lockout", "_failures"),
        "mem_pin_lockouts": _size(rt.calls, "pin_lockout", "_locked_until"),
        "mem_auth_nonces": _size(rt.auth, "server", "counts"),
        "mem_sip_tcp_targets": _size(rt.sip, "_tcp_targets"),
        "mem_sip_tcp_connections": _size(rt.sip.tcp, "_conns") if rt.sip.tcp else 0,
        "mem_sip_tcp_pending": _size(rt.sip.tcp, "_pending") if rt.sip.tcp else 0,
    }
    out.update({k: v for k, v in sizes.items() if v is not None})
    out.update(_module_caches())
    return out


def _module_caches() -> dict[str, int]:
    """The process-wide bounded caches (parsed URIs, name-addrs and Vias; allow-list
    networks): their current sizes."""
    import importlib

    out: dict[str, int] = {}
    for metric, module, attr in (
        ("mem_parse_cache_uris", "flowpbx.sip.uri", "_parsed_uris"),
        ("mem_parse_cache_name_addrs", "flowpbx.sip.headers", "_parsed_name_addrs"),
        ("mem_parse_cache_vias", "flowpbx.sip.headers", "_parsed_vias"),
        ("mem_allow_list_networks_cache", "flowpbx.pbx.security", "_networks"),
    ):
        obj = getattr(importlib.import_module(module), attr, None)
        info = getattr(obj, "cache_info", None)
        if callable(info):
            out[metric] = int(info().currsize)
        elif isinstance(obj, Sized):
            out[metric] = len(obj)
    return out


# -- soak diagnostic -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DumpSpec:
    directory: Path
    interval_s: float
    frames: int = 1


def parse_dump_spec(text: str) -> DumpSpec | None:
    """``DIR:SECONDS[:FRAMES]`` (FLOWPBX_TRACEMALLOC_DUMP); "" is off. ValueError if bad."""
    text = text.strip()
    if not text:
        return None
    parts = text.rsplit(":", 2)
    if len(parts) == 3 and parts[1].replace(".", "", 1).isdigit() and parts[2].isdigit():
        directory, interval, frames = parts[0], float(parts[1]), int(parts[2])
    else:
        directory, _, tail = text.rpartition(":")
        try:
            interval, frames = float(tail), 1
        except ValueError:
            raise ValueError("expected DIR:SECONDS[:FRAMES]") from None
    if not directory or not 1.0 <= interval <= 86400.0 or not 1 <= frames <= 64:
        raise ValueError("expected DIR:SECONDS[:FRAMES], SECONDS 1-86400, FRAMES 1-64")
    return DumpSpec(Path(directory), interval, frames)


class TracemallocDumper:
    """Snapshots of the heap at intervals, written to files (see module doc)."""

    def __init__(self, spec: DumpSpec) -> None:
        self.spec = spec
        self._task: asyncio.Task[None] | None = None
        self._n = 0

    def start(self) -> None:
        self.spec.directory.mkdir(parents=True, exist_ok=True)
        if not tracemalloc.is_tracing():
            tracemalloc.start(self.spec.frames)
        self._task = asyncio.get_running_loop().create_task(self._run())
        log.warning(
            "tracemalloc on: a snapshot every %.0f s into %s (slow; diagnostics only)",
            self.spec.interval_s,
            self.spec.directory,
        )

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        with contextlib.suppress(OSError):
            self.dump()
        tracemalloc.stop()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.spec.interval_s)
            try:
                self.dump()
            except OSError:
                log.exception("could not write a tracemalloc snapshot")

    def dump(self) -> None:
        if not tracemalloc.is_tracing():
            return
        garbage = _collect_garbage()  # what remains is reachable: a leak, not a late free
        snap = tracemalloc.take_snapshot().filter_traces(
            (tracemalloc.Filter(False, tracemalloc.__file__),)
        )
        name = f"{self._n:05d}"
        self._n += 1
        directory = self.spec.directory
        tmp = directory / f".snapshot-{name}.tmp"
        snap.dump(str(tmp))
        tmp.replace(directory / f"snapshot-{name}.pickle")
        types: Counter[str] = Counter(type(o).__qualname__ for o in gc.get_objects())
        info: dict[str, Any] = {
            "n": self._n - 1,
            "traced_bytes": tracemalloc.get_traced_memory()[0],
            **process_figures(),
            "objects": dict(types.most_common(200)),
            **garbage,
        }
        (directory / f"objects-{name}.json").write_text(json.dumps(info) + "\n")


def _collect_garbage() -> dict[str, Any]:
    """A full collection, keeping what it frees: the cyclic garbage by type, and for the
    most common flowpbx types in it one reference cycle (type names along the cycle), so
    the link that keeps a finished call's objects from being freed by reference counting
    can be found and cut."""
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        gc.collect()
        found = list(gc.garbage)
    finally:
        gc.garbage.clear()
        gc.set_debug(0)
    kinds: Counter[str] = Counter(type(o).__qualname__ for o in found)
    ids = {id(o) for o in found}
    cycles: dict[str, list[str]] = {}
    obj: object = None
    for obj in found:
        kind = type(obj)
        label = kind.__qualname__
        if not kind.__module__.startswith("flowpbx") or label in cycles or len(cycles) >= 8:
            continue
        cycles[label] = _cycle_through(obj, ids)
    del found, obj
    gc.collect()  # kept alive above, they are garbage again: free them now
    return {"garbage": dict(kinds.most_common(60)), "garbage_cycles": cycles}


def _cycle_through(start: object, within: set[int], limit: int = 40_000) -> list[str]:
    """Shortest path of references from ``start`` back to itself inside ``within``."""
    parent: dict[int, tuple[int, str]] = {}
    objects: dict[int, object] = {id(start): start}
    frontier = [start]
    seen = {id(start)}
    while frontier and len(seen) < limit:
        nxt: list[object] = []
        for obj in frontier:
            for ref in gc.get_referents(obj):
                rid = id(ref)
                if rid == id(start):
                    path = [type(ref).__qualname__]
                    cur = id(obj)
                    while cur != id(start):
                        path.append(type(objects[cur]).__qualname__)
                        cur = parent[cur][0]
                    path.append(type(start).__qualname__)
                    return path[::-1]
                if rid in seen or rid not in within:
                    continue
                seen.add(rid)
                parent[rid] = (id(obj), "")
                objects[rid] = ref
                nxt.append(ref)
        frontier = nxt
    return []

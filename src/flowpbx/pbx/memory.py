"""What the process holds, for operators and for finding growth (issue: memory flat for months).

``process_figures()``: the process's RSS, open descriptors and asyncio tasks (on /metrics
with the live tables of pbx/live_tables.py).

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
from typing import Any

from flowpbx.settings import DumpSpec

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


# -- soak diagnostic -------------------------------------------------------------------------


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
            # tracemalloc's own tables (not traced, but in the RSS): to tell them apart
            "tracemalloc_bytes": tracemalloc.get_tracemalloc_memory(),
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

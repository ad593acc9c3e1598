"""`flowpbx serve` for benchmarks: logging at WARNING and garbage-collector pauses measured.

Run as ``python benchmarks/serve_bench.py`` with the usual FLOWPBX_* environment (the same
process `flowpbx serve` starts: app.run on uvloop). With ``FLOWPBX_BENCH_GC=PATH`` every
collector pass is timed through ``gc.callbacks`` and a JSON summary (count per generation,
max and p99 pause in ms, total ms) is written to PATH every 5 s and at exit (a server killed
on a slow shutdown still leaves its figures). The writing runs on the event loop itself and
costs well under a millisecond; no thread of this file runs Python code while measuring
(a second thread competes for the GIL: measured, it added 5-15 ms stalls to the loop).

Diagnostics (costly: for finding causes, not for figures): ``FLOWPBX_BENCH_OBJECTS=1`` adds,
every 10 s, the 15 most numerous object types the collector tracks; with it,
``FLOWPBX_BENCH_HOLDERS=TypeName`` lists who refers to some objects of that type and
``FLOWPBX_BENCH_CYCLES=1`` counts, by type, what the collector freed (cyclic garbage).
``FLOWPBX_BENCH_GC_THRESHOLD=a,b,c`` replaces flowpbx's own collector thresholds
(`pbx.runtime.GC_THRESHOLDS`, set after start-up), to measure what a different setting
would change (the figures of record use the thresholds flowpbx itself sets).

``FLOWPBX_BENCH_STALLS=PATH`` finds what holds the event loop: a 1 ms heartbeat on the loop
notes its own lateness, the loop thread's CPU time and its run-queue wait (kernel
schedstat). At exit PATH gets, per stall of 4 ms or more: its length, the loop thread's CPU
time during it (≈ the length: our own code held the loop), its run-queue wait (≈ the
length: the kernel ran other processes), its context switches, the collector passes in it;
with ``FLOWPBX_BENCH_STALLS_STACKS=1`` a watchdog thread also samples the loop thread's
stack during stalls (that thread perturbs what it measures). benchmarks/media.py records
each step's measurement window in the same clock (`window`), to pick the stalls inside it.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import os
import resource
import sys
import threading
import time
from collections import Counter
from typing import Any

import uvloop

from flowpbx.app import run
from flowpbx.pbx import runtime
from flowpbx.settings import Settings


class GcPauses:
    """Times every collection with gc.callbacks (start/stop pairs).

    Kept as running figures (count per generation, total, max, a 0.1 ms histogram for the
    p99), so a summary costs the same after a million passes as after ten."""

    BIN_MS = 0.1

    def __init__(self) -> None:
        self.started = 0.0
        self.by_gen = [0, 0, 0]
        self.total_s = 0.0
        self.max_s = 0.0
        self.hist: Counter[int] = Counter()
        self.recent: list[tuple[int, float]] = []  # for StallWatch: (generation, seconds)
        self.objects: list[tuple[float, int, list[tuple[str, int]]]] = []
        self.frozen = 0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self.started = time.perf_counter()
            return
        took = time.perf_counter() - self.started
        gen = int(info["generation"])
        self.by_gen[gen] += 1
        self.total_s += took
        if took > self.max_s:
            self.max_s = took
        self.hist[int(took * 1000 / self.BIN_MS)] += 1
        if len(self.recent) < 10_000:
            self.recent.append((gen, took))

    def summary(self) -> dict[str, Any]:
        count = sum(self.by_gen)
        p99 = 0.0
        if count:
            want, acc = 0.99 * count, 0
            for b in sorted(self.hist):
                acc += self.hist[b]
                if acc >= want:
                    p99 = (b + 1) * self.BIN_MS
                    break
        return {
            "collections": count,
            "by_generation": dict(enumerate(self.by_gen)),
            "max_ms": round(self.max_s * 1000, 3),
            "p99_ms": round(p99, 3),
            "total_ms": round(self.total_s * 1000, 1),
            "thresholds": list(gc.get_threshold()),
            "frozen": self.frozen,  # gc.get_freeze_count() walks every frozen object: not here
            "objects": self.objects,
        }


def _dump(pauses: GcPauses, path: str) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(pauses.summary(), f)
    os.replace(tmp, path)


def _dump_on_loop(loop: asyncio.AbstractEventLoop, pauses: GcPauses, path: str) -> None:
    """Every 5 s, on the loop itself: a small JSON file (well under a millisecond). A thread
    doing it would compete for the GIL with the loop, and a thread the kernel deschedules
    while holding the GIL stalls the loop for a whole time slice."""
    with contextlib.suppress(OSError, RuntimeError):
        _dump(pauses, path)
    loop.call_later(5.0, _dump_on_loop, loop, pauses, path)


def _count_frozen(pauses: GcPauses) -> None:
    """Once, 20 s after start (app.run froze the start-up objects by then): the count walks
    every frozen object, milliseconds of loop time."""
    pauses.frozen = gc.get_freeze_count()


def _holders(obj: Any, objs: list[Any], depth: int = 4) -> list[tuple[str, int]]:
    """Referrer chains of `obj`, a few levels up (diagnostics)."""
    out: list[tuple[str, int]] = []
    level = [obj]
    ignore = {id(objs), id(level)}
    for d in range(depth):
        nxt = []
        for o in level:
            for r in gc.get_referrers(o):
                if id(r) in ignore or r is level or type(r).__name__ == "frame":
                    continue
                desc = type(r).__qualname__
                if isinstance(r, dict):
                    keys = list(r)[:6]
                    desc += f" keys={keys}"
                out.append((f"{d}: {desc}"[:200], id(r)))
                nxt.append(r)
        ignore.update(id(x) for x in level)
        level = nxt[:8]
    return out


def _census(pauses: GcPauses) -> None:
    """FLOWPBX_BENCH_OBJECTS=1: what the collector tracks, every 10 s (diagnostics only)."""
    start = time.monotonic()
    cycles = os.environ.get("FLOWPBX_BENCH_CYCLES") == "1"  # what the collector frees
    if cycles:
        gc.set_debug(gc.DEBUG_SAVEALL)
    while True:
        time.sleep(10.0)
        if cycles:
            garbage = Counter(type(o).__qualname__ for o in gc.garbage).most_common(25)
            pauses.objects.append((-1, len(gc.garbage), garbage))
            gc.garbage.clear()
        objs = gc.get_objects()
        top = Counter(type(o).__qualname__ for o in objs).most_common(15)
        pauses.objects.append((round(time.monotonic() - start), len(objs), top))
        kind = os.environ.get("FLOWPBX_BENCH_HOLDERS")  # e.g. UasLeg: who keeps them alive
        if kind:
            found = [o for o in objs if type(o).__qualname__ == kind][:400:40]
            for obj in found:
                pauses.objects.append((0, 0, [("holders of " + kind, 0), *_holders(obj, objs)]))
        del objs


class StallWatch:
    """Heartbeat on the loop + a watchdog thread that samples the loop thread's stack."""

    THRESHOLD_S = 0.003

    def __init__(self, path: str, pauses: GcPauses) -> None:
        self.path = path
        self.pauses = pauses
        self.beat = time.perf_counter()
        self.beat_cpu = time.thread_time()
        self.loop_thread = threading.get_ident()
        self.stalls: list[dict[str, Any]] = []
        self.samples: Counter[str] = Counter()
        self.lateness_hist: Counter[int] = Counter()  # ms -> count
        self._gc_seen = 0
        path = f"/proc/self/task/{threading.get_native_id()}/schedstat"
        self._schedstat = open(path, "rb")  # noqa: SIM115 - read at every beat, for the process's life
        self.beat_wait = self._runq_wait()
        self.beat_ru = resource.getrusage(resource.RUSAGE_THREAD)

    def _runq_wait(self) -> int:
        """ns the loop thread spent runnable but waiting for a CPU (kernel schedstat)."""
        self._schedstat.seek(0)
        return int(self._schedstat.read().split()[1])

    def start(self, loop: Any) -> None:
        self.loop = loop
        self._heartbeat()
        if os.environ.get("FLOWPBX_BENCH_STALLS_STACKS") == "1":
            threading.Thread(target=self._watch, daemon=True).start()
        # Written at exit only: a JSON file of thousands of stalls takes milliseconds.

    def _heartbeat(self) -> None:
        now = time.perf_counter()
        cpu = time.thread_time()
        wait = self._runq_wait()
        ru = resource.getrusage(resource.RUSAGE_THREAD)
        gap = now - self.beat
        self.lateness_hist[int(gap * 1000)] += 1
        if gap >= self.THRESHOLD_S + 0.001:
            gcs = len(self.pauses.recent)
            stacks, self.samples = self.samples, Counter()
            self.stalls.append(
                {
                    "at": round(now, 3),
                    "wall_ms": round(gap * 1000, 2),
                    "cpu_ms": round((cpu - self.beat_cpu) * 1000, 2),
                    "runq_wait_ms": round((wait - self.beat_wait) / 1e6, 2),
                    "csw": [
                        ru.ru_nvcsw - self.beat_ru.ru_nvcsw,
                        ru.ru_nivcsw - self.beat_ru.ru_nivcsw,
                    ],
                    "gc": [
                        (g, round(p * 1000, 2)) for g, p in self.pauses.recent[self._gc_seen : gcs]
                    ],
                    "stacks": stacks.most_common(4),
                }
            )
            self._gc_seen = gcs
        else:
            self.samples.clear()
            self._gc_seen = len(self.pauses.recent)
        self.beat = now
        self.beat_cpu = cpu
        self.beat_wait = wait
        self.beat_ru = ru
        self.loop.call_later(0.001, self._heartbeat)

    def _watch(self) -> None:
        while True:
            time.sleep(0.0005)
            if time.perf_counter() - self.beat > self.THRESHOLD_S:
                frame = sys._current_frames().get(self.loop_thread)
                parts: list[str] = []
                while frame is not None and len(parts) < 12:
                    code = frame.f_code
                    parts.append(f"{code.co_filename.rsplit('/', 1)[-1]}:{code.co_name}")
                    frame = frame.f_back
                self.samples[" < ".join(parts)] += 1

    def dump(self) -> None:
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(
                {"lateness_ms": sorted(self.lateness_hist.items()), "stalls": self.stalls[-20000:]},
                f,
            )
        os.replace(tmp, self.path)


def main() -> None:
    logging.basicConfig(
        level=logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    gc_path = os.environ.get("FLOWPBX_BENCH_GC")
    threshold = os.environ.get("FLOWPBX_BENCH_GC_THRESHOLD")
    if threshold:  # applied by app.run through tune_collector, after start-up
        a, b, c = (int(x) for x in threshold.split(","))
        runtime.GC_THRESHOLDS = (a, b, c)
    pauses = GcPauses()
    if gc_path:
        gc.callbacks.append(pauses)
        if os.environ.get("FLOWPBX_BENCH_OBJECTS") == "1":
            threading.Thread(target=_census, args=(pauses,), daemon=True).start()
    stalls_path = os.environ.get("FLOWPBX_BENCH_STALLS")
    watch: StallWatch | None = None
    if stalls_path:
        if not gc_path:
            gc.callbacks.append(pauses)
        watch = StallWatch(stalls_path, pauses)

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        if gc_path:
            _dump_on_loop(loop, pauses, gc_path)
        if watch is not None:
            watch.start(loop)
        loop.call_later(20.0, _count_frozen, pauses)
        await run(Settings.from_env())

    runtime.apply_realtime(Settings.from_env().realtime_priority)  # as app.serve does
    try:
        with contextlib.suppress(KeyboardInterrupt):
            uvloop.run(serve())
    finally:
        if gc_path:
            _dump(pauses, gc_path)
        if watch is not None:
            watch.dump()


if __name__ == "__main__":
    main()

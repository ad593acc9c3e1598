"""`flowpbx serve` for benchmarks: logging at WARNING and garbage-collector pauses measured.

Run as ``python benchmarks/serve_bench.py`` with the usual FLOWPBX_* environment (the same
process `flowpbx serve` starts: app.run on uvloop). With ``FLOWPBX_BENCH_GC=PATH`` every
collector pass is timed through ``gc.callbacks`` and, at exit, a JSON summary (count per
generation, max and p99 pause in ms, total ms) is written to PATH every 5 s and at exit
(a server killed on a slow shutdown still leaves its figures).

Diagnostics: ``FLOWPBX_BENCH_OBJECTS=1`` adds, every 10 s, the 15 most numerous object types
the collector tracks (costly: for finding what piles up, not for figures).
``FLOWPBX_BENCH_GC_THRESHOLD=a,b,c`` calls gc.set_threshold(a, b, c) before serving, to
measure what a different collector setting would change (the figures of record use the
thresholds flowpbx itself sets).
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import os
import sys
import threading
import time
from collections import Counter
from typing import Any

import uvloop

from flowpbx.app import run
from flowpbx.settings import Settings


class GcPauses:
    """Times every collection with gc.callbacks (start/stop pairs)."""

    def __init__(self) -> None:
        self.started = 0.0
        self.pauses: list[tuple[int, float]] = []  # (generation, seconds)
        self.objects: list[tuple[float, int, list[tuple[str, int]]]] = []

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self.started = time.perf_counter()
        else:
            self.pauses.append((int(info["generation"]), time.perf_counter() - self.started))

    def summary(self) -> dict[str, Any]:
        ms = sorted(p * 1000 for _, p in self.pauses)
        by_gen = {g: sum(1 for gen, _ in self.pauses if gen == g) for g in (0, 1, 2)}
        return {
            "collections": len(ms),
            "by_generation": by_gen,
            "max_ms": round(ms[-1], 3) if ms else 0.0,
            "p99_ms": round(ms[int(0.99 * (len(ms) - 1))], 3) if ms else 0.0,
            "total_ms": round(sum(ms), 1),
            "thresholds": list(gc.get_threshold()),
            "frozen": gc.get_freeze_count(),
            "objects": self.objects,
        }


def _dump(pauses: GcPauses, path: str) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(pauses.summary(), f)
    os.replace(tmp, path)


def _dump_every_second(pauses: GcPauses, path: str) -> None:
    census = os.environ.get("FLOWPBX_BENCH_OBJECTS") == "1"
    start = last_census = time.monotonic()
    while True:
        time.sleep(5.0)  # the summary sorts every pause: not too often (it holds the GIL)
        if census and time.monotonic() - last_census >= 10:
            last_census = time.monotonic()
            objs = gc.get_objects()
            top = Counter(type(o).__qualname__ for o in objs).most_common(15)
            pauses.objects.append((round(last_census - start), len(objs), top))
            del objs
        with contextlib.suppress(OSError, RuntimeError):
            _dump(pauses, path)


def main() -> None:
    logging.basicConfig(
        level=logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    gc_path = os.environ.get("FLOWPBX_BENCH_GC")
    threshold = os.environ.get("FLOWPBX_BENCH_GC_THRESHOLD")
    if threshold:
        a, b, c = (int(x) for x in threshold.split(","))
        gc.set_threshold(a, b, c)
    pauses = GcPauses()
    if gc_path:
        gc.callbacks.append(pauses)
        threading.Thread(target=_dump_every_second, args=(pauses, gc_path), daemon=True).start()
    try:
        with contextlib.suppress(KeyboardInterrupt):
            uvloop.run(run(Settings.from_env()))
    finally:
        if gc_path:
            _dump(pauses, gc_path)


if __name__ == "__main__":
    main()

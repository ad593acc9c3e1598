"""pbx/memory.py: the soak diagnostic's setting, its heap snapshots and the cycle finder,
and the process figures /metrics exports."""

from __future__ import annotations

import asyncio
import gc
import json
import tracemalloc
from pathlib import Path

import pytest

from flowpbx.pbx.memory import (
    TracemallocDumper,
    _collect_garbage,
    _cycle_through,
    process_figures,
)
from flowpbx.settings import DumpSpec, Settings, SettingsError, parse_dump_spec


def test_dump_spec_forms() -> None:
    assert parse_dump_spec("") is None
    assert parse_dump_spec("/tmp/snaps:30") == DumpSpec(Path("/tmp/snaps"), 30.0, 1)
    assert parse_dump_spec("/tmp/snaps:2.5:6") == DumpSpec(Path("/tmp/snaps"), 2.5, 6)
    for bad in ("/tmp/snaps", "/tmp/snaps:0", ":30", "/tmp/snaps:30:0", "/tmp/snaps:x"):
        with pytest.raises(ValueError):
            parse_dump_spec(bad)


def test_setting_is_checked_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings.from_env().tracemalloc_dump == ""
    monkeypatch.setenv("FLOWPBX_TRACEMALLOC_DUMP", "/tmp/snaps:60")
    assert Settings.from_env().tracemalloc_dump == "/tmp/snaps:60"
    monkeypatch.setenv("FLOWPBX_TRACEMALLOC_DUMP", "/tmp/snaps")
    with pytest.raises(SettingsError, match="FLOWPBX_TRACEMALLOC_DUMP"):
        Settings.from_env()


def test_process_figures() -> None:
    async def figures() -> dict[str, int]:
        return process_figures()

    got = asyncio.run(figures())
    assert got["process_resident_memory_bytes"] > 1_000_000
    assert got["process_open_fds"] >= 3
    assert got["asyncio_tasks"] >= 1


class _Node:
    def __init__(self) -> None:
        self.other: object = None


def test_cycle_through_names_the_types_along_the_cycle() -> None:
    a, b = _Node(), _Node()
    a.other = {"to": b}
    b.other = a
    within = {id(a), id(b), id(a.other)}
    assert _cycle_through(a, within) == ["_Node", "dict", "_Node", "_Node"]
    assert _cycle_through(_Node(), within) == []


def test_dumper_writes_snapshots_and_counts_garbage(tmp_path: Path) -> None:
    was_tracing = tracemalloc.is_tracing()

    async def run() -> None:
        dumper = TracemallocDumper(DumpSpec(tmp_path, 3600.0, 2))
        dumper.start()
        a = _Node()
        a.other = a  # cyclic garbage once dropped
        del a
        dumper.dump()
        dumper.close()

    gc.collect()  # earlier tests' garbage would push _Node out of the top counts
    gc.disable()  # the cycle must still be there when the dump collects
    try:
        asyncio.run(run())
    finally:
        gc.enable()
        if was_tracing and not tracemalloc.is_tracing():
            tracemalloc.start()
    snaps = sorted(tmp_path.glob("snapshot-*.pickle"))
    assert len(snaps) == 2  # the one asked for, and the one at close
    assert tracemalloc.Snapshot.load(str(snaps[0])).traces
    info = json.loads((tmp_path / "objects-00000.json").read_text())
    assert info["garbage"].get("_Node", 0) >= 1
    assert info["traced_bytes"] > 0 and info["objects"]
    assert info["tracemalloc_bytes"] > 0
    assert _collect_garbage()["garbage"].get("_Node", 0) == 0  # freed by that dump

"""The queue line's bookkeeping (pbx/features/queues.py `QueueManager.run`) with stand-in calls:
a member picked for one caller is not picked for the caller behind while the first ring is
still being set up (ringing a phone opens media first, an await), and a caller always
leaves the line, even when its hold audio cannot start."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from flowpbx.flow.session import CallEnded
from flowpbx.pbx.events import count
from flowpbx.pbx.features.queues import QueueManager, QueueSpec

SPEC = QueueSpec(
    name="sales",
    members=(("101", 0), ("102", 0)),
    strategy="linear",
    member_timeout_s=30,
    max_wait_s=60,
)


class _Clock:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.players: list[Any] = []

    def start_player(self, player: Any) -> Any:
        if self.fail:
            raise RuntimeError("media clock stopped")
        self.players.append(player)
        return player

    def stop_player(self, player: Any) -> None:
        if player in self.players:
            self.players.remove(player)


def _runtime(clock: _Clock) -> SimpleNamespace:
    async def member_stats(queue: str, since: object) -> dict[str, Any]:
        return {}

    async def frames(name: str, codec: str) -> list[bytes]:
        return [b"\xff" * 160]

    return SimpleNamespace(
        loop=asyncio.get_running_loop(),
        registrar=SimpleNamespace(bindings=lambda ext: [ext]),  # everyone registered
        busy={},
        ringing={},
        store=SimpleNamespace(queue_member_stats=member_stats),
        audio=SimpleNamespace(frames=frames),
        events=SimpleNamespace(emit=lambda kind, **data: None),
        clock=clock,
    )


class _Caller:
    """A LiveCall stand-in whose `ring` behaves like the real one: it awaits (opening
    media) before it counts the phones as ringing, then rings until the caller hangs up."""

    def __init__(self, rt: SimpleNamespace, call_id: str) -> None:
        self.rt = rt
        self.call_id = call_id
        self.caller = "+37129000001"
        self.queue_joined_at = 0.0
        self.leg = SimpleNamespace(rtp=SimpleNamespace(codec=SimpleNamespace(name="PCMU")))
        self.rung: list[str] = []
        self.picked = asyncio.Event()  # set once the queue rings someone for this caller
        self.media_opened = asyncio.Event()  # released by the test
        self.ringing = asyncio.Event()
        self.hung_up = asyncio.Event()

    async def answer(self) -> None:
        return None

    def take_digit(self, keys: str) -> bool:
        return False

    async def wait(self, seconds: float, *, stop_digits: str = "") -> None:
        if self.hung_up.is_set():
            raise CallEnded()
        await asyncio.sleep(0.001)

    def extension_targets(self, extension: str) -> list[Any]:
        return [SimpleNamespace(label=extension)]

    async def ring(self, targets: list[Any], timeout: float, **_: Any) -> tuple[None, list[int]]:
        self.rung.extend(t.label for t in targets)
        self.picked.set()
        await self.media_opened.wait()
        for t in targets:
            count(self.rt.ringing, t.label, +1)
        self.ringing.set()
        try:
            await self.hung_up.wait()
            raise CallEnded()
        finally:
            for t in targets:
                count(self.rt.ringing, t.label, -1)


async def test_a_member_picked_for_the_head_of_the_line_is_not_picked_again() -> None:
    rt = _runtime(_Clock())
    manager = QueueManager(rt)  # type: ignore[arg-type]
    first, second = _Caller(rt, "first"), _Caller(rt, "second")
    t1 = asyncio.create_task(manager.run(first, SPEC))  # type: ignore[arg-type]
    # linear: 101 is picked, its media still being opened
    await asyncio.wait_for(first.picked.wait(), 10)
    t2 = asyncio.create_task(manager.run(second, SPEC))  # type: ignore[arg-type]
    # the first caller is ringing someone: the second rings too
    await asyncio.wait_for(second.picked.wait(), 10)
    first.media_opened.set()
    second.media_opened.set()
    await asyncio.wait_for(first.ringing.wait(), 10)
    await asyncio.wait_for(second.ringing.wait(), 10)
    assert first.rung == ["101"]
    assert second.rung == ["102"], "101 was rung twice"
    assert set(rt.ringing) == {"101", "102"}
    for caller, task in ((first, t1), (second, t2)):
        caller.hung_up.set()
        with pytest.raises(CallEnded):
            await asyncio.wait_for(task, 10)
    q = manager.queue("sales")
    assert q.waiting == [] and q.ringing_for == set() and rt.ringing == {}
    assert q.abandoned == 2


async def test_the_caller_leaves_the_line_when_hold_audio_cannot_start() -> None:
    rt = _runtime(_Clock(fail=True))
    manager = QueueManager(rt)  # type: ignore[arg-type]
    caller = _Caller(rt, "unlucky")
    with pytest.raises(RuntimeError, match="media clock stopped"):
        await asyncio.wait_for(manager.run(caller, SPEC), 10)  # type: ignore[arg-type]
    assert manager.queue("sales").waiting == []
    # the next caller is the head of the line and rings a member at once
    rt.clock.fail = False
    nxt = _Caller(rt, "next")
    task = asyncio.create_task(manager.run(nxt, SPEC))  # type: ignore[arg-type]
    nxt.media_opened.set()
    await asyncio.wait_for(nxt.ringing.wait(), 10)
    assert nxt.rung == ["101"]
    nxt.hung_up.set()
    with pytest.raises(CallEnded):
        await asyncio.wait_for(task, 10)

"""Queue strategies (SPEC §3): which free members to ring next. Pure.

`pick_members(strategy, members, ...)` gets every member of a queue with its live state
and statistics and returns the extensions to ring now (several at once only for
``ring_all``). Members on a call, ringing, in wrap-up or not registered are never rung.
Penalties: only the free members with the lowest penalty are considered.

    ring_all       every free member at once
    fewest_calls   the free member who answered the fewest calls today
    least_recent   the free member whose last call ended longest ago (never = first)
    round_robin    the next free member after the one rung last in this queue
    linear         list order, for each caller: the first free member not yet tried
    random         any free member

Ties go to list order, so results are reproducible (random takes an `rng`).
"""

from __future__ import annotations

import random as _random
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = ["MemberState", "MemberStats", "Strategy", "pick_members"]

Strategy = Literal["ring_all", "fewest_calls", "least_recent", "round_robin", "linear", "random"]
MemberState = Literal["free", "ringing", "on_call", "wrapup", "offline"]


@dataclass(frozen=True, slots=True, kw_only=True)
class MemberStats:
    extension: str
    state: MemberState = "free"
    penalty: int = 0
    calls_today: int = 0
    last_call_end: float | None = None  # any monotonic-or-epoch seconds; None = never


def _free_tier(members: Sequence[MemberStats], skip: Collection[str]) -> list[MemberStats]:
    free = [m for m in members if m.state == "free" and m.extension not in skip]
    if not free:
        return []
    best = min(m.penalty for m in free)
    return [m for m in free if m.penalty == best]


def pick_members(
    strategy: Strategy,
    members: Sequence[MemberStats],
    *,
    tried: Collection[str] = (),
    last_rung: str | None = None,
    rng: _random.Random | None = None,
) -> list[str]:
    """Extensions to ring now, or [] when nobody free can be rung.

    `tried`: members already rung for this caller (linear, and every one-at-a-time
    strategy, moves on to the others first; once all were tried it starts over).
    `last_rung`: the member this queue rang last (round_robin's remembered rotation).
    """
    if strategy == "ring_all":
        return [m.extension for m in _free_tier(members, ())]
    tier = _free_tier(members, tried) or _free_tier(members, ())
    if not tier:
        return []
    if strategy == "fewest_calls":
        chosen = min(tier, key=lambda m: m.calls_today)
    elif strategy == "least_recent":
        chosen = min(
            tier, key=lambda m: float("-inf") if m.last_call_end is None else m.last_call_end
        )
    elif strategy == "round_robin":
        chosen = tier[0]
        if last_rung is not None:
            order = [m.extension for m in members]
            start = order.index(last_rung) + 1 if last_rung in order else 0
            eligible = {m.extension: m for m in tier}
            for ext in order[start:] + order[:start]:
                if ext in eligible:
                    chosen = eligible[ext]
                    break
    elif strategy == "linear":
        chosen = tier[0]
    elif strategy == "random":
        chosen = (rng or _random.Random()).choice(tier)
    else:  # pragma: no cover - Literal exhausts the strategies
        raise ValueError(f"unknown strategy {strategy!r}")
    return [chosen.extension]

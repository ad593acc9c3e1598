"""Queue strategies choosing which free members to ring."""

from __future__ import annotations

import random

import pytest

from flowpbx.flow.queue_policy import MemberStats, pick_members


def team() -> list[MemberStats]:
    return [
        MemberStats(extension="101", calls_today=5, last_call_end=100.0),
        MemberStats(extension="102", state="on_call", calls_today=0),
        MemberStats(extension="103", calls_today=2, last_call_end=50.0),
        MemberStats(extension="104", calls_today=2, last_call_end=None),
        MemberStats(extension="105", state="wrapup"),
        MemberStats(extension="106", state="offline"),
        MemberStats(extension="107", state="ringing"),
    ]


def test_ring_all_rings_every_free_member() -> None:
    assert pick_members("ring_all", team()) == ["101", "103", "104"]


def test_fewest_calls_ties_go_to_list_order() -> None:
    assert pick_members("fewest_calls", team()) == ["103"]
    assert pick_members("fewest_calls", team(), tried={"103"}) == ["104"]


def test_least_recent_never_called_first() -> None:
    assert pick_members("least_recent", team()) == ["104"]
    assert pick_members("least_recent", team(), tried={"104"}) == ["103"]


def test_round_robin_continues_after_last_rung() -> None:
    assert pick_members("round_robin", team()) == ["101"]
    assert pick_members("round_robin", team(), last_rung="101") == ["103"]
    assert pick_members("round_robin", team(), last_rung="103") == ["104"]
    assert pick_members("round_robin", team(), last_rung="104") == ["101"]  # wraps around
    assert pick_members("round_robin", team(), last_rung="102") == ["103"]  # busy one skipped


def test_linear_moves_on_for_each_caller_then_starts_over() -> None:
    assert pick_members("linear", team()) == ["101"]
    assert pick_members("linear", team(), tried={"101"}) == ["103"]
    assert pick_members("linear", team(), tried={"101", "103", "104"}) == ["101"]


def test_random_picks_only_free_members() -> None:
    rng = random.Random(7)
    picks = {pick_members("random", team(), rng=rng)[0] for _ in range(200)}
    assert picks == {"101", "103", "104"}


def test_penalty_tiers() -> None:
    members = [
        MemberStats(extension="101", penalty=1),
        MemberStats(extension="102", penalty=0, state="on_call"),
        MemberStats(extension="103", penalty=2),
        MemberStats(extension="104", penalty=1),
    ]
    assert pick_members("ring_all", members) == ["101", "104"]
    assert pick_members("linear", members, tried={"101", "104"}) == ["103"]


def test_nobody_free() -> None:
    members = [MemberStats(extension="101", state="on_call")]
    for strategy in ("ring_all", "fewest_calls", "least_recent", "round_robin", "linear", "random"):
        assert pick_members(strategy, members) == []  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- tables

STRATEGIES = ("ring_all", "fewest_calls", "least_recent", "round_robin", "linear", "random")
NOT_RUNG = ("ringing", "on_call", "wrapup", "offline")


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("state", NOT_RUNG)
def test_every_strategy_skips_members_that_cannot_take_a_call(strategy: str, state: str) -> None:
    # the member that would be chosen first is in `state`: the next free one is rung
    members = [
        MemberStats(extension="101", state=state, calls_today=0, last_call_end=None),  # type: ignore[arg-type]
        MemberStats(extension="102", calls_today=1, last_call_end=10.0),
    ]
    got = pick_members(strategy, members, rng=random.Random(1))  # type: ignore[arg-type]
    assert got == ["102"]
    alone = [members[0]]
    assert pick_members(strategy, alone) == []  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("strategy", "tried", "last_rung", "expected"),
    [
        # penalty 0 members 102 (on a call) and 104 (free); penalty 1: 101, 103; penalty 2: 105
        ("ring_all", (), None, ["104"]),
        ("fewest_calls", (), None, ["104"]),
        ("least_recent", (), None, ["104"]),
        ("round_robin", (), "104", ["104"]),  # the only one of the best tier
        ("linear", (), None, ["104"]),
        ("random", (), None, ["104"]),
        # 104 already tried for this caller: the next tier, by strategy
        ("fewest_calls", ("104",), None, ["103"]),
        ("least_recent", ("104",), None, ["101"]),
        ("round_robin", ("104",), "101", ["103"]),
        ("linear", ("104",), None, ["101"]),
        # every member of tiers 0 and 1 tried: the last tier
        ("linear", ("101", "103", "104"), None, ["105"]),
        # everybody tried: start over from the best tier
        ("linear", ("101", "103", "104", "105"), None, ["104"]),
    ],
)
def test_penalties_by_strategy(
    strategy: str, tried: tuple[str, ...], last_rung: str | None, expected: list[str]
) -> None:
    members = [
        MemberStats(extension="101", penalty=1, calls_today=4, last_call_end=5.0),
        MemberStats(extension="102", penalty=0, state="on_call"),
        MemberStats(extension="103", penalty=1, calls_today=1, last_call_end=50.0),
        MemberStats(extension="104", penalty=0, calls_today=9, last_call_end=99.0),
        MemberStats(extension="105", penalty=2),
    ]
    got = pick_members(
        strategy,  # type: ignore[arg-type]
        members,
        tried=tried,
        last_rung=last_rung,
        rng=random.Random(3),
    )
    assert got == expected

"""Queue strategies choosing which free members to ring."""

from __future__ import annotations

import random

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

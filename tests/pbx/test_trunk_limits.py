"""Per-trunk limits (issue 16): the INVITE rate with the Retry-After it asks for, and the
history rows of calls to unknown numbers, skipped over their rate and counted in the next."""

from __future__ import annotations

import pytest

from flowpbx.pbx.features.trunks import TrunkLimits
from flowpbx.pbx.security import GuardConfig, Rate
from flowpbx.settings import Settings, SettingsError
from flowpbx.store.records import TrunkRec

A = TrunkRec(name="a", host="192.0.2.1")
B = TrunkRec(name="b", host="192.0.2.2")


def limits(invite: str = "2:4", rejected: str = "1:3") -> TrunkLimits:
    return TrunkLimits(invite_rate=Rate.parse(invite), rejected_rate=Rate.parse(rejected))


def test_invite_rate_is_per_trunk_and_says_when_to_retry() -> None:
    t = limits("2:4")
    assert [t.admit_invite(A, 0.0) for _ in range(4)] == [None] * 4
    assert t.admit_invite(A, 0.0) == 1  # one token comes back in 0.5 s
    assert t.admit_invite(B, 0.0) is None  # another trunk has its own bucket
    assert t.admit_invite(A, 0.5) is None
    assert t.invites_refused == 1
    slow = limits("0.1:1")
    assert slow.admit_invite(A, 0.0) is None
    assert slow.admit_invite(A, 0.0) == 10


def test_a_trunks_own_limits_override_the_defaults() -> None:
    t = TrunkLimits(invite_rate=Rate.parse("1:1"), rejected_rate=Rate.parse("1:1"), max_calls=50)
    big = TrunkRec(name="big", host="192.0.2.3", max_calls=500, invite_rate="100:200")
    free = TrunkRec(name="free", host="192.0.2.4", max_calls=0, invite_rate="0")
    bad = TrunkRec(name="bad", host="192.0.2.5", invite_rate="fast")
    assert (t.call_cap(A), t.call_cap(big), t.call_cap(free)) == (50, 500, 0)
    assert all(t.admit_invite(big, 0.0) is None for _ in range(200))
    assert t.admit_invite(big, 0.0) is not None
    assert all(t.admit_invite(free, 0.0) is None for _ in range(1000))
    assert t.admit_invite(bad, 0.0) is None  # a bad value falls back to the default 1:1
    assert t.admit_invite(bad, 0.0) == 1


def test_rate_zero_is_off() -> None:
    t = limits("0", "0")
    assert all(t.admit_invite(A, 0.0) is None for _ in range(1000))
    assert all(t.record_rejected("a", 0.0) == 0 for _ in range(1000))


def test_rejected_rows_over_the_rate_are_counted_in_the_next_row() -> None:
    t = limits(rejected="1:3")
    assert [t.record_rejected("a", 0.0) for _ in range(3)] == [0, 0, 0]
    assert [t.record_rejected("a", 0.0) for _ in range(100)] == [None] * 100
    assert t.record_rejected("b", 0.0) == 0  # per trunk
    assert t.record_rejected("a", 1.0) == 100  # the next row says how many were skipped
    assert t.record_rejected("a", 1.0) is None
    assert t.record_rejected("a", 2.0) == 1
    assert t.rejected_not_recorded == 101


def test_defaults_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    s = Settings.from_env()
    assert s.sip_max_calls_per_trunk == 50
    t = TrunkLimits.from_settings(s)
    assert t.invite_rate == Rate(per_s=10.0, burst=50.0)
    assert t.rejected_rate == Rate(per_s=1.0, burst=20.0)
    assert t.max_calls == 50
    assert GuardConfig.from_settings(s).max_calls_per_trunk == 50
    monkeypatch.setenv("FLOWPBX_SIP_RATE_TRUNK_INVITE", "3:6")
    monkeypatch.setenv("FLOWPBX_SIP_RATE_REJECTED_HISTORY", "0")
    t = TrunkLimits.from_settings(Settings.from_env())
    assert t.invite_rate == Rate(per_s=3.0, burst=6.0)
    assert t.rejected_rate.per_s == 0
    monkeypatch.setenv("FLOWPBX_SIP_RATE_TRUNK_INVITE", "fast")
    with pytest.raises(SettingsError, match="FLOWPBX_SIP_RATE_TRUNK_INVITE"):
        Settings.from_env()

"""Wrong voicemail PINs across calls (pbx/security.py `PinLockout`)."""

from __future__ import annotations

from flowpbx.pbx.security import PinLockout


def _lockout() -> PinLockout:
    return PinLockout(max_failures=3, window_s=60.0, lockout_s=300.0)


def test_failures_within_the_window_lock_the_mailbox_for_a_while() -> None:
    guard = _lockout()
    assert not guard.failure("101", "", 0.0)
    assert not guard.failure("101", "", 10.0)
    assert guard.failure("101", "", 20.0)  # the third within 60 s
    assert guard.locked("101", "", 21.0)
    assert guard.locked("101", "", 319.0)
    assert not guard.locked("101", "", 320.0)  # the lockout is over
    assert not guard.failure("101", "", 321.0)  # and counting starts again


def test_failures_spread_beyond_the_window_do_not_lock() -> None:
    guard = _lockout()
    for t in (0.0, 40.0, 80.0, 120.0, 160.0):
        assert not guard.failure("101", "", t)
    assert not guard.locked("101", "", 161.0)


def test_the_right_pin_clears_the_count() -> None:
    guard = _lockout()
    guard.failure("101", "", 0.0)
    guard.failure("101", "", 1.0)
    guard.success("101", "")
    assert not guard.failure("101", "", 2.0)


def test_outside_callers_do_not_lock_the_owners_extension_out() -> None:
    guard = _lockout()
    for t in (0.0, 1.0, 2.0):
        guard.failure("101", "", t)
    assert guard.locked("101", "", 3.0)  # every outside caller
    assert not guard.locked("101", "101", 3.0)  # the owner's own phone (authenticated)
    assert not guard.locked("102", "", 3.0)  # other mailboxes

"""The leg state table (pbx/call/leg_states.py `LEG_TRANSITIONS`) is enforced: a leg moves
only along it, and an illegal transition is logged and refused."""

from __future__ import annotations

import logging

import pytest

from flowpbx.pbx.call.leg import Leg
from flowpbx.pbx.call.leg_states import LEG_TRANSITIONS, LegState
from tests.pbx.test_media_strict import SIGNALLING, leg


class _Runtime:
    contact = "<sip:pbx@127.0.0.1:5060>"
    media_ip = "127.0.0.1"
    user_agent = "test"


async def test_a_leg_moves_along_the_table_and_refuses_the_rest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with leg() as ep:
        call = Leg(_Runtime(), ep, (SIGNALLING, 5062))  # type: ignore[arg-type]
        assert call.state is LegState.CALLING
        assert call._to(LegState.EARLY)
        assert call._to(LegState.CONFIRMED)
        assert call._to(LegState.CONFIRMED)  # staying put is no move, and no complaint
        assert not caplog.records
        with caplog.at_level(logging.WARNING, logger="flowpbx.legs"):
            assert not call._to(LegState.EARLY)  # back to early from an answered call
        assert call.state is LegState.CONFIRMED
        assert "illegal transition" in caplog.text
        assert call._to(LegState.ENDING)
        assert not call._to(LegState.CONFIRMED)  # no way back from ending
        assert call._to(LegState.ENDED)
        assert not any(call._to(state) for state in LegState if state is not LegState.ENDED)
        assert call.state is LegState.ENDED


def test_ended_is_final_and_every_state_can_end() -> None:
    assert LEG_TRANSITIONS[LegState.ENDED] == frozenset()
    for state in LegState:
        if state is not LegState.ENDED:
            assert LegState.ENDED in LEG_TRANSITIONS[state]

"""Transfer phases as data (pbx/features/transfer_phases.py `TRANSFER_TRANSITIONS`): the table's
shape, an illegal move logged and refused, the phases a `*2` to an unknown number walks, and
a REFER with Replaces refused while the named conversation is mid-transfer."""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from flowpbx.pbx.features.transfer_phases import TRANSFER_TRANSITIONS, TransferPhase
from tests.pbx.test_transfer_refer import _Bridge, _conversation, _refer, _replaces, _Runtime

IDLE, HOLD, CONSULT = TransferPhase.IDLE, TransferPhase.HOLD, TransferPhase.CONSULT
COMPLETE, ABORT = TransferPhase.COMPLETE, TransferPhase.ABORT


def test_the_table_reaches_complete_only_through_hold_and_consult() -> None:
    assert set(TRANSFER_TRANSITIONS) == set(TransferPhase)
    assert TRANSFER_TRANSITIONS[IDLE] == {HOLD}
    assert [p for p, nxt in TRANSFER_TRANSITIONS.items() if COMPLETE in nxt] == [CONSULT]
    assert {p for p, nxt in TRANSFER_TRANSITIONS.items() if ABORT in nxt} == {HOLD, CONSULT}
    for phase in (COMPLETE, ABORT):  # every ending leads back to a conversation without one
        assert TRANSFER_TRANSITIONS[phase] == {IDLE}


async def test_an_illegal_phase_move_is_logged_and_refused(
    caplog: pytest.LogCaptureFixture,
) -> None:
    conv, _caller, _callee = _conversation(_Runtime(), "101", "102")
    with caplog.at_level(logging.WARNING, logger="flowpbx.transfer"):
        assert conv._phase_to(COMPLETE) is False
    assert conv.phase is IDLE
    assert "illegal transfer phase idle -> complete refused" in caplog.text
    assert conv._phase_to(IDLE) is True  # staying put is no move
    assert conv._phase_to(HOLD) and conv._phase_to(CONSULT) and conv._phase_to(ABORT)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="flowpbx.transfer"):
        assert conv._phase_to(CONSULT) is False  # an aborted transfer does not resume
    assert conv.phase is ABORT and "abort -> consult refused" in caplog.text


class _HoldBridge(_Bridge):
    """A bridge that also takes audio sources (hold music, ringback, prompts)."""

    def add_source(self, key: str, frames: Any, heard_by: list[str]) -> None:
        self.members.add(key)


class _Audio:
    async def pcm(self, name: str) -> np.ndarray:
        if name == "hold-music":
            return np.zeros(1600, dtype=np.int16)
        raise KeyError(name)  # no "invalid-number" prompt: nothing to play


async def test_star_two_to_an_unknown_number_walks_hold_abort_idle(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rt = _Runtime()
    rt.audio = _Audio()  # type: ignore[attr-defined]
    rt.registrar = SimpleNamespace(bindings=lambda number: [])  # type: ignore[attr-defined]
    conv, _caller, _callee = _conversation(rt, "101", "102")
    conv.bridge = bridge = _HoldBridge("caller", "callee")
    with caplog.at_level(logging.DEBUG, logger="flowpbx.transfer"):
        await conv._transfer("caller", "555")
    messages = [record.getMessage() for record in caplog.records]
    moves = [m.split(": transfer ")[1] for m in messages if ": transfer " in m]
    assert moves == ["idle -> hold", "hold -> abort", "abort -> idle"]
    assert conv.phase is IDLE
    assert conv.transfers == [
        {"by": "101", "to": "555", "result": "unknown", "kind": "attended", "method": "*2"}
    ]
    assert "hold" not in bridge.members
    assert ("caller", "callee") in bridge.hears and ("callee", "caller") in bridge.hears


async def test_replaces_naming_a_conversation_mid_transfer_is_refused() -> None:
    rt = _Runtime()
    original, _provider, agent = _conversation(rt, "+37129000001", "101")
    consult, agent_out, _target = _conversation(rt, "101", "103")
    rt.dialogs["consult"] = agent_out
    assert consult._phase_to(HOLD)  # 101 is transferring 103 elsewhere meanwhile
    assert _refer(agent, _replaces("consult")) == 603
    assert consult._phase_to(ABORT) and consult._phase_to(IDLE)
    assert _refer(agent, _replaces("consult")) == 202
    assert original._requests.get_nowait().kind == "replace"

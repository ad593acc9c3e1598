"""The phases of a transfer as data: `TransferPhase` and the one table of moves a
conversation's transfer may make (`TRANSFER_TRANSITIONS`), like sip/txn_states.py for
transactions and pbx/call/leg_states.py for legs. `TransferConversation._phase_to`
(pbx/features/transfer.py) is the only place that moves a phase; a move not in the table is a
bug, logged and refused there.

    IDLE -> HOLD      a transfer starts: the transferee hears hold audio, the target rings
    HOLD -> CONSULT   the target answered: transferer and target talk (a blind transfer
                      completes at once)
    CONSULT -> COMPLETE   the transferer left (or the REFER was blind): transferee and target
                          talk
    HOLD | CONSULT -> ABORT   unknown number, no answer, `*1`, the target or the transferee
                              hung up: the transferer gets the transferee back
    COMPLETE | ABORT -> IDLE  the conversation goes on; another transfer may start

A REFER with Replaces joins two conversations at once (no hold, no ringing) and has no phase
of its own; `_joinable` refuses it while either conversation is out of IDLE.
"""

from __future__ import annotations

import enum


class TransferPhase(enum.Enum):
    IDLE = "idle"  # no transfer running
    HOLD = "hold"  # transferee on hold, the target's phones ring
    CONSULT = "consult"  # transferer and target talk, transferee still on hold
    COMPLETE = "complete"  # transferee and target connected, the transferer gone
    ABORT = "abort"  # the transfer did not happen: transferer and transferee talk again


TRANSFER_TRANSITIONS: dict[TransferPhase, frozenset[TransferPhase]] = {
    TransferPhase.IDLE: frozenset({TransferPhase.HOLD}),
    TransferPhase.HOLD: frozenset({TransferPhase.CONSULT, TransferPhase.ABORT}),
    TransferPhase.CONSULT: frozenset({TransferPhase.COMPLETE, TransferPhase.ABORT}),
    TransferPhase.COMPLETE: frozenset({TransferPhase.IDLE}),
    TransferPhase.ABORT: frozenset({TransferPhase.IDLE}),
}


__all__ = ["TRANSFER_TRANSITIONS", "TransferPhase"]

"""The states of a call leg as data: `LegState` and the one table of moves a leg may make
(`LEG_TRANSITIONS`). `Leg._to` (pbx/call/leg.py) is the only place that moves a leg; any
move not in the table is a bug, logged and refused there.

    CALLING -> EARLY -> CONFIRMED -> ENDING -> ENDED
    (every state but ENDED may also go straight to ENDED; CALLING and EARLY to ENDING or
    CONFIRMED as well)
"""

from __future__ import annotations

import enum


class LegState(enum.Enum):
    CALLING = "calling"  # UAC: INVITE sent, nothing back yet
    EARLY = "early"  # provisional sent/received
    CONFIRMED = "confirmed"  # 2xx sent/received
    ENDING = "ending"  # BYE/CANCEL sent, waiting for the answer
    ENDED = "ended"


# The only transitions a leg may make (anything else is a bug: `Leg._to` logs and refuses it).
LEG_TRANSITIONS: dict[LegState, frozenset[LegState]] = {
    LegState.CALLING: frozenset(
        {LegState.EARLY, LegState.CONFIRMED, LegState.ENDING, LegState.ENDED}
    ),
    LegState.EARLY: frozenset({LegState.CONFIRMED, LegState.ENDING, LegState.ENDED}),
    LegState.CONFIRMED: frozenset({LegState.ENDING, LegState.ENDED}),
    LegState.ENDING: frozenset({LegState.ENDED}),
    LegState.ENDED: frozenset(),
}


__all__ = ["LEG_TRANSITIONS", "LegState"]

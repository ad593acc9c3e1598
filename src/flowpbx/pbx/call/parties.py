"""Who is who on a call: each party by where its leg came from, and its role.

A call has a caller leg (the INVITE flowpbx answered) and, once bridged, a callee leg (one
flowpbx placed). Where a leg came from decides what it is, never the number it shows: a leg
that authenticated as an extension, or one flowpbx rang for an extension, is that extension;
a trunk's leg is an outside party whatever number it presents.

The roles follow from that:

- direction: `inbound` (the caller came in through a trunk), `outbound` (an extension called a
  number through the trunk), `internal` (an extension called an extension, its mailbox, or a
  flow of one of My numbers);
- agent and client: on a call with an outside party the agent is the extension talking to it
  (the one that answered, the one that dialled out, after a transfer the one it was handed
  to) and the client is the outside party; on an internal call the caller plays the client.

The call-history row, the live-call registry (who can be spied on), spy, transfer and
history routing all read this one model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

Direction = Literal["inbound", "outbound", "internal"]
DIRECTIONS: tuple[Direction, ...] = ("inbound", "outbound", "internal")


class PartiesSource(Protocol):
    """What the model reads of a live call (pbx/call/live.py `LiveCall`)."""

    @property
    def direction(self) -> Direction: ...
    @property
    def caller(self) -> str: ...
    @property
    def caller_ext(self) -> str | None: ...
    @property
    def did(self) -> str: ...
    @property
    def dialled(self) -> str | None: ...
    @property
    def answered_by(self) -> str | None: ...
    @property
    def transferred_to(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Parties:
    """One call's parties, as history, spy, transfer and history routing see them."""

    direction: Direction
    # The extension whose leg placed the call (outbound, internal); None for a trunk's caller.
    extension: str | None
    # The number the caller presents: the outside caller's number (inbound), the company
    # number shown to the called party (outbound), the extension (internal).
    presented: str
    # The number dialled: the DID (inbound), the outside number (outbound), the extension or
    # code (internal).
    dialled: str
    # The outside party's number; None on an internal call.
    client: str | None
    # The extension that talks (or last talked) to the client; None while nobody has.
    agent: str | None


def parties_of(call: PartiesSource) -> Parties:
    """The parties of `call` now (after any transfer the call went through)."""
    direction = call.direction
    if direction == "outbound":
        dialled = call.dialled or call.did
        # The dialling extension talks to the client once it answered, until it hands the
        # client on (*2, REFER: `transferred_to`).
        talked = call.answered_by is not None
        agent = call.transferred_to or (call.caller_ext if talked else None)
        return Parties(
            direction=direction,
            extension=call.caller_ext,
            presented=call.caller,
            dialled=dialled,
            client=dialled,
            agent=agent,
        )
    agent = call.transferred_to or call.answered_by
    return Parties(
        direction=direction,
        extension=call.caller_ext,
        presented=call.caller,
        dialled=call.did,
        client=None if direction == "internal" else call.caller,
        agent=agent,
    )

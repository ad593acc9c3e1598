"""Supervisor listen / whisper / barge (SPEC §4): `4#NNN`, `5#NNN`, `6#NNN`.

A supervisor's phone dials the code; flowpbx answers it and adds its RTP endpoint to the
bridge extension NNN is talking in (found through `BridgeRegistry`), with the matrix of the
mode (media/mixer.py `apply_spy_mode`):

    4  listen   the supervisor hears agent and client; nobody hears the supervisor
    5  whisper  the supervisor hears both; only the agent hears the supervisor
    6  barge    all three hear each other

While spying, keys 4/5/6 switch mode (the digits are consumed, never relayed). Nothing is
played to the spied parties. It ends when the supervisor hangs up (the bridge falls back to
the relay fast path) or the spied call ends (the supervisor gets a BYE).

Refusals: 403 for an extension without the `supervisor` flag, 404 for an unknown extension,
480 when NNN is not in a bridged call.

A call is found under NNN only when NNN's own leg is in it: a leg flowpbx rang for NNN, or
one that authenticated as NNN (so an agent's outgoing call through the trunk is found under
the agent, the called number being the client). A provider's caller whose number shows as
NNN is not NNN (pbx/call/live.py `LiveCall.caller_ext`, pbx/call/parties.py).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from flowpbx.media.mixer import SpyMode
from flowpbx.pbx.call.host import ActiveCall, CallHost
from flowpbx.pbx.call.ringing import ring_registrations
from flowpbx.pbx.call.uac_leg import UacLeg
from flowpbx.pbx.call.uas_leg import UasLeg
from flowpbx.sip.message import Request, make_response
from flowpbx.store.records import CallRecord

if TYPE_CHECKING:
    from flowpbx.pbx.rtp.bridge import BridgeRegistry, CallBridge
    from flowpbx.sip.transaction import ServerTransaction

__all__ = ["SpyMode", "call_bridge", "join", "parse_spy_code", "run_spy", "spy_on_call"]

log = logging.getLogger("flowpbx.spy")

Addr = tuple[str, int]
_CODE = re.compile(r"^([456])(?:#|%23)(\d+)$", re.IGNORECASE)


class SpyHost(Protocol):
    """What spying needs of the call manager (pbx/call/manager.py `CallManager`): the active calls
    and who is bridged, a leg for the supervisor's INVITE, a task that outlives the request."""

    @property
    def rt(self) -> CallHost: ...
    @property
    def active(self) -> Mapping[str, ActiveCall]: ...
    @property
    def bridges(self) -> BridgeRegistry: ...
    def spawn(self, coro: Awaitable[None], on_done: Callable[[], None] | None = None) -> None: ...
    async def open_leg(
        self, txn: ServerTransaction, request: Request, addr: Addr, *, caller_ext: str | None = None
    ) -> UasLeg | None: ...


def parse_spy_code(dialled: str) -> tuple[SpyMode, str] | None:
    """`5#101` (or its escaped form `5%23101`) -> (WHISPER, "101"); None for anything else."""
    m = _CODE.match(dialled.strip())
    if m is None:
        return None
    mode = SpyMode.from_digit(m.group(1))
    assert mode is not None
    return mode, m.group(2)


async def run_spy(
    manager: SpyHost,
    txn: ServerTransaction,
    request: Request,
    addr: Addr,
    supervisor: str,
    mode: SpyMode,
    target: str,
) -> None:
    """Answer the supervisor's INVITE and spy on `target`'s call until either side ends."""
    try:
        await _spy(manager, txn, request, addr, supervisor, mode, target)
    except Exception:
        log.exception("spy call %s failed", request.call_id)


async def _spy(
    manager: SpyHost,
    txn: ServerTransaction,
    request: Request,
    addr: Addr,
    supervisor: str,
    mode: SpyMode,
    target: str,
) -> None:
    rt = manager.rt
    started = dt.datetime.now(dt.UTC)
    facts: dict[str, Any] = {"target": target, "mode": mode.name.lower()}
    ext = rt.config.extensions.get(supervisor)
    status: int | None = None
    if ext is None or not getattr(ext, "supervisor", False):
        status, why = 403, "Not a supervisor"
    elif target not in rt.config.extensions:
        status, why = 404, "No such extension"
    elif manager.bridges.find(target) is None:
        status, why = 480, "Not in a call"
    if status is not None:
        rt.sip.send_response(txn, make_response(request, status, why))
        await _history(
            manager, request.call_id, supervisor, started, None, f"spy_refused_{status}", facts
        )
        return
    leg = await manager.open_leg(txn, request, addr, caller_ext=supervisor)
    if leg is None:
        return
    entry = manager.bridges.find(target)
    if entry is None or leg.is_ended:  # the call ended while we opened the leg
        leg.reject(480, "Not in a call")
        await _history(
            manager, request.call_id, supervisor, started, None, "spy_refused_480", facts
        )
        return
    leg.answer()
    await join(manager, leg, entry, mode, supervisor=supervisor, facts=facts)
    await _history(
        manager, request.call_id, supervisor, started, dt.datetime.now(dt.UTC), "spy", facts
    )


async def join(
    manager: SpyHost,
    leg: UasLeg | UacLeg,
    entry: CallBridge,
    mode: SpyMode,
    *,
    supervisor: str,
    facts: dict[str, Any],
) -> None:
    """Put the supervisor's answered `leg` into the spied bridge until either side ends;
    keys 4/5/6 switch mode. `facts` gets the modes used and why it ended."""
    bridge = entry.bridge
    key = f"spy:{id(leg)}"
    bridge.add_endpoint(key, leg.rtp, hears_all=False, heard_by_all=False)
    modes = [mode.name.lower()]

    def set_mode(new: SpyMode) -> None:
        if bridge.closed or key not in bridge:
            return
        bridge.spy_mode(new, agent=entry.agent, client=entry.client, supervisor=key)

    def on_digit(digit: str) -> None:
        new = SpyMode.from_digit(digit)
        if new is not None:
            set_mode(new)
            modes.append(new.name.lower())

    set_mode(mode)
    leg.on_digit = on_digit
    leg.rtp.on_digit = on_digit
    log.info("supervisor %s spies on %s (%s)", supervisor, facts.get("target"), modes[0])
    try:
        await asyncio.wait([leg.ended, bridge.ended], return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not bridge.closed:
            bridge.remove(key)
        if not leg.is_ended:
            leg.hangup("spied call ended")
    facts["modes"] = modes
    facts["ended"] = leg.ended.result() if leg.ended.done() else "spied call ended"


async def spy_on_call(
    manager: SpyHost, call_id: str, supervisor: str, mode: SpyMode, *, ring_s: float = 30.0
) -> None:
    """The UI's spy buttons: ring the supervisor's phone(s); the first to answer joins the
    active call `call_id` in `mode`. Raises LookupError when the call is not bridged or the
    supervisor has no registered phone, PermissionError for a non-supervisor; the ringing
    and spying then go on in the background."""
    rt = manager.rt
    ext = rt.config.extensions.get(supervisor)
    if ext is None or not getattr(ext, "supervisor", False):
        raise PermissionError(f"extension {supervisor} may not spy")
    call = manager.active.get(call_id)
    entry = None if call is None else call_bridge(manager.bridges, call)
    if entry is None:
        raise LookupError(f"call {call_id} is not a bridged call")
    bindings = rt.registrar.bindings(supervisor)
    if not bindings:
        raise LookupError(f"extension {supervisor} has no registered phone")
    manager.spawn(_ring_and_join(manager, call_id, supervisor, mode, entry, bindings, ring_s))


def call_bridge(bridges: BridgeRegistry, call: ActiveCall) -> CallBridge | None:
    """Where the active `call` talks, with its agent and client sides by leg origin
    (pbx/call/parties.py): the call's own leg is the client when it talks to an extension
    flowpbx rang (an incoming call; an internal call: the callee is the agent); on an
    extension's outgoing call its own leg is the agent, the number it dialled the client."""
    entry = bridges.find_endpoint(call.leg.rtp)
    if entry is not None:
        return entry
    if call.caller_ext is None:
        return None
    entry = bridges.find(call.caller_ext)
    if entry is None or entry.bridge.endpoint(entry.agent) is not call.leg.rtp:
        return None
    return entry


async def _ring_and_join(
    manager: SpyHost,
    call_id: str,
    supervisor: str,
    mode: SpyMode,
    entry: CallBridge,
    bindings: list[Any],
    ring_s: float,
) -> None:
    rt = manager.rt
    started = dt.datetime.now(dt.UTC)
    target = entry.extension
    facts: dict[str, Any] = {"target": target, "mode": mode.name.lower(), "call": call_id}
    legs: list[UacLeg] = []
    try:
        await ring_registrations(
            rt,
            supervisor,
            bindings,
            legs,
            from_uri=f"sip:spy@{rt.domain}",
            from_name=f"Spy {mode.name.lower()}",
        )
        winner: UacLeg | None = None
        pending = {leg.outcome: leg for leg in legs}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ring_s
        while pending and winner is None and not entry.bridge.closed:
            waiting: list[asyncio.Future[Any]] = [*pending, entry.bridge.ended]
            done, _ = await asyncio.wait(
                waiting, timeout=max(0.0, deadline - loop.time()), return_when="FIRST_COMPLETED"
            )
            if not done:
                break
            for fut in done:
                if fut in pending:
                    leg = pending.pop(fut)
                    if 200 <= fut.result() < 300 and winner is None:
                        winner = leg
        for leg in legs:
            if leg is not winner and not leg.is_ended:
                leg.hangup("another phone answered" if winner else "not answered")
        if winner is None or entry.bridge.closed:
            if winner is not None:
                winner.hangup("spied call ended")
            await _history(manager, call_id, supervisor, started, None, "spy_no_answer", facts)
            return
        answered = dt.datetime.now(dt.UTC)
        await join(manager, winner, entry, mode, supervisor=supervisor, facts=facts)
        await _history(manager, call_id, supervisor, started, answered, "spy", facts)
    except Exception:
        log.exception("spy call on %s failed", call_id)
        for leg in legs:
            if not leg.is_ended:
                leg.hangup("error")


async def _history(
    manager: SpyHost,
    call_id: str,
    supervisor: str,
    started: dt.datetime,
    answered: dt.datetime | None,
    outcome: str,
    facts: dict[str, Any],
) -> None:
    now = dt.datetime.now(dt.UTC)
    rec = CallRecord(
        call_id=call_id,
        started_at=started,
        answered_at=answered,
        ended_at=now,
        caller=supervisor,
        did=f"{_mode_digit(facts)}#{facts['target']}",
        outcome=outcome,
        direction="internal",
        extension=supervisor,
        trace=[
            {
                "t": round((now - started).total_seconds(), 3),
                "node": None,
                "type": "spy",
                "output": outcome,
                "facts": facts,
            }
        ],
    )
    try:
        await manager.rt.history.add(rec)
    except Exception:
        log.exception("could not record the spy call %s", call_id)


def _mode_digit(facts: dict[str, Any]) -> str:
    return {"listen": "4", "whisper": "5", "barge": "6"}.get(str(facts.get("mode")), "?")

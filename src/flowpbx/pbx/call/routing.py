"""Where a new INVITE goes: a pure decision from the request, its source and the
configuration, testable without sockets (`CallManager.on_invite` carries it out).

Who may call what (SPEC §2, §7):
- from a trunk's address (recognised by the source address, never by headers): a DID of My
  numbers runs that number's published flow (`Inbound`); any other number gets 404
  (`UnknownNumber`);
- from anywhere else: only an extension that authenticates (407 challenge) may call; it may
  spy (`Spy`, 4#/5#/6# + extension), ring another extension (`Internal`), listen to its own
  mailbox (`OwnVoicemail`, *97), run the flow of one of My numbers (`Inbound`) or call out
  (`Outbound`, when it may); anything else is refused (`Reject`).

Rate limits, call caps and digest authentication keep state: they stay with the manager, which
asks this module only once it knows the trunk or the authenticated extension.
"""

from __future__ import annotations

from dataclasses import dataclass

from flowpbx.flow.dialstring import DialStringError, parse_dialstring
from flowpbx.media.mixer import SpyMode
from flowpbx.pbx.config_view import ConfigView
from flowpbx.pbx.features.spy import parse_spy_code
from flowpbx.pbx.features.trunks import inbound_numbers
from flowpbx.sip.message import Request
from flowpbx.store.records import PublishedFlow, TrunkRec


@dataclass(frozen=True, slots=True, kw_only=True)
class Inbound:
    """Run the published flow of `did`."""

    did: str
    caller: str
    caller_name: str | None
    published: PublishedFlow
    caller_ext: str | None = None  # the extension that dialled one of My numbers


@dataclass(frozen=True, slots=True, kw_only=True)
class UnknownNumber:
    """A trunk called a number that runs no flow: 404, and a (rate-limited) history row."""

    caller: str
    number: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Spy:
    """A supervisor listens (whispers, barges) on `target`'s bridged call."""

    mode: SpyMode
    target: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Internal:
    """Ring extension `target`."""

    target: str


@dataclass(frozen=True, slots=True, kw_only=True)
class OwnVoicemail:
    """*97: the caller's own mailbox."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Outbound:
    """Call `number` out through the trunk of the number `presented`."""

    number: str
    presented: str
    anonymous: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Reject:
    """Answer with `status` (and `reason`), nothing else."""

    status: int
    reason: str | None = None


Route = Inbound | UnknownNumber | Spy | Internal | OwnVoicemail | Outbound | Reject


def route_from_trunk(
    request: Request, trunk: TrunkRec, config: ConfigView
) -> Inbound | UnknownNumber:
    """A trunk's INVITE: the flow of the number it calls, or 404. The request's Request-URI,
    From and To must have parsed (the manager answers 400 otherwise)."""
    did, caller = inbound_numbers(trunk, request.ruri, request.to.uri, request.from_.uri)
    published = config.flows_by_did.get(did)
    if published is None:
        return UnknownNumber(caller=caller, number=did or request.ruri.user or "")
    return Inbound(did=did, caller=caller, caller_name=request.from_.display, published=published)


def route_from_extension(request: Request, user: str, config: ConfigView) -> Route:
    """An INVITE from extension `user` (authenticated): what it dialled, by the dial-string
    rules of SPEC §4."""
    ext = config.extensions.get(user)
    caller_name = ext.name if ext is not None else None
    target = (request.ruri.user or "").strip()
    spy = parse_spy_code(target)  # 4#NNN / 5#NNN / 6#NNN
    if spy is not None:
        return Spy(mode=spy[0], target=spy[1])
    if target in config.extensions:
        return Internal(target=target)
    numbers = config.raw.caller_id_list
    try:
        dial = parse_dialstring(
            target,
            is_extension=lambda n: n in config.extensions,
            is_did=lambda n: n in config.flows_by_did,
            caller_id_count=len(numbers),
        )
    except DialStringError as exc:
        reason = "Caller ID Not In List" if "caller-ID list" in str(exc) else None
        return Reject(status=exc.status, reason=reason)
    if dial.kind == "voicemail":
        return OwnVoicemail()
    if dial.kind == "did":
        return Inbound(
            did=dial.number,
            caller=user,
            caller_name=caller_name,
            published=config.flows_by_did[dial.number],
            caller_ext=user,
        )
    if dial.kind == "external":
        if ext is None or not ext.outbound:
            return Reject(status=403, reason="Outbound Calls Not Allowed")
        if dial.caller_id_index is not None:
            presented = numbers[dial.caller_id_index - 1]
        else:
            presented = ext.caller_id or (numbers[0] if numbers else user)
        return Outbound(number=dial.number, presented=presented, anonymous=dial.anonymous)
    return Reject(status=404)

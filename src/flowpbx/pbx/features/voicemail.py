"""Voicemail on live calls: leaving a message (SPEC §3 `voicemail`, mode `leave`).

The caller hears the greeting and a beep, then everything he says is recorded until `#`,
`silence_stop_s` of silence, `max_length_s`, or he hangs up (the usual way to finish a
message). The WAV is written atomically (temporary file, fsync, rename) under
`data_dir/voicemail/<mailbox>/`; a message shorter than `min_length_s` of voice is discarded.
A kept message becomes a mailbox row, an email with the WAV attached for each address of
`email_to` and of the mailbox (through the durable outbox), and an MWI update for the phones.

A mailbox holds at most FLOWPBX_VOICEMAIL_MAX_MESSAGES (100) messages: a caller reaching a
full one hears "mailbox full" instead of the greeting and the element takes `no_message`;
nothing is written (a message recorded while another filled the box is deleted again).

Listening: wrong PINs are counted per mailbox across calls (`PinLockout`): after
FLOWPBX_VOICEMAIL_PIN_MAX_FAILURES (5) within FLOWPBX_VOICEMAIL_PIN_WINDOW_S (900 s) the
mailbox refuses PIN entry for FLOWPBX_VOICEMAIL_PIN_LOCKOUT_S (900 s). Outside callers (trunk
legs) share one count per mailbox; each extension that authenticated has its own, so
strangers guessing cannot lock the owner's phone out of its own mailbox.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from zoneinfo import ZoneInfo

from flowpbx.pbx.call.host import CallHost
from flowpbx.pbx.features import say
from flowpbx.pbx.features.recorder import record
from flowpbx.pbx.security import PinLockout

if TYPE_CHECKING:
    from flowpbx.pbx.call.uas_leg import UasLeg

log = logging.getLogger("flowpbx.voicemail")

_SAFE = re.compile(r"[^0-9A-Za-z_.-]")


class VoicemailCall(Protocol):
    """What voicemail does with a call (pbx/call/live.py `LiveCall`)."""

    activity: tuple[str, str | None]
    voicemail_left: bool

    @property
    def rt(self) -> CallHost: ...
    @property
    def leg(self) -> UasLeg: ...
    @property
    def call_id(self) -> str: ...
    @property
    def caller(self) -> str: ...
    @property
    def caller_name(self) -> str | None: ...
    @property
    def caller_ext(self) -> str | None: ...
    @property
    def did(self) -> str: ...
    def now(self) -> dt.datetime: ...
    async def answer(self) -> None: ...
    async def play(
        self, audio: str, *, repeat: int = 1, barge_in: bool = False, early: bool = False
    ) -> None: ...
    async def play_file(self, path: Path, *, barge_in: bool = True) -> None: ...
    async def get_digit(self, timeout_s: float) -> str | None: ...
    def flush_digits(self) -> None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class VoicemailLeft:
    recorded: bool
    message_id: int | None = None
    duration_s: float = 0.0
    reason: str = ""


async def leave_message(
    call: VoicemailCall,
    *,
    mailbox: str,
    greeting: str,
    max_length_s: float,
    min_length_s: float,
    silence_stop_s: float,
    beep: bool,
    email_to: tuple[str, ...] = (),
) -> VoicemailLeft:
    rt = call.rt
    call.activity = ("voicemail", mailbox)
    await call.answer()
    if await _mailbox_full(rt, mailbox):
        await call.play("mailbox-full")
        return VoicemailLeft(recorded=False, reason="mailbox full")
    await call.play(greeting)
    if beep:
        await call.play("beep")
    call.flush_digits()
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    relative = (
        Path("voicemail")
        / _SAFE.sub("_", mailbox)
        / f"{stamp}-{_SAFE.sub('_', call.call_id)[:40]}.wav"
    )
    path = rt.settings.data_dir / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    result = await record(
        call.leg.rtp,
        path,
        max_s=max_length_s,
        silence_s=silence_stop_s,
        stop_digits="#",
        until=call.leg.ended,
        clock=rt.clock,
    )
    hung_up = call.leg.ended.done()
    if result.path is None or result.voiced_s < min_length_s:
        if result.path is not None:
            result.path.unlink(missing_ok=True)
        why = f"too short ({result.voiced_s:.1f} s of voice)"
        return VoicemailLeft(recorded=False, reason=why + (", caller hung up" if hung_up else ""))
    if await _mailbox_full(rt, mailbox):  # filled by other callers meanwhile
        result.path.unlink(missing_ok=True)
        return VoicemailLeft(recorded=False, reason="mailbox full")
    message_id = await rt.store.add_voicemail(
        mailbox=mailbox,
        file=str(relative),
        caller=call.caller,
        caller_name=call.caller_name,
        call_id=call.call_id,
        duration_s=result.duration_s,
    )
    call.voicemail_left = True
    rt.events.emit("voicemail", mailbox=mailbox, message_id=message_id, caller=call.caller)
    recipients = list(email_to)
    box = rt.config.raw.mailboxes.get(mailbox)
    if box is not None:
        recipients += [a for a in box.email if a not in recipients]
    if recipients:
        name = " ".join((call.caller_name or "").split())  # no CR/LF into the Subject
        who = f"{name} <{call.caller}>" if name else call.caller
        try:
            await rt.services.outbox.enqueue(  # stored, and the sender woken at once
                recipients,
                f"New voicemail from {who}",
                f"{who} left a {result.duration_s:.0f} s message in mailbox {mailbox} "
                f"at {dt.datetime.now(ZoneInfo(rt.timezone)):%Y-%m-%d %H:%M %Z} "
                f"(number called: {call.did}).",
                attachments=[(path.name, str(path))],
            )
        except Exception:
            log.exception("could not queue the voicemail email for mailbox %s", mailbox)
    try:
        await refresh_mwi(rt, mailbox)
    except Exception:
        log.exception("could not update MWI for mailbox %s", mailbox)
    return VoicemailLeft(
        recorded=True, message_id=message_id, duration_s=result.duration_s, reason=result.reason
    )


# -- listening (mode `listen`, and *97 for the own box) ----------------------------------------

PIN_TRIES = 3
KEY_TIMEOUT_S = 8.0


async def _mailbox_full(rt: CallHost, mailbox: str) -> bool:
    limit: int = rt.settings.voicemail_max_messages
    return len(await rt.store.list_voicemail(mailbox)) >= limit


async def _say(call: VoicemailCall, prompts: list[str]) -> None:
    """Play prompts one after another; a key the caller presses skips the rest."""
    for name in prompts:
        await call.play(name, barge_in=True)


async def _say_number(call: VoicemailCall, n: int) -> None:
    await _say(call, say.number(n))


async def _collect(call: VoicemailCall, *, end: str = "#", timeout_s: float = 6.0) -> str:
    digits = ""
    while len(digits) < 16:
        digit = await call.get_digit(timeout_s)
        if digit is None or digit in end:
            break
        digits += digit
    return digits


async def listen_messages(call: VoicemailCall, *, mailbox: str, pin: str | None) -> str:
    """The mailbox menu (SPEC §3 voicemail, listen mode): PIN, counts, then keys 1 play,
    5 repeat, 4 previous, 6 next, 7 delete, 9 save, * help, # done. Each message starts
    with its envelope, "received <day> at <time>" in the company's time zone
    (the saved `timezone` setting, else FLOWPBX_TIMEZONE). Returns how it ended."""
    rt = call.rt
    call.activity = ("voicemail", mailbox)
    tz = ZoneInfo(rt.timezone)
    await call.answer()
    call.flush_digits()
    if pin:
        lockout: PinLockout = rt.calls.pin_lockout
        who = call.caller_ext or ""
        loop_time = rt.loop.time
        for _ in range(PIN_TRIES):
            if lockout.locked(mailbox, who, loop_time()):
                await call.play("mailbox-locked")
                return "locked"
            await call.play("enter-pin", barge_in=True)
            if await _collect(call) == pin:
                lockout.success(mailbox, who)
                break
            if lockout.failure(mailbox, who, loop_time()):
                log.warning("mailbox %s: PIN entry locked after wrong PINs", mailbox)
                await call.play("mailbox-locked")
                return "locked"
            await call.play("wrong-pin")
        else:
            await call.play("goodbye")
            return "wrong_pin"
    records = await rt.store.list_voicemail(mailbox)
    new = sorted((m for m in records if not m.heard), key=lambda m: m.received_at)
    old = sorted((m for m in records if m.heard), key=lambda m: m.received_at)
    if not new and not old:
        await call.play("no-messages")
        return "empty"
    await call.play("you-have", barge_in=True)
    await _say_number(call, len(new))
    await call.play("new-messages", barge_in=True)
    if old:
        await _say_number(call, len(old))
        await call.play("old-messages", barge_in=True)
    messages = new + old
    index = 0
    changed = False
    play = True
    timeouts = 0
    try:
        while messages:
            index = max(0, min(index, len(messages) - 1))
            current = messages[index]
            if play:
                call.flush_digits()
                await _say(call, say.envelope(current.received_at, tz=tz, now=call.now()))
                await call.play_file(rt.settings.data_dir / current.file)
                if not current.heard:
                    current = messages[index] = await rt.store.mark_heard(current.id)
                    changed = True
                play = False
            key = await call.get_digit(KEY_TIMEOUT_S)
            if key is None:
                timeouts += 1
                if timeouts >= 2:
                    break
                await call.play("voicemail-help", barge_in=True)
                continue
            timeouts = 0
            if key in "15":
                play = True
            elif key == "4":
                index, play = index - 1, True
            elif key == "6":
                if index + 1 >= len(messages):
                    await call.play("no-more-messages", barge_in=True)
                else:
                    index, play = index + 1, True
            elif key == "7":
                await rt.store.delete_voicemail(current.id)
                del messages[index]
                changed = True
                await call.play("message-deleted", barge_in=True)
                play = bool(messages)
            elif key == "9":
                if not current.heard:
                    messages[index] = await rt.store.mark_heard(current.id)
                    changed = True
                await call.play("message-saved", barge_in=True)
                if index + 1 < len(messages):
                    index, play = index + 1, True
            elif key == "*":
                await call.play("voicemail-help", barge_in=True)
            elif key == "#":
                break
        if not messages:
            await call.play("no-more-messages")
        await call.play("goodbye")
        return "done"
    finally:
        if changed:
            await refresh_mwi(rt, mailbox)


async def refresh_mwi(rt: CallHost, mailbox: str) -> None:
    """Recount a mailbox and tell its owners' phones (RFC 3842 message-summary)."""
    records = await rt.store.list_voicemail(mailbox)
    new = sum(1 for m in records if not m.heard)
    rt.mailbox_counts[mailbox] = (new, len(records) - new)
    for ext in mailbox_owners(rt, mailbox):
        try:
            rt.mwi.notify(ext)
        except Exception:
            log.exception("could not send MWI to %s", ext)


def mailbox_owners(rt: CallHost, mailbox: str) -> list[str]:
    """Extensions whose mailbox this is (their `mailbox` setting, else the same number)."""
    return [
        number for number, ext in rt.config.extensions.items() if (ext.mailbox or number) == mailbox
    ]


def own_mailbox(rt: CallHost, extension: str) -> str:
    ext = rt.config.extensions.get(extension)
    return (ext.mailbox if ext is not None and ext.mailbox else None) or extension

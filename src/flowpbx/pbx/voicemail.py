"""Voicemail on live calls: leaving a message (SPEC §3 `voicemail`, mode `leave`).

The caller hears the greeting and a beep, then everything he says is recorded until `#`,
`silence_stop_s` of silence, `max_length_s`, or he hangs up (the usual way to finish a
message). The WAV is written atomically (temporary file, fsync, rename) under
`data_dir/voicemail/<mailbox>/`; a message shorter than `min_length_s` of voice is discarded.
A kept message becomes a mailbox row, an email with the WAV attached for each address of
`email_to` and of the mailbox (through the durable outbox), and an MWI update for the phones.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from flowpbx.pbx.recorder import record

if TYPE_CHECKING:
    from flowpbx.pbx.calls import LiveCall

log = logging.getLogger("flowpbx.voicemail")

_SAFE = re.compile(r"[^0-9A-Za-z_.-]")


@dataclass(frozen=True, slots=True, kw_only=True)
class VoicemailLeft:
    recorded: bool
    message_id: int | None = None
    duration_s: float = 0.0
    reason: str = ""


async def leave_message(
    call: LiveCall,
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
    await call.answer()
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
        who = f"{call.caller_name} <{call.caller}>" if call.caller_name else call.caller
        try:
            await rt.store.enqueue_email(
                recipients,
                f"New voicemail from {who}",
                f"{who} left a {result.duration_s:.0f} s message in mailbox {mailbox} "
                f"at {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC (number called: {call.did}).",
                attachments=[(path.name, path)],
            )
        except Exception:
            log.exception("could not queue the voicemail email for mailbox %s", mailbox)
    notify = getattr(rt, "notify_mailbox", None)
    if notify is not None:
        try:
            await notify(mailbox)
        except Exception:
            log.exception("could not send MWI for mailbox %s", mailbox)
    return VoicemailLeft(
        recorded=True, message_id=message_id, duration_s=result.duration_s, reason=result.reason
    )

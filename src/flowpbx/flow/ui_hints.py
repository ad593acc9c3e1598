"""How the editor shows each element setting: a human label, a help line, the order of the
fields and the picker that fills it (annotations on the flow JSON Schema, see
`flow_json_schema`). The flow model stays the only source of what a setting is; this is how
a person reads it.

Pickers: ``audio`` (the audio library), ``extension``, ``mailbox``, ``schedule``, ``queue``.
Fields of one element are shown required first, then in the order listed here.
"""

from __future__ import annotations

from typing import Any

# params model name -> field -> (label, help, picker or None), in display order
Hint = tuple[str, str, str | None]

HINTS: dict[str, dict[str, Hint]] = {
    "NumbersParams": {
        "numbers": ("My numbers", "Calls to these numbers start this flow", None),
    },
    "CallPhoneParams": {
        "number": ("Number to call", "An outside number, e.g. +37120000000", None),
        "ring_timeout_s": ("Ring for (s)", "Then the call takes the no answer output", None),
        "caller_id": ("Caller ID shown", "caller, did (number dialled) or one of My numbers", None),
        "confirm": ("Ask to accept", "The person called presses 1 to take the call", None),
    },
    "CallSipParams": {
        "extension": ("Extension", "Its registered phones ring", "extension"),
        "ring_timeout_s": ("Ring for (s)", "Then the call takes the no answer output", None),
    },
    "VoicemailParams": {
        "mode": ("Mode", "leave: the caller leaves a message; listen: the owner listens", None),
        "mailbox": ("Mailbox", "Where messages are kept", "mailbox"),
        "greeting": ("Greeting", "Played before the beep", "audio"),
        "max_length_s": ("Longest message (s)", "", None),
        "min_length_s": ("Shortest message kept (s)", "Shorter recordings are dropped", None),
        "silence_stop_s": ("Stop after silence (s)", "", None),
        "beep": ("Beep before recording", "", None),
        "email_to": ("Email each message to", "Addresses, one per line", None),
        "pin": ("PIN", "For listen: overrides the mailbox's PIN", None),
        "pin_required": ("Require a PIN", "For listen: untick only for an open mailbox", None),
    },
    "PlayParams": {
        "audio": ("Audio", "From the audio library", "audio"),
        "repeat": ("Play times", "", None),
        "answer": ("Answer the call first", "Untick to play it as early media (no charge)", None),
    },
    "MenuParams": {
        "prompt": ("Prompt", "Played while the caller chooses", "audio"),
        "timeout_s": ("Wait for a key (s)", "", None),
        "retries": ("Retries", "Times the prompt is repeated after no key or a wrong key", None),
        "invalid_prompt": ("Wrong key prompt", "Played after a key with no output", "audio"),
        "direct_dial": ("Extensions may be dialled", "The caller may dial an extension", None),
        "keys": ("Keys", "By default the keys connected to an output", None),
    },
    "TimeRoutingParams": {
        "schedule": ("Office hours", "A schedule from Office hours (or hours below)", "schedule"),
        "timezone": ("Time zone", "For the hours below", None),
        "hours": ("Opening hours", "Used when no schedule is picked", None),
        "holidays": ("Holidays", "Closed on these dates", None),
        "override": ("Force", "Always open or always closed, whatever the time", None),
    },
    "QueueParams": {
        "name": ("Queue", "A queue from the Queues page; empty: this element's own", "queue"),
        "members": ("Members", "Extensions that answer; lower penalty rings first", None),
        "strategy": ("Strategy", "Which free members ring", None),
        "member_timeout_s": ("Ring each member for (s)", "", None),
        "retry_s": ("Pause before ringing again (s)", "", None),
        "wrapup_s": ("Rest after a call (s)", "", None),
        "max_wait_s": ("Longest wait (s)", "Then the call takes the timeout output", None),
        "max_callers": ("Most callers waiting", "0: no limit", None),
        "join_empty": ("Wait with no member free", "", None),
        "hold_audio": ("Music while waiting", "", "audio"),
        "announce_position_s": ("Announce the position every (s)", "0: never", None),
        "exit_key": ("Key that leaves the queue", "", None),
    },
    "HttpNotifyParams": {
        "url": ("Address (URL)", "https://… of your system", None),
        "method": ("Method", "", None),
        "headers": ("Headers", 'As JSON, e.g. {"Authorization": "Bearer …"}', None),
        "body": ("Body", "A template; empty: the call's facts as JSON", None),
        "timeout_s": ("Wait for the answer (s)", "", None),
    },
    "CallerLookupParams": {
        "url": ("Address (URL)", "{caller} is replaced by the caller's number", None),
        "json_field": ("Name field in the reply", "JSON reply: the field with the name", None),
        "timeout_s": ("Wait for the answer (s)", "", None),
        "cache_s": ("Remember names for (s)", "", None),
    },
    "CallerIdParams": {
        "prefix": ("Add before the number", "", None),
        "suffix": ("Add after the number", "", None),
        "strip": ("Digits removed from the start", "", None),
        "name_prefix": ("Add before the name", "", None),
    },
    "EmailParams": {
        "to": ("To", "Addresses, one per line", None),
        "subject": ("Subject", "{caller}, {did}, {date}, {time} are filled in", None),
        "body": ("Text", "", None),
        "when": ("Send", "now, or when the call ends unanswered", None),
    },
    "HistoryRoutingParams": {
        "lookback_days": ("Look back (days)", "", None),
        "ring_timeout_s": ("Ring for (s)", "", None),
        "min_talk_s": ("Shortest earlier call that counts (s)", "", None),
    },
}


def annotate(schema: dict[str, Any]) -> None:
    """Add title, description, ``x-order`` and ``x-picker`` to the params of each element."""
    defs = schema.get("$defs", {})
    for model, fields in HINTS.items():
        props = defs.get(model, {}).get("properties", {})
        for order, (name, (label, help_, picker)) in enumerate(fields.items()):
            prop = props.get(name)
            if prop is None:
                raise KeyError(f"{model}.{name}: no such setting")
            prop["title"] = label
            if help_:
                prop["description"] = help_
            prop["x-order"] = order
            if picker:
                prop["x-picker"] = picker
